//! Issue 13, "commands that must tell the truth": find skips snapshots
//! without `--under`, dry runs say what they would do, and repair and prune
//! explain what they did not do.

use crate::util::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `find --under DIR` used to stop with exit 2 at the first snapshot that
/// lacks DIR; such snapshots are skipped and counted instead.
#[test]
fn find_under_skips_snapshots_without_the_directory() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("old/a.rs"), b"fn a() {}");
    env.backup(&[&src], &["--time", "2026-01-01 10:00"]);
    write(&src.join("new/b.rs"), b"fn b() {}");
    env.backup(&[&src], &["--time", "2026-01-02 10:00"]);

    let under = format!("{}/new", src.display());
    let out = env.run(&["--json", "find", "*.rs", "--under", &under]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let sum = last_json(&out);
    assert_eq!(sum["matches"], 1);
    assert_eq!(sum["snapshots"], 2);
    assert_eq!(sum["snapshots_without_under"], 1);
    let out = env.ok(&["find", "*.rs", "--under", &under]);
    assert!(stdout(&out).contains("new/b.rs"), "{}", stdout(&out));
    assert!(stderr(&out).contains("1 of the snapshots have no"));

    // In none of them: a usage error naming the flag.
    let out = env.run(&["find", "*.rs", "--under", "/no/such/dir"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--under /no/such/dir"),
        "{}",
        stderr(&out)
    );
}

/// `restore --dry-run` used to print "restored snapshot …: N files (0 B)":
/// it says what it would restore, overwrite and keep, and changes nothing.
#[test]
fn restore_dry_run_says_what_it_would_do() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a"), &random_bytes(1, 3000));
    write(&src.join("b"), &random_bytes(2, 5000));
    write(&src.join("c"), &random_bytes(3, 2000));
    env.backup(&[&src], &[]);
    let target = env.path("t");
    let t = target.to_string_lossy().into_owned();

    let out = env.ok(&["restore", "latest", "--target", &t, "--dry-run"]);
    let text = stdout(&out);
    assert!(
        text.contains("would restore 3 files, 9.8 KiB, 0 to overwrite, 0 kept"),
        "{text}"
    );
    assert!(!target.exists(), "a dry run wrote the target");

    env.ok(&["restore", "latest", "--target", &t]);
    let a = restored(&target, &src).join("a");
    write(&a, b"changed");
    let out = env.run(&["restore", "latest", "--target", &t, "--dry-run"]);
    assert_eq!(out.status.code(), Some(3), "a kept file is reported");
    assert!(
        stdout(&out).contains("would restore 0 files, 0 B, 0 to overwrite, 1 kept"),
        "{}",
        stdout(&out)
    );
    let args = [
        "restore",
        "latest",
        "--target",
        &t,
        "--dry-run",
        "--overwrite",
        "if-changed",
    ];
    let sum = env.json(&args);
    assert_eq!(sum["dry_run"], true);
    assert_eq!(sum["files_restored"], 1);
    assert_eq!(sum["files_overwritten"], 1);
    assert_eq!(sum["bytes_written"], 3000);
    assert_eq!(sum["files_kept"], 0);
    assert_eq!(sum["files_unchanged"], 2);
    assert_eq!(
        std::fs::read(&a).unwrap(),
        b"changed",
        "a dry run wrote a file"
    );
    // The real run does what the dry run said.
    let sum = env.json(&[
        "restore",
        "latest",
        "--target",
        &t,
        "--overwrite",
        "if-changed",
    ]);
    assert_eq!(sum["files_restored"], 1);
    assert_eq!(sum["files_overwritten"], 1);
}

