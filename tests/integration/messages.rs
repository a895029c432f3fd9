//! Error messages name the file and what it was for, and say what to do.

use std::process::Output;

use crate::util::*;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_missing_exclude_file_is_called_an_exclude_file() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a"), b"a");
    let out = env.run(&[
        "backup",
        "--exclude-file",
        "/nonexistent/excludes",
        src.to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("exclude file /nonexistent/excludes"), "{err}");
}

#[test]
fn restore_onto_a_file_says_the_target_is_not_a_directory() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a"), b"a");
    env.backup(&[&src], &[]);
    let file = env.path("a-file");
    write(&file, b"in the way");
    let out = env.run(&["restore", "latest", "--target", file.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("not a directory"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"in the way");
}

#[test]
fn no_repository_suggests_init() {
    let env = Env::uninit();
    let out = env.run(&["snapshots"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(10), "{err}");
    assert!(err.contains("cairn init"), "{err}");
}

#[test]
fn as_of_with_a_snapshot_id_says_it_selects_from_latest() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a"), b"a");
    let id = env.backup(&[&src], &[])["snapshot_id"]
        .as_str()
        .unwrap()
        .to_string();
    let target = env.path("t");
    let out = env.run(&[
        "restore",
        &id[..8],
        "--as-of",
        "2020-01-01 00:00",
        "--target",
        target.to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--as-of selects from `latest`"), "{err}");
}
