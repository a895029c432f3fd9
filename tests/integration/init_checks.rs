//! `cairn init`: options checked before anything is created, nothing left
//! behind by a failure, no repository in a directory of unrelated files,
//! the default KDF, and the lost-password warning.

use std::process::Output;

use crate::util::*;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a usage error mentioning `needle`, with no repository directory
/// left behind.
fn refused(env: &Env, args: &[&str], needle: &str) {
    let out = env.run(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: {err}");
    assert!(!env.repo.exists(), "{args:?} left {}", env.repo.display());
}

#[test]
fn bad_options_are_refused_before_anything_is_created() {
    let env = Env::uninit_local(); // LOCAL-ONLY: looks at the directory
    refused(&env, &["init", "--compression", "100"], "-131072..=22");
    refused(&env, &["init", "--compression", "-200000"], "-131072..=22");
    refused(&env, &["init", "--kdf-memory-mib", "1"], "--insecure-kdf");
    let weak = ["init", "--kdf-memory-mib", "19", "--kdf-iterations", "1"];
    refused(&env, &weak, "--insecure-kdf");
    refused(
        &env,
        &["init", "--kdf-memory-mib", "999999"],
        "out of range",
    );
    // No password source is a failure too: nothing may be left.
    let out = env
        .cmd(&["init"])
        .env_remove("CAIRN_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!env.repo.exists());
    // At the floor it is accepted, and so is a fast zstd level.
    env.ok(&[
        "init",
        "--kdf-memory-mib",
        "19",
        "--kdf-iterations",
        "2",
        "--compression",
        "-3",
    ]);
    let key = env.json(&["cat", "key"]);
    assert_eq!(key["kdf"]["memory_kib"], 19 * 1024);
}

#[test]
fn a_directory_of_unrelated_files_is_refused() {
    let env = Env::uninit_local(); // LOCAL-ONLY: writes into the directory
    write(&env.repo.join("holiday.jpg"), b"not a repository");
    let out = env.run(&["init", "--kdf-memory-mib", "1", "--insecure-kdf"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("not empty"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&env.repo).unwrap().flatten().collect();
    assert_eq!(left.len(), 1, "init wrote into it: {left:?}");
    // An empty directory is fine, and a second init says it exists.
    std::fs::remove_file(env.repo.join("holiday.jpg")).unwrap();
    env.ok(&["init", "--kdf-memory-mib", "1", "--insecure-kdf"]);
    let out = env.run(&["init", "--kdf-memory-mib", "1", "--insecure-kdf"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
}

#[test]
fn init_uses_the_default_kdf_and_warns_about_a_lost_password() {
    let env = Env::uninit();
    let out = env.ok(&["init"]);
    let err = stderr(&out);
    assert!(err.contains("WARNING") && err.contains("lost"), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("WARNING"));
    let key = env.json(&["cat", "key"]);
    assert_eq!(key["kdf"]["memory_kib"], 64 * 1024, "{key}");
    assert_eq!(key["kdf"]["iterations"], 3, "{key}");
    assert_eq!(key["kdf"]["parallelism"], 4, "{key}");
}
