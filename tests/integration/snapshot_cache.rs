//! Snapshot files are read from the repository once per machine: later
//! commands use the local copy, which hashes to its name, and `check` still
//! judges what is stored.

use serde_json::Value;

use crate::util::*;

/// The `storage_stats` line of a `--json --stats` run.
fn gets(env: &Env, args: &[&str]) -> u64 {
    let mut all = vec!["--json", "--stats"];
    all.extend_from_slice(args);
    let out = env.ok(&all);
    let stats = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["message_type"] == "storage_stats")
        .expect("a storage_stats line");
    stats["gets"].as_u64().unwrap()
}

/// The directory of the local snapshot copies in the cache.
fn local_copies(env: &Env) -> std::path::PathBuf {
    let dirs: Vec<_> = files_under(&env.cache)
        .into_iter()
        .filter_map(|f| f.parent().map(|p| p.to_path_buf()))
        .filter(|d| d.file_name().is_some_and(|n| n == "snapshots"))
        .collect();
    dirs.first()
        .cloned()
        .expect("a snapshots directory in the cache")
}

/// A repository with three snapshots and its local cache warmed.
fn three_snapshots() -> Env {
    let env = Env::new();
    let src = env.path("src");
    for i in 0..3u64 {
        write(&src.join(format!("f{i}")), &random_bytes(i, 1000));
        env.backup(&[src.as_path()], &[]);
    }
    env.ok(&["snapshots"]);
    env
}

#[test]
fn a_second_listing_reads_no_snapshot_file() {
    let env = three_snapshots();
    let warm = gets(&env, &["snapshots"]);
    // Without the local copies the same listing reads each snapshot file.
    let copies = local_copies(&env);
    assert_eq!(files_under(&copies).len(), 3);
    std::fs::remove_dir_all(&copies).unwrap();
    let cold = gets(&env, &["snapshots"]);
    assert_eq!(cold, warm + 3, "cold {cold} GETs, warm {warm}");
    let again = gets(&env, &["snapshots"]);
    assert_eq!(again, warm, "the cold listing kept its copies");
    // `latest` is chosen from the copies too.
    let out = env.ok(&["ls", "latest"]);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("f2"), "{listing}");
}

#[test]
fn check_judges_the_stored_snapshot_not_the_local_copy() {
    let env = three_snapshots();
    let storage = env.storage();
    let (key, _) = env.objects("snapshots/").pop().unwrap();
    let mut bytes = storage.get(&key).unwrap();
    bytes[40] ^= 1;
    storage.put(&key, bytes.into()).unwrap();
    // Everyday commands still work from the sound local copy...
    env.ok(&["snapshots"]);
    // ...but check reports the damage in the repository (exit 4).
    let out = env.run(&["check"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
