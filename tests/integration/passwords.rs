//! Password sources: each works alone, and two at once are refused with
//! exit 2, naming the sources but never a password.

use std::process::{Command, Output};

use crate::util::*;

/// `cairn snapshots` with no password source but the ones `set` adds.
fn snapshots(env: &Env, set: impl FnOnce(&mut Command)) -> Output {
    let mut c = env.cmd(&["snapshots"]);
    c.env_remove("CAIRN_PASSWORD");
    set(&mut c);
    c.output().expect("run cairn")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn each_source_alone_opens_the_repository() {
    let env = Env::new();
    let file = env.path("pw");
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
    let file = file.to_str().unwrap().to_string();
    let print = format!("printf '%s\\n' '{PASSWORD}'");
    // (name, global flags, environment)
    type Case<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        ("CAIRN_PASSWORD", vec![], vec![("CAIRN_PASSWORD", PASSWORD)]),
        (
            "CAIRN_PASSWORD_FILE",
            vec![],
            vec![("CAIRN_PASSWORD_FILE", &file)],
        ),
        (
            "CAIRN_PASSWORD_COMMAND",
            vec![],
            vec![("CAIRN_PASSWORD_COMMAND", &print)],
        ),
        ("--password-file", vec!["--password-file", &file], vec![]),
        (
            "--password-command",
            vec!["--password-command", &print],
            vec![],
        ),
    ];
    for (name, args, vars) in cases {
        let out = snapshots(&env, |c| {
            c.args(&args).envs(vars);
        });
        assert!(out.status.success(), "{name}: {}", stderr(&out));
    }
    let out = snapshots(&env, |_| {});
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--password-file"), "{}", stderr(&out));
}

#[test]
fn two_sources_at_once_are_refused_naming_both() {
    let env = Env::new();
    let file = env.path("pw");
    std::fs::write(&file, "a password from a file\n").unwrap();
    let file = file.to_str().unwrap();
    // (global flags, environment, the names the error must give)
    type Pair<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], [&'a str; 2]);
    let pairs: [Pair; 4] = [
        (
            &[],
            &[("CAIRN_PASSWORD_FILE", file), ("CAIRN_PASSWORD", PASSWORD)],
            ["CAIRN_PASSWORD_FILE", "CAIRN_PASSWORD"],
        ),
        (
            &["--password-file", file],
            &[("CAIRN_PASSWORD", PASSWORD)],
            ["--password-file", "CAIRN_PASSWORD"],
        ),
        (
            &["--password-command", "echo secret-from-a-command"],
            &[("CAIRN_PASSWORD_COMMAND", "echo another-secret")],
            ["--password-command", "CAIRN_PASSWORD_COMMAND"],
        ),
        (
            &[
                "--password-file",
                file,
                "--password-command",
                "echo secret-x",
            ],
            &[],
            ["--password-file", "--password-command"],
        ),
    ];
    for (args, vars, names) in pairs {
        let out = snapshots(&env, |c| {
            c.args(args);
            for (k, v) in vars {
                c.env(k, v);
            }
        });
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{names:?}: {err}");
        for n in names {
            assert!(err.contains(n), "{n} not named: {err}");
        }
        for secret in [PASSWORD, "a password from a file", "secret"] {
            assert!(!err.contains(secret), "a password leaked: {err}");
        }
    }
}

#[test]
fn a_missing_password_file_says_it_is_the_password_file() {
    let env = Env::new();
    let out = snapshots(&env, |c| {
        c.env("CAIRN_PASSWORD_FILE", "/nonexistent/cairn-pw");
    });
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("password file"), "{err}");
    assert!(err.contains("/nonexistent/cairn-pw"), "{err}");
    let out = snapshots(&env, |c| {
        c.args(["--password-file", "/nonexistent/cairn-pw"]);
    });
    assert!(stderr(&out).contains("password file"), "{}", stderr(&out));
}

#[test]
fn a_wrong_password_from_a_file_or_a_failing_command() {
    let env = Env::new();
    let file = env.path("pw");
    std::fs::write(&file, "not the password\n").unwrap();
    let out = snapshots(&env, |c| {
        c.args(["--password-file", file.to_str().unwrap()]);
    });
    assert_eq!(out.status.code(), Some(12), "{}", stderr(&out));
    let out = snapshots(&env, |c| {
        c.args(["--password-command", "echo hunter2; exit 3"]);
    });
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--password-command") && !err.contains("hunter2"),
        "{err}"
    );
}
