//! A maintenance lock whose holder on this host was killed is taken over
//! without `--force`; the lock of a live holder is not.
//!
//! The holder is a real process: this test binary run again with
//! `CAIRN_TEST_HOLD_LOCK` set, acquiring the lock through the library and
//! then waiting to be killed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use crate::util::*;

const HOLD_ENV: &str = "CAIRN_TEST_HOLD_LOCK";

/// Not a test of its own: the body of the holder process.
#[test]
#[ignore = "run by lock tests as a lock-holding child process"]
fn hold_lock_until_killed() {
    let Ok(location) = std::env::var(HOLD_ENV) else {
        return;
    };
    let storage = cairn::storage::open_location(&location, false).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let open = cairn::repo::OpenOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        ..Default::default()
    };
    let repo =
        cairn::repo::Repository::open(Arc::clone(&storage), PASSWORD.as_bytes(), open).unwrap();
    let _guard = cairn::repo::lock::acquire(&repo, "prune", Default::default()).unwrap();
    println!("holding");
    loop {
        std::thread::park();
    }
}

/// Starts a holder of `env`'s lock and waits until it holds it.
fn holder(env: &Env) -> Child {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "stale_lock::hold_lock_until_killed",
            "--ignored",
            "--nocapture",
        ])
        .env(HOLD_ENV, &env.location)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.unwrap().contains("holding")),
        "the holder never took the lock"
    );
    child
}

#[test]
fn a_killed_holders_lock_is_taken_over_and_a_live_ones_is_not() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a"), b"some data");
    env.backup(&[&src], &[]);

    let mut live = holder(&env);
    let out = env.run(&["prune"]);
    assert_eq!(
        out.status.code(),
        Some(11),
        "a live holder's lock was taken"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("held by prune"), "{stderr}");

    live.kill().unwrap(); // SIGKILL: no release
    live.wait().unwrap();
    let out = env.ok(&["prune"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("took over the maintenance lock") && stderr.contains("process is gone"),
        "{stderr}"
    );
    // The takeover released the lock properly: the next prune is quiet.
    let again = env.ok(&["prune"]);
    assert!(!String::from_utf8_lossy(&again.stderr).contains("took over"));
}

/// Import stores snapshots that deduplicate against the index without a
/// backup's marker: it holds the maintenance lock, so it cannot run beside
/// a prune (which could delete a pack it relies on between its dedup and
/// its snapshot).
#[test]
fn import_waits_for_no_prune_it_takes_the_maintenance_lock() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a"), b"some data");
    env.backup(&[&src], &[]);
    let bundle = env.path("b.cairn");
    let b = bundle.to_str().unwrap();
    let with_pw = |mut c: Command| {
        c.env("CAIRN_BUNDLE_PASSWORD", "bundle secret");
        c
    };
    let export = with_pw(env.cmd(&["export", "--to", b, "latest"]))
        .output()
        .unwrap();
    assert!(export.status.success(), "{export:?}");
    let mut live = holder(&env);
    let out = with_pw(env.cmd(&["import", b])).output().unwrap();
    live.kill().unwrap();
    live.wait().unwrap();
    assert_eq!(out.status.code(), Some(11), "{out:?}");
    let out = with_pw(env.cmd(&["import", b])).output().unwrap();
    assert!(out.status.success(), "{out:?}");
}
