//! Issue 14, two-phase in-place restore under `kill -9` and stop signals:
//! the process is held at a step by the hidden `CAIRN_TEST_INPLACE_PAUSE`
//! (it creates the file `CAIRN_TEST_INPLACE_PAUSE_FILE` there and waits),
//! then killed or signalled. Every destination must be entirely the old
//! file or entirely the new one, and rerunning the same command must
//! finish the job without a second safety snapshot.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::inplace::{assert_no_staging, scene, Scene};
use crate::util::*;

/// `restore latest --in-place` held at `step`.
fn paused(s: &Scene, step: &str) -> Child {
    let flag = s.env.path("paused");
    let mut child = s
        .env
        .cmd(&["restore", "latest", "--in-place"])
        .env("CAIRN_TEST_INPLACE_PAUSE", step)
        .env("CAIRN_TEST_INPLACE_PAUSE_FILE", &flag)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn restore");
    let start = Instant::now();
    while !flag.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "never reached {step}"
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the restore ended ({status}) before {step}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

/// The rerun: `restore latest --in-place` (which must not pick the
/// `pre-restore` snapshot the first run took) finishes the job.
fn rerun(s: &Scene) -> serde_json::Value {
    let r = s.env.json(&["restore", "latest", "--in-place"]);
    assert_eq!(r["snapshot_id"], s.snapshot.as_str(), "{r}");
    s.assert_new();
    r
}

/// The one safety snapshot holds the old files.
fn assert_one_safety_snapshot(s: &Scene) {
    let ids = s.pre_restore_snapshots();
    assert_eq!(ids.len(), 1, "safety snapshots: {ids:?}");
    let t = s.env.path("undo");
    s.env
        .ok(&["restore", &ids[0], "--target", t.to_str().unwrap()]);
    for (p, data) in s.old.iter().filter(|(p, _)| s.new.contains_key(*p)) {
        let got = std::fs::read(restored(&t, p)).unwrap();
        assert!(
            &got == data,
            "{}: the safety snapshot is not the old file",
            p.display()
        );
    }
}

fn kill_9_at(step: &str) -> (Scene, serde_json::Value) {
    let s = scene(Env::new());
    let mut child = paused(&s, step);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    s.assert_old_or_new();
    let r = rerun(&s);
    assert_one_safety_snapshot(&s);
    (s, r)
}

#[test]
fn kill_9_after_staging_then_rerun_finishes() {
    let (s, r) = kill_9_at("staged");
    assert_eq!(r["resumed"], "staged", "{r}");
    assert_eq!(r["files_swapped"], 4);
    drop(s);
}

#[test]
fn kill_9_after_the_safety_snapshot_then_rerun_reuses_it() {
    let (_s, r) = kill_9_at("snapshot");
    assert_eq!(r["resumed"], "protected", "{r}");
}

#[test]
fn kill_9_in_the_middle_of_the_swap_then_rerun_finishes() {
    let s = scene(Env::new());
    let mut child = paused(&s, "swap:2");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(s.assert_old_or_new(), 2, "two files were put in place");
    let r = rerun(&s);
    assert_eq!(r["resumed"], "swapping", "{r}");
    assert_eq!(r["files_swapped"], 4, "{r}");
    assert_one_safety_snapshot(&s);
}

fn sigterm(child: &mut Child) -> Option<i32> {
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    child.wait().unwrap().code()
}

#[test]
fn sigterm_before_the_swap_stops_cleanly_with_nothing_live_changed() {
    let s = scene(Env::new());
    let mut child = paused(&s, "snapshot");
    assert_eq!(sigterm(&mut child), Some(143));
    s.assert_old();
    assert_no_staging(&s.live);
}

#[test]
fn sigterm_during_the_swap_stops_after_a_rename_and_a_rerun_finishes() {
    let s = scene(Env::new());
    let mut child = paused(&s, "swap:1");
    assert_eq!(sigterm(&mut child), Some(143));
    assert_eq!(s.assert_old_or_new(), 1, "stopped after the first rename");
    assert!(staging_exists(&s.live), "the rest is still staged");
    let r = rerun(&s);
    assert_eq!(r["resumed"], "swapping", "{r}");
    assert_one_safety_snapshot(&s);
}

fn staging_exists(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|e| {
        e.file_name()
            .to_string_lossy()
            .starts_with(".cairn-restore-")
    })
}

#[test]
fn a_rerun_whose_before_hook_fails_keeps_the_half_done_swap_for_the_next() {
    let s = scene(Env::new());
    let mut child = paused(&s, "swap:2");
    child.kill().unwrap();
    child.wait().unwrap();
    let out = s
        .env
        .run(&["restore", "latest", "--in-place", "--hook-before", "exit 1"]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(s.assert_old_or_new(), 2, "the failed hook replaced nothing");
    assert!(staging_exists(&s.live), "the rest must stay staged");
    let r = rerun(&s);
    assert_eq!(r["resumed"], "swapping", "{r}");
    assert_one_safety_snapshot(&s);
}

#[test]
fn another_restore_warns_about_an_interrupted_ones_staging() {
    let s = scene(Env::new());
    let mut child = paused(&s, "staged");
    child.kill().unwrap();
    child.wait().unwrap();
    let sub = format!("{}:{}", s.snapshot, s.live.join("sub").display());
    let out = s.env.ok(&["restore", &sub, "--in-place", "--dry-run"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("left by another, interrupted in-place restore"),
        "{err}"
    );
    rerun(&s);
}

#[test]
fn a_swap_stopped_by_sigterm_still_runs_the_after_hook_with_failed() {
    let s = scene(Env::new());
    let flag = s.env.path("paused");
    let seen = s.env.path("seen");
    let after = format!("echo $CAIRN_RESULT > {}", seen.display());
    let mut child = s
        .env
        .cmd(&["restore", "latest", "--in-place", "--hook-after", &after])
        .env("CAIRN_TEST_INPLACE_PAUSE", "swap:1")
        .env("CAIRN_TEST_INPLACE_PAUSE_FILE", &flag)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !flag.exists() {
        assert!(start.elapsed() < Duration::from_secs(120), "never paused");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(sigterm(&mut child), Some(143));
    assert_eq!(
        std::fs::read(&seen).unwrap(),
        b"failed\n",
        "the service is started again"
    );
    rerun(&s);
}
