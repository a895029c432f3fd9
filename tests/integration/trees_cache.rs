//! The local tree cache end to end: a second `find`, `ls` or `diff` reads
//! no tree from the repository, and a damaged or unusable cache changes no
//! answer. Runs on the backend under test (S3 with CAIRN_TEST_BACKEND=s3).

use std::path::Path;

use serde_json::Value;

use crate::util::*;

/// The `storage_stats` line `--stats --json` prints.
fn storage_stats(out: &std::process::Output) -> Value {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["message_type"] == "storage_stats")
        .expect("a storage_stats line")
}

/// Read requests and stdout of `args` run with the cache in `cache`.
fn run(env: &Env, cache: &Path, args: &[&str]) -> (u64, String) {
    let mut all = vec!["--json", "--stats", "--cache-dir", cache.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = env.ok(&all);
    let reads = storage_stats(&out)["read_requests"].as_u64().unwrap();
    (reads, String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Two snapshots of 200 directories.
fn two_snapshots(env: &Env) -> String {
    let src = env.path("src");
    for i in 0..20 {
        for j in 0..10 {
            write(&src.join(format!("d{i}/e{j}/f.txt")), b"x");
        }
    }
    env.backup(&[&src], &[]);
    let first = env.json(&["snapshots"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    write(&src.join("d3/e4/g.txt"), b"new");
    env.backup(&[&src], &[]);
    first
}

#[test]
fn trees_a_second_find_ls_and_diff_read_no_tree_from_the_repository() {
    let env = Env::new();
    let first = two_snapshots(&env);
    // The requests each needs besides trees, beyond `snapshots`: none
    // (snapshot files are kept locally too, so diff's first snapshot,
    // named by id, costs no read either).
    let commands: [(&[&str], u64); 3] = [
        (&["find", "f.txt"], 0),
        (&["ls", "latest"], 0),
        (&["diff", &first, "latest"], 0),
    ];
    for (i, (args, extra)) in commands.into_iter().enumerate() {
        let cache = env.path(&format!("cache-{i}"));
        // What opening and reading the snapshot list costs, without any
        // tree, once the index cache is filled.
        run(&env, &cache, &["snapshots"]);
        let (base, _) = run(&env, &cache, &["snapshots"]);
        let (cold, out1) = run(&env, &cache, args);
        let (warm, out2) = run(&env, &cache, args);
        let base = base + extra;
        assert!(
            cold > base,
            "{args:?}: the first run reads trees ({cold} vs {base})"
        );
        assert_eq!(warm, base, "{args:?}: the second run reads no tree");
        assert_eq!(out1, out2, "{args:?}: same answer");
    }
}

#[test]
fn trees_a_damaged_or_unusable_cache_changes_no_answer() {
    let env = Env::new();
    two_snapshots(&env);
    let cache = env.path("c");
    let (_, want) = run(&env, &cache, &["find", "*.txt"]);
    let blocks: Vec<_> = files_under(&cache)
        .into_iter()
        .filter(|p| p.parent().unwrap().ends_with("trees"))
        .collect();
    assert!(!blocks.is_empty(), "tree blocks are cached");
    for b in &blocks {
        let mut bytes = std::fs::read(b).unwrap();
        let last = bytes.len() - 1;
        bytes[last / 2] ^= 1;
        bytes[last] ^= 1;
        std::fs::write(b, bytes).unwrap();
    }
    let (reads, got) = run(&env, &cache, &["find", "*.txt"]);
    assert_eq!(got, want, "a flipped byte changes nothing");
    let (again, _) = run(&env, &cache, &["find", "*.txt"]);
    assert!(again < reads, "the damaged blocks were replaced");

    // A cache where no tree directory can be made: the same answer.
    for b in &blocks {
        let trees = b.parent().unwrap();
        let _ = std::fs::remove_dir_all(trees);
        std::fs::write(trees, b"not a directory").unwrap();
    }
    let (_, got) = run(&env, &cache, &["find", "*.txt"]);
    assert_eq!(got, want);
}

#[test]
fn trees_cached_listings_need_no_pack_at_all() {
    // LOCAL-ONLY: the packs are moved away between the runs.
    let env = Env::new_local();
    let first = two_snapshots(&env);
    let cache = env.path("c");
    let commands: [&[&str]; 3] = [
        &["find", "f.txt"],
        &["ls", "latest"],
        &["diff", &first, "latest"],
    ];
    let want: Vec<String> = commands.iter().map(|a| run(&env, &cache, a).1).collect();
    std::fs::rename(env.repo.join("packs"), env.path("packs-away")).unwrap();
    for (args, want) in commands.iter().zip(want) {
        assert_eq!(run(&env, &cache, args).1, want, "{args:?}");
    }
    // Without the cache the packs are needed: the test can fail.
    let out = env.run(&[
        "find",
        "f.txt",
        "--cache-dir",
        env.path("other").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
}

#[test]
fn trees_processes_sharing_one_cache_fill_it_without_harm() {
    let env = Env::new();
    two_snapshots(&env);
    let cache = env.path("shared");
    let (_, want) = run(&env, &env.path("alone"), &["find", "*.txt"]);
    let args = [
        "--json",
        "--cache-dir",
        cache.to_str().unwrap(),
        "find",
        "*.txt",
    ];
    let children: Vec<_> = (0..4)
        .map(|_| {
            env.cmd(&args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), want);
    }
    // What they left is whole: the next run reads no tree and agrees.
    run(&env, &cache, &["snapshots"]);
    let (base, _) = run(&env, &cache, &["snapshots"]);
    let (reads, got) = run(&env, &cache, &["find", "*.txt"]);
    assert_eq!((reads, got), (base, want));
}

#[test]
fn trees_a_backup_stored_need_no_read_afterwards() {
    let env = Env::new();
    two_snapshots(&env);
    // The backups ran with the default cache: the tree packs they stored
    // are in it already, so a find or ls of them reads no tree.
    // (The first listing keeps the second snapshot's file: not a tree.)
    run(&env, &env.cache, &["snapshots"]);
    let (base, _) = run(&env, &env.cache, &["snapshots"]);
    for args in [&["find", "f.txt"][..], &["ls", "latest"]] {
        let (reads, _) = run(&env, &env.cache, args);
        assert_eq!(reads, base, "{args:?} read trees");
    }
}
