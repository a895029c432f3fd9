//! `cairn copy`: snapshots move into another repository (its own keys, so
//! ids are recomputed) and restore byte-exact from there; a rerun copies
//! nothing; a dry run stores nothing; a copy killed at any moment leaves a
//! target that checks clean and that a rerun completes.

use std::process::Command;
use std::time::Duration;

use crate::util::*;

/// `cairn copy ARGS --to TARGET` from `src`, the target's password given.
fn copy(src: &Env, dst: &Env, args: &[&str]) -> Command {
    let mut all = vec!["--json", "copy", "--to", &dst.location];
    all.extend_from_slice(args);
    let mut c = src.cmd(&all);
    c.env("CAIRN_TO_PASSWORD", PASSWORD);
    c
}

fn summary(mut c: Command) -> serde_json::Value {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    last_json(&out)
}

fn two_snapshots(env: &Env) -> std::path::PathBuf {
    let src = env.path("src");
    make_rich_tree(&src);
    env.backup(&[&src], &["--tag", "first"]);
    write(&src.join("added.bin"), &random_bytes(7, 3 << 20));
    env.backup(&[&src], &["--tag", "second"]);
    src
}

#[test]
fn copied_snapshots_restore_byte_exact_and_a_rerun_copies_nothing() {
    let (a, b) = (Env::new(), Env::new());
    let src = two_snapshots(&a);
    let s = summary(copy(&a, &b, &[]));
    assert_eq!(s["snapshots_copied"], 2);
    assert_eq!(s["ids_rewritten"], true);
    assert!(s["data_blobs_copied"].as_u64().unwrap() > 0);
    let listed = b.json(&["snapshots"]);
    let tags: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["tags"][0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(tags, ["first", "second"]);
    let target = b.path("restored");
    b.ok(&["restore", "latest", "--target", target.to_str().unwrap()]);
    assert_same_tree(&src, &restored(&target, &src));
    b.ok(&["check", "--read-data"]);
    // Again: everything is there already.
    let again = summary(copy(&a, &b, &[]));
    assert_eq!(again["snapshots_copied"], 0);
    assert_eq!(again["snapshots_present"], 2);
    assert_eq!(again["data_blobs_copied"], 0);
    assert_eq!(again["write"]["bytes_stored"], 0);
}

#[test]
fn a_dry_run_counts_and_stores_nothing() {
    let (a, b) = (Env::new(), Env::new());
    two_snapshots(&a);
    let packs = b.pack_count();
    let dry = summary(copy(&a, &b, &["--dry-run", "--tag", "first"]));
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["snapshots_copied"], 1);
    assert!(dry["bytes_copied"].as_u64().unwrap() > 0);
    assert_eq!(b.json(&["snapshots"]).as_array().unwrap().len(), 0);
    assert_eq!(b.pack_count(), packs);
}

#[test]
fn a_copy_killed_at_any_moment_is_finished_by_a_rerun() {
    let (a, b) = (Env::new(), Env::new());
    let src = a.path("src");
    for i in 0..6 {
        write(&src.join(format!("f{i}.bin")), &random_bytes(i, 4 << 20));
    }
    a.backup(&[&src], &[]);
    for delay_ms in [30u64, 80, 160, 320] {
        let mut child = copy(&a, &b, &[]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // A lock left by the killed copy is not a damage; check the rest.
        b.ok(&["unlock", "--force"]);
        b.ok(&["check"]);
        let n = b.json(&["snapshots"]).as_array().unwrap().len();
        assert!(n <= 1, "{n} snapshots after a kill at {delay_ms} ms");
    }
    summary(copy(&a, &b, &[]));
    let target = b.path("restored");
    b.ok(&["restore", "latest", "--target", target.to_str().unwrap()]);
    assert_same_tree(&src, &restored(&target, &src));
    assert_eq!(b.json(&["snapshots"]).as_array().unwrap().len(), 1);
}

#[test]
fn a_missing_target_password_or_the_same_repository_is_refused() {
    let (a, b) = (Env::new(), Env::new());
    let out = a
        .cmd(&["copy", "--to", &b.location])
        .env_remove("CAIRN_TO_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("password for the target"));
    let same = copy(&a, &a, &[]).output().unwrap();
    assert_eq!(same.status.code(), Some(2));
}
