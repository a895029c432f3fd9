//! `init --copy-chunking-from`: a repository that cuts and names data as
//! another does, so `cairn copy` between them keeps every blob id and the
//! target's own backups of the same files deduplicate against the copy
//! without reading it; between unrelated repositories copy says so
//! beforehand and re-cuts every file with the target's chunker.
//! And a dry run's PUT count bounds what the copy then stores.

use std::process::Command;

use crate::util::*;

fn copy(src: &Env, dst: &Env, args: &[&str]) -> Command {
    let mut all = vec!["--json", "copy", "--to", &dst.location];
    all.extend_from_slice(args);
    let mut c = src.cmd(&all);
    c.env("CAIRN_TO_PASSWORD", PASSWORD);
    c
}

fn run(mut c: Command) -> (serde_json::Value, String) {
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (last_json(&out), stderr)
}

/// A tree and a second file of 3 MiB random bytes (several chunks).
fn source(env: &Env) -> std::path::PathBuf {
    let src = env.path("src");
    make_rich_tree(&src);
    write(&src.join("big.bin"), &random_bytes(11, 3 << 20));
    src
}

#[test]
fn a_repository_sharing_chunking_gets_every_id_and_dedups_with_its_own_backups() {
    let a = Env::new();
    let src = source(&a);
    a.backup(&[&src], &["--tag", "from-a"]);

    let b = Env::uninit();
    let mut init = b.cmd(&init_args(&["--copy-chunking-from", &a.location]));
    init.env("CAIRN_FROM_PASSWORD", PASSWORD);
    let out = init.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(b.json(&["cat", "config"])["version"], 3);
    // b's own backup of the same files, then the copy: no data to store,
    // since every chunk already has its id (only the trees of ancestor
    // directories whose times moved between the two backups differ).
    b.backup(&[&src], &["--tag", "from-b"]);
    let stored = b.pack_count();
    let (s, stderr) = run(copy(&a, &b, &[]));
    assert_eq!(s["ids_rewritten"], false);
    assert_eq!(s["snapshots_copied"], 1);
    assert_eq!(s["data_blobs_copied"], 0, "{s}");
    assert!(s["tree_blobs_copied"].as_u64().unwrap() <= 2, "{s}");
    assert!(s["blobs_known"].as_u64().unwrap() > 10, "{s}");
    assert!(s["target_puts"]["packs"].as_u64().unwrap() <= 1, "{s}");
    assert_eq!(s["target_puts"]["snapshots"], 1);
    assert!(!stderr.contains("does not share"), "{stderr}");
    assert_eq!(s["source_bytes_read"], 0, "{s}");
    assert!(b.pack_count() <= stored + 1);
    let target = b.path("restored");
    b.ok(&[
        "restore",
        "latest",
        "--tag",
        "from-a",
        "--target",
        target.to_str().unwrap(),
    ]);
    assert_same_tree(&src, &restored(&target, &src));
    b.ok(&["check", "--read-data"]);

    // An unrelated repository: said before the copy; every file is read and
    // cut again with the target's chunker, so what the target's own backup
    // of the same files stored is not stored again.
    let c = Env::new();
    c.backup(&[&src], &[]);
    let (s, stderr) = run(copy(&a, &c, &[]));
    assert_eq!(s["ids_rewritten"], true);
    assert!(
        stderr.contains("does not share this repository's chunking"),
        "{stderr}"
    );
    assert!(s["source_bytes_read"].as_u64().unwrap() >= 3 << 20, "{s}");
    assert_eq!(s["data_blobs_copied"], 0, "{s}");
    let target = c.path("restored");
    c.ok(&["restore", "latest", "--target", target.to_str().unwrap()]);
    c.ok(&["check", "--read-data"]);
}

#[test]
fn chunking_source_errors_leave_nothing_behind() {
    let a = Env::new();
    let b = Env::uninit_local();
    // Wrong password for the source: refused before anything is created.
    let mut init = b.cmd(&init_args(&["--copy-chunking-from", &a.location]));
    init.env("CAIRN_FROM_PASSWORD", "not the password");
    let out = init.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(12),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!b.repo.exists());
    // No password at all: a usage error naming the ways to give one.
    let out = b
        .cmd(&init_args(&["--copy-chunking-from", &a.location]))
        .env_remove("CAIRN_FROM_PASSWORD")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("CAIRN_FROM_PASSWORD"), "{stderr}");
    assert!(!b.repo.exists());
}

#[test]
fn a_dry_run_bounds_the_puts_the_copy_makes() {
    let a = Env::new();
    let src = source(&a);
    a.backup(&[&src], &[]);
    write(&src.join("more.bin"), &random_bytes(12, 2 << 20));
    a.backup(&[&src], &[]);
    let b = Env::new();
    let (dry, _) = run(copy(&a, &b, &["--dry-run"]));
    let (done, _) = run(copy(&a, &b, &[]));
    for k in ["packs", "index_files", "snapshots", "total"] {
        let (d, r) = (
            dry["target_puts"][k].as_u64().unwrap(),
            done["target_puts"][k].as_u64().unwrap(),
        );
        assert!(r <= d, "{k}: dry run {d}, copy {r}");
    }
    assert_eq!(done["target_puts"]["snapshots"], 2);
    assert!(
        done["target_puts"]["packs"].as_u64().unwrap() >= 2,
        "{done}"
    );
    assert_eq!(done["target_puts"]["packs"], done["write"]["packs_added"]);
}
