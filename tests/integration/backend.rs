//! Backend-facing behaviour of the CLI on the backend under test: `repo
//! ping`, `--stats` request counting, ranged reads for partial restores,
//! concurrent backups, and (S3 only) credentials that never leak.

use std::path::Path;

use serde_json::Value;

use crate::util::*;

/// The `storage_stats` line `--stats --json` prints.
fn storage_stats(out: &std::process::Output) -> Value {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["message_type"] == "storage_stats")
        .unwrap_or_else(|| {
            panic!(
                "no storage_stats line: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

#[test]
fn repo_ping_checks_the_storage_with_and_without_a_repository() {
    let env = Env::uninit();
    let out = env.run(&["--json", "repo", "ping"]);
    let v = last_json(&out);
    if env.is_s3() {
        // The bucket exists, the prefix holds no repository.
        assert_eq!(out.status.code(), Some(10), "{v}");
        assert_eq!(v["ok"], true, "{v}");
        assert_eq!(v["repository_found"], false);
    } else {
        assert_eq!(out.status.code(), Some(10), "{v}");
    }
    env.ok(&init_args(&[]));
    let v = env.json(&["repo", "ping"]);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["repository_found"], true);
    let steps: Vec<_> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].clone())
        .collect();
    assert_eq!(steps, ["list", "write", "read", "delete"]);
    // The probe object is gone again.
    assert!(env.objects("cairn-probe-").is_empty());
    let out = env.ok(&["repo", "ping"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("storage works"));
}

#[test]
fn stats_count_requests_by_class_and_bytes() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a.bin"), &random_bytes(1, 3_000_000));
    let out = env.ok(&["--json", "--stats", "backup", src.to_str().unwrap()]);
    let s = storage_stats(&out);
    assert!(s["puts"].as_u64().unwrap() >= 3, "{s}"); // pack(s), index, snapshot
    assert!(s["bytes_up"].as_u64().unwrap() >= 3_000_000, "{s}");
    assert_eq!(
        s["write_list_requests"].as_u64().unwrap(),
        s["puts"].as_u64().unwrap() + s["lists"].as_u64().unwrap()
    );
    if env.is_s3() {
        // On S3 the HTTP requests really sent are counted too.
        let wire = &s["wire"];
        let at_least = |k: &str, n: &str| wire[k].as_u64().unwrap() >= s[n].as_u64().unwrap();
        assert!(at_least("class_a", "write_list_requests"), "{s}");
        assert!(at_least("class_b", "read_requests"), "{s}");
    } else {
        assert!(s.get("wire").is_none(), "{s}");
    }
    let out = env.ok(&["--stats", "snapshots"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("storage:") && text.contains("class A"),
        "{text}"
    );
    // Without --stats nothing extra is printed.
    let out = env.ok(&["--json", "snapshots"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("storage_stats"));
}

#[test]
fn restoring_one_small_file_downloads_under_one_percent() {
    let env = Env::new();
    let src = env.path("src");
    for i in 0..8u64 {
        write(&src.join(format!("big{i}.bin")), &random_bytes(i, 8 << 20));
    }
    write(
        &src.join("small/wanted.txt"),
        b"the one file we want back\n",
    );
    for i in 0..50u64 {
        write(
            &src.join(format!("small/other{i}.txt")),
            &text_bytes(i, 2_000),
        );
    }
    env.backup(&[&src], &[]);
    let repo_bytes: u64 = env.objects("").iter().map(|(_, size)| size).sum();
    let target = env.path("target");
    let wanted = format!("latest:{}", src.join("small").display());
    let out = env.ok(&[
        "--json",
        "--stats",
        "restore",
        &wanted,
        "--target",
        target.to_str().unwrap(),
        "--include",
        "wanted.txt",
    ]);
    let s = storage_stats(&out);
    let down = s["bytes_down"].as_u64().unwrap();
    assert!(
        down * 100 < repo_bytes,
        "restoring one small file downloaded {down} of {repo_bytes} bytes"
    );
    let got = files_under(&target);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        std::fs::read(&got[0]).unwrap(),
        b"the one file we want back\n"
    );
    // `dump` of the same file is as frugal.
    let out = env.ok(&[
        "--json",
        "--stats",
        "dump",
        &format!("latest:{}", src.join("small/wanted.txt").display()),
    ]);
    let down = storage_stats(&out)["bytes_down"].as_u64().unwrap();
    assert!(
        down * 100 < repo_bytes,
        "dump downloaded {down} of {repo_bytes}"
    );
}

#[test]
fn two_backups_at_once_into_one_repository() {
    let env = Env::new();
    let (a, b) = (env.path("a"), env.path("b"));
    make_rich_tree(&a);
    for i in 0..30u64 {
        write(
            &b.join(format!("f{i}.bin")),
            &random_bytes(100 + i, 300_000),
        );
    }
    set_times(&b, 1_600_000_000);
    let start = |p: &Path| {
        env.cmd(&["--json", "backup", p.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (pa, pb) = (start(&a), start(&b));
    let (oa, ob) = (
        pa.wait_with_output().unwrap(),
        pb.wait_with_output().unwrap(),
    );
    for o in [&oa, &ob] {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    for (src, out) in [(&a, &oa), (&b, &ob)] {
        let id = last_json(out)["snapshot_id"].as_str().unwrap().to_string();
        let target = env.path(&format!("restore-{}", &id[..8]));
        env.ok(&[
            "restore",
            &id,
            "--target",
            target.to_str().unwrap(),
            "--verify",
        ]);
        assert_same_tree(src, &restored(&target, src));
    }
    let out = env.run(&["check", "--read-data"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn wrong_s3_credentials_fail_fast_without_printing_the_secret() {
    let env = Env::new();
    if !env.is_s3() {
        eprintln!("SKIPPED: S3-only test (CAIRN_TEST_BACKEND is not s3)");
        return;
    }
    let secret = "not-the-secret-but-never-print-it-9931";
    for args in [
        &["-vv", "snapshots"][..],
        &["--json", "repo", "ping"],
        &["-vv", "init"],
    ] {
        let out = env
            .cmd(args)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("CAIRN_LOG", "trace")
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(1), "{args:?}: {all}");
        assert!(
            all.contains("credentials"),
            "{args:?} does not say why: {all}"
        );
        assert!(!all.contains(secret), "{args:?} printed the secret");
        let real = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap();
        assert!(!all.contains(&real), "{args:?} printed the real secret");
    }
}
