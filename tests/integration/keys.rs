//! `cairn key`: several passwords open one repository; the last key and
//! the key in use are kept; a password change and two clients removing
//! keys at once, or a change killed at any moment, never leave a
//! repository that no password opens.

use std::process::{Command, Output};
use std::time::Duration;

use crate::util::*;

const CHEAP_KDF: [&str; 5] = [
    "--kdf-memory-mib",
    "1",
    "--kdf-iterations",
    "1",
    "--insecure-kdf",
];

/// `cairn ARGS` opened with `password`.
fn with(env: &Env, password: &str, args: &[&str]) -> Command {
    let mut c = env.cmd(args);
    c.env("CAIRN_PASSWORD", password);
    c
}

fn run(mut c: Command) -> Output {
    c.output().expect("run cairn")
}

/// `key add` (or `passwd`) of `new`, opened with `password`.
fn new_key(env: &Env, password: &str, verb: &str, new: &str) -> Output {
    let mut args = vec!["key", verb];
    args.extend(CHEAP_KDF);
    let mut c = with(env, password, &args);
    c.env("CAIRN_NEW_PASSWORD", new);
    run(c)
}

fn keys(env: &Env, password: &str) -> Vec<serde_json::Value> {
    let out = run(with(env, password, &["--json", "key", "list"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn opens(env: &Env, password: &str) -> bool {
    run(with(env, password, &["snapshots"])).status.success()
}

fn id_of(keys: &[serde_json::Value], in_use: bool) -> String {
    keys.iter()
        .find(|k| k["in_use"] == in_use)
        .map(|k| k["id"].as_str().unwrap().to_string())
        .unwrap()
}

#[test]
fn an_added_password_opens_the_repository_and_lists_its_key() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a.txt"), &text_bytes(1, 5000));
    write(&src.join("d/b.bin"), &random_bytes(2, 300_000));
    env.backup(&[&src], &[]);
    let out = new_key(&env, PASSWORD, "add", "second password");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = keys(&env, "second password");
    assert_eq!(listed.len(), 2);
    let new = listed.iter().find(|k| k["in_use"] == true).unwrap();
    assert_eq!(new["kind"], "full");
    assert_eq!(new["kdf"]["memory_kib"], 1024);
    assert!(new["host"].as_str().is_some_and(|h| !h.is_empty()));
    // Both passwords read the same snapshot; a third does not (exit 12).
    let a = run(with(&env, PASSWORD, &["ls", "latest"]));
    let b = run(with(&env, "second password", &["ls", "latest"]));
    assert!(a.status.success() && a.stdout == b.stdout);
    let wrong = run(with(&env, "third", &["snapshots"]));
    assert_eq!(wrong.status.code(), Some(12));
    // The new password never shows in the output.
    assert!(!String::from_utf8_lossy(&out.stdout).contains("second password"));
}

#[test]
fn the_last_key_and_the_key_in_use_stay_unless_forced() {
    let env = Env::new();
    let only = id_of(&keys(&env, PASSWORD), true);
    let out = run(with(&env, PASSWORD, &["key", "remove", &only, "--force"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only key"));
    assert!(new_key(&env, PASSWORD, "add", "second").status.success());
    let out = run(with(&env, PASSWORD, &["key", "remove", &only[..8]]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert!(opens(&env, PASSWORD));
    // Opened with the second key, the first is an ordinary key.
    let out = run(with(&env, "second", &["key", "remove", &only[..8]]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!opens(&env, PASSWORD));
    assert!(opens(&env, "second"));
}

#[test]
fn passwd_replaces_the_key_in_use() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a.txt"), &text_bytes(1, 5000));
    write(&src.join("d/b.bin"), &random_bytes(2, 300_000));
    env.backup(&[&src], &[]);
    let out = new_key(&env, PASSWORD, "passwd", "renewed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        run(with(&env, PASSWORD, &["snapshots"])).status.code(),
        Some(12)
    );
    assert_eq!(keys(&env, "renewed").len(), 1);
    let out = run(with(&env, "renewed", &["check", "--read-data"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn two_clients_removing_each_others_key_leave_one() {
    for round in 0..4 {
        let env = Env::new();
        assert!(new_key(&env, PASSWORD, "add", "second").status.success());
        let listed = keys(&env, PASSWORD);
        let (mine, theirs) = (id_of(&listed, true), id_of(&listed, false));
        // Each client removes the key the other opened with, at once.
        let a = with(&env, PASSWORD, &["key", "remove", &theirs])
            .spawn()
            .unwrap();
        let b = with(&env, "second", &["key", "remove", &mine])
            .spawn()
            .unwrap();
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let left = [opens(&env, PASSWORD), opens(&env, "second")];
        assert!(
            left.iter().any(|o| *o),
            "round {round}: {:?} {:?}, opening: {left:?}",
            a.status.code(),
            b.status.code()
        );
    }
}

#[test]
fn a_password_change_killed_at_any_moment_leaves_a_working_key() {
    let env = Env::new();
    for (i, delay_ms) in [0u64, 5, 10, 20, 40, 80, 160].into_iter().enumerate() {
        let old = if i == 0 {
            PASSWORD.to_string()
        } else {
            current(&env, i)
        };
        let mut args = vec!["key", "passwd"];
        args.extend(CHEAP_KDF);
        let mut c = with(&env, &old, &args);
        c.env("CAIRN_NEW_PASSWORD", format!("password {}", i + 1));
        let mut child = c.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let opened = [old.clone(), format!("password {}", i + 1)]
            .iter()
            .filter(|p| opens(&env, p))
            .count();
        assert!(
            opened >= 1,
            "no password opens after a kill at {delay_ms} ms"
        );
    }
}

/// The password that opens `env` after round `i - 1` (the new one if the
/// change got through, else the old).
fn current(env: &Env, i: usize) -> String {
    let new = format!("password {i}");
    if opens(env, &new) {
        return new;
    }
    (1..i)
        .rev()
        .map(|k| format!("password {k}"))
        .chain([PASSWORD.to_string()])
        .find(|p| opens(env, p))
        .expect("some password opens")
}
