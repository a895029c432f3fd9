//! Issue 13, item 1: `prune --grace 0` while a backup runs, in two real
//! processes on the backend under test. The backup is held mid-way by
//! feeding `backup --stdin` from a pipe the test controls: it has stored
//! packs and not yet its index or snapshot. The prune must keep those packs
//! and say why; the backup's snapshot must pass `check --read-data`. A
//! backup killed with `kill -9` leaves its marker: prune keeps its packs
//! until the marker expires (prune's clock moved by a hidden variable),
//! then cleans up.

use std::io::Write;
use std::process::{Child, ChildStdin, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

/// Marker TTL plus prune's clock margin, and a minute more.
const PAST_EXPIRY: &str = "1860";

/// A repository with 1 MiB packs and one small snapshot.
fn repo_with_one_snapshot() -> Env {
    let env = Env::uninit();
    env.init_small_packs();
    let src = env.path("first");
    write(&src.join("keep.bin"), &random_bytes(1, 200_000));
    env.backup(&[&src], &[]);
    env
}

/// The first part of the stream: more than the chunker's look-ahead (twice
/// the largest chunk), so the backup stores packs before it has it all.
const HEAD: usize = 12 << 20;

/// A `backup --stdin` that has read its first 12 MiB, stored at least one
/// pack more than before, and waits for the rest of its input.
fn paused_backup(env: &Env) -> (Child, ChildStdin) {
    let packs_before = env.pack_count();
    let mut child = env
        .cmd(&["--json", "backup", "--stdin", "--stdin-filename", "big.bin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn backup");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(&random_bytes(7, HEAD))
        .expect("feed the backup");
    let start = Instant::now();
    while env.pack_count() <= packs_before {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the backup never stored a pack"
        );
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("the backup ended ({status}) before the prune");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (child, stdin)
}

/// Prune with a zero grace period; its JSON report.
fn prune_now(env: &Env, clock_offset: Option<&str>) -> serde_json::Value {
    let mut cmd = env.cmd(&["--json", "prune", "--grace", "0"]);
    if let Some(offset) = clock_offset {
        cmd.env("CAIRN_TEST_PRUNE_CLOCK_OFFSET", offset);
    }
    let out = cmd.output().expect("run prune");
    assert!(out.status.success(), "prune failed: {out:?}");
    last_json(&out)
}

#[test]
fn prune_with_no_grace_during_a_backup_keeps_its_packs_and_says_why() {
    let env = repo_with_one_snapshot();
    let (child, mut stdin) = paused_backup(&env);
    let packs_mid = env.objects("packs/");
    // In a second process, twice: in words, then as JSON.
    let out = env.ok(&["prune", "--grace", "0"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let report = prune_now(&env, None);
    // The backup may still be storing packs: none may be missing.
    let after = env.objects("packs/");
    for p in &packs_mid {
        assert!(after.contains(p), "prune deleted {p:?}");
    }
    // The rest of the stream; the backup ends and stores its snapshot.
    let tail = random_bytes(8, 1 << 20);
    stdin.write_all(&tail).expect("feed the backup");
    drop(stdin);
    let out = child.wait_with_output().expect("wait for backup");
    assert!(out.status.success(), "backup failed: {out:?}");
    env.ok(&["check", "--read-data"]);
    let restored = env.path("r");
    env.ok(&["restore", "latest", "--target", restored.to_str().unwrap()]);
    let mut expect = random_bytes(7, HEAD);
    expect.extend_from_slice(&tail);
    assert!(std::fs::read(restored.join("big.bin")).unwrap() == expect);
    // Prune said why it kept them.
    assert!(
        text.contains("packs kept because a backup is running on"),
        "{text}"
    );
    assert!(
        report["packs_kept_for_backups"].as_u64().unwrap() >= 1,
        "{report}"
    );
    let reason = report["kept_for_backups_reason"].as_str().unwrap();
    assert!(reason.contains(" since "), "{reason}");
    let running = &report["running_backups"][0];
    assert_eq!(running["host"], cairn::time::hostname().as_str());
    assert!(
        running["started"].is_string() && running["pid"].is_u64(),
        "{report}"
    );
    // The backup removed its marker; a prune now restores the packs its
    // snapshot uses (condemned while it ran) and deletes none of them.
    assert_eq!(env.objects("running/"), vec![]);
    let after = prune_now(&env, None);
    assert!(after["running_backups"].as_array().unwrap().is_empty());
    env.ok(&["check", "--read-data"]);
}

#[test]
fn a_killed_backup_protects_its_packs_until_its_marker_expires() {
    let env = repo_with_one_snapshot();
    let packs_before = env.objects("packs/");
    let (mut child, stdin) = paused_backup(&env);
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    drop(stdin);
    let packs_mid = env.objects("packs/");
    assert_eq!(env.objects("running/").len(), 1, "the marker stays");
    let report = prune_now(&env, None);
    // On S3 an upload whose body was sent before the kill may still land.
    let after = env.objects("packs/");
    for p in &packs_mid {
        assert!(after.contains(p), "prune deleted {p:?}");
    }
    assert!(
        report["packs_kept_for_backups"].as_u64().unwrap() >= 1,
        "{report}"
    );
    // Past the marker's expiry (prune's clock moved on, not slept): the
    // killed backup's packs and its marker go; the snapshot stays whole.
    let late = prune_now(&env, Some(PAST_EXPIRY));
    assert_eq!(late["markers_expired"], 1, "{late}");
    assert_eq!(late["packs_kept_for_backups"], 0, "{late}");
    assert_eq!(env.objects("running/"), vec![]);
    assert_eq!(env.objects("packs/"), packs_before);
    env.ok(&["check", "--read-data"]);
    env.restore_verified(&env.path("r"));
}