/// `repair snapshots --dry-run` without `--read-data` used to say "no
/// snapshot is damaged" right after `check --read-data` found one.
#[test]
fn repair_without_read_data_reports_what_the_last_data_check_found() {
    // LOCAL-ONLY: flips a byte in a pack file.
    let env = Env::new_local();
    let src = env.path("src");
    write(&src.join("big.bin"), &random_bytes(7, 1_500_000));
    let snap = env.backup(&[&src], &[]);
    let id = snap["snapshot_id"].as_str().unwrap()[..8].to_string();
    let pack = files_under(&env.repo.join("packs"))
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut b = std::fs::read(&pack).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0x40;
    std::fs::write(&pack, b).unwrap();

    // Before any data check there is nothing to go on but the structure.
    let out = env.ok(&["repair", "snapshots", "--dry-run"]);
    assert!(
        stdout(&out).contains("pack data was not read"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("no snapshot is damaged"));

    assert_eq!(env.run(&["check", "--read-data"]).status.code(), Some(4));
    let out = env.ok(&["repair", "snapshots", "--dry-run"]);
    let text = stdout(&out);
    assert!(
        text.contains("the last `check --read-data` found damage"),
        "{text}"
    );
    assert!(text.contains(&id), "{text}");
    assert!(text.contains("--read-data"), "{text}");
    let r = env.json(&["repair", "snapshots", "--dry-run"]);
    let unseen = r["damaged_by_last_check"].as_array().unwrap();
    assert_eq!(unseen.len(), 1, "{r}");
    assert!(unseen[0].as_str().unwrap().starts_with(&id));
    // Once repaired, it is no longer reported as waiting for a repair.
    let copy = env.path("copy");
    copy_dir(&env.repo, &copy);
    env.ok(&["repair", "snapshots", "--read-data"]);
    let r = env.json(&["repair", "snapshots", "--dry-run"]);
    assert_eq!(
        r["damaged_by_last_check"].as_array().unwrap().len(),
        0,
        "{r}"
    );
    // The record belongs to this location: a copy with the same id and
    // cache does not inherit it (the copy is of the unrepaired state).
    let out = env
        .cmd(&["--json", "repair", "snapshots", "--dry-run"])
        .env("CAIRN_REPOSITORY", &copy)
        .output()
        .unwrap();
    assert_eq!(
        last_json(&out)["damaged_by_last_check"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for f in files_under(from) {
        let dest = to.join(f.strip_prefix(from).unwrap());
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&f, &dest).unwrap();
    }
}

/// `prune --dry-run` used to report "2 deletes" with nothing to delete (the
/// maintenance lock's own objects), and a prune within the grace period
/// freed nothing without saying why or when it would.
#[test]
fn prune_says_what_its_deletes_are_and_when_space_is_freed() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("keep"), &random_bytes(1, 50_000));
    env.backup(&[&src], &[]);
    let out = env.ok(&["prune", "--dry-run"]);
    let text = stdout(&out);
    assert!(
        text.contains("0 packs, 0 superseded index files, 2 of the maintenance lock"),
        "{text}"
    );
    assert!(text.contains("requests a real run would make"), "{text}");
    assert!(!text.contains("not freed yet"), "{text}");

    write(&src.join("gone"), &random_bytes(2, 3_000_000));
    env.backup(&[&src], &[]);
    std::fs::remove_file(src.join("gone")).unwrap();
    env.backup(&[&src], &[]);
    env.ok(&["forget", "--keep-last", "1"]);
    let out = env.ok(&["prune"]);
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.contains("not freed yet"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("condemned; freed by a prune after"), "{line}");
    assert!(line.contains("(grace 24h"), "{line}");
    let sum = env.json(&["prune", "--dry-run"]);
    assert_eq!(sum["grace_secs"], 86_400);
    assert!(sum["bytes_waiting"].as_u64().unwrap() > 2_000_000, "{sum}");
    let after = sum["next_free_after_unix"].as_i64().unwrap();
    assert!(
        sum["next_free_after"].as_str().unwrap().contains('T'),
        "{sum}"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(after > now + 86_000 && after <= now + 86_400, "{sum}");
}
