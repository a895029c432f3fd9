//! `cairn forget` and `cairn policy` end to end: the README's example
//! history, backed up with `--time`, forgotten by flags and by a stored
//! policy; kept snapshots still restore byte for byte.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::*;

/// The README's history (UTC+01:00), newest first, and what
/// `--keep-daily 3 --keep-weekly 2 --keep-monthly 2` keeps.
const HISTORY: [(&str, &str); 9] = [
    (
        "2026-11-22T18:00:00+01:00",
        "daily #1, weekly #1, monthly #1",
    ),
    ("2026-11-22T09:00:00+01:00", ""),
    ("2026-11-21T23:30:00+01:00", "daily #2"),
    ("2026-11-20T12:00:00+01:00", "daily #3"),
    ("2026-11-16T08:00:00+01:00", ""),
    ("2026-11-15T22:00:00+01:00", "weekly #2"),
    ("2026-11-01T00:30:00+01:00", ""),
    ("2026-10-31T20:00:00+01:00", "monthly #2"),
    ("2026-10-02T12:00:00+01:00", ""),
];

/// Backs up `src` once per history entry (oldest first), with different
/// content each time; returns snapshot id → (time, content written).
fn make_history(env: &Env, src: &Path, extra: &[&str]) -> BTreeMap<String, (String, Vec<u8>)> {
    let mut made = BTreeMap::new();
    for (i, (time, _)) in HISTORY.iter().enumerate().rev() {
        let content = text_bytes(i as u64, 3000 + i * 101);
        write(&src.join("file.txt"), &content);
        let mut args = vec!["--time", time];
        args.extend_from_slice(extra);
        let summary = env.backup(&[src], &args);
        let id = summary["snapshot_id"].as_str().unwrap().to_string();
        made.insert(id, (time.to_string(), content));
    }
    made
}

fn snapshot_ids(env: &Env) -> Vec<String> {
    let list = env.json(&["snapshots"]);
    let mut ids: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Snapshot id → reasons joined, from forget's JSON.
fn verdicts(v: &Value) -> BTreeMap<String, (bool, String)> {
    v["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let reasons: Vec<&str> = s["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            (
                s["id"].as_str().unwrap().to_string(),
                (s["keep"].as_bool().unwrap(), reasons.join(", ")),
            )
        })
        .collect()
}

fn expected(made: &BTreeMap<String, (String, Vec<u8>)>) -> BTreeMap<String, (bool, String)> {
    made.iter()
        .map(|(id, (time, _))| {
            let why = HISTORY.iter().find(|(t, _)| t == time).unwrap().1;
            (id.clone(), (!why.is_empty(), why.to_string()))
        })
        .collect()
}

fn snapshot_files(env: &Env) -> Vec<PathBuf> {
    let mut v = files_under(&env.repo.join("snapshots"));
    v.sort();
    v
}

#[test]
fn policy_keeps_the_right_snapshots_and_they_restore() {
    let env = Env::new();
    let src = env.path("src");
    let made = make_history(&env, &src, &[]);
    let want = expected(&made);
    let packs = files_under(&env.repo.join("packs"));

    // A dry run reports every verdict with its reasons and changes nothing.
    let before = snapshot_files(&env);
    let rules = [
        "--keep-daily",
        "3",
        "--keep-weekly",
        "2",
        "--keep-monthly",
        "2",
    ];
    let mut args = vec!["forget", "--dry-run"];
    args.extend(rules);
    let dry = env.json(&args);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["to_remove"], 4);
    assert_eq!(dry["removed"], 0);
    assert_eq!(verdicts(&dry), want);
    assert_eq!(snapshot_files(&env), before);
    let text = env.ok(&args);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("daily #1, weekly #1, monthly #1"), "{text}");
    assert!(text.contains("2026-11-01 00:30:00 +01:00"), "{text}");
    assert!(text.contains("would keep 5, remove 4"), "{text}");

    let mut args = vec!["forget"];
    args.extend(rules);
    let done = env.json(&args);
    assert_eq!(done["removed"], 4);
    assert_eq!(verdicts(&done), want);
    let kept: Vec<String> = want
        .iter()
        .filter(|(_, (k, _))| *k)
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(snapshot_ids(&env), kept);
    // Forget never touches data.
    assert_eq!(files_under(&env.repo.join("packs")), packs);

    for id in &kept {
        let target = env.path(&format!("restore-{id}"));
        env.ok(&["restore", id, "--target", target.to_str().unwrap()]);
        let got = std::fs::read(restored(&target, &src).join("file.txt")).unwrap();
        assert_eq!(got, made[id].1, "snapshot {id} restores its own content");
    }
    env.ok(&["check", "--read-data"]);

    // Running again removes nothing more.
    let again = env.json(&args);
    assert_eq!(
        (again["kept"].as_u64(), again["removed"].as_u64()),
        (Some(5), Some(0))
    );
}

#[test]
fn stored_policy_round_trip_and_bare_forget() {
    let env = Env::new();
    let src = env.path("src");

    // Without rules and without a stored policy: a usage error, nothing removed.
    make_history(&env, &src, &[]);
    let before = snapshot_files(&env);
    let out = env.run(&["forget"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(env.json(&["policy", "show"])["policy"], Value::Null);
    assert_eq!(snapshot_files(&env), before);

    // set / show round trip, in the short form.
    env.ok(&[
        "policy",
        "set",
        "--retention",
        "3d,2w,2m",
        "--keep-tag",
        "gold",
    ]);
    let shown = env.json(&["policy", "show"]);
    assert_eq!(
        shown["rules"],
        serde_json::json!(["daily 3", "weekly 2", "monthly 2", "tag gold"])
    );
    assert_eq!(shown["policy"]["daily"], 3);
    let text = env.ok(&["policy", "show"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("daily 3, weekly 2"));

    // A rule on the command line replaces the stored policy for this run.
    let one = env.json(&["forget", "--dry-run", "--keep-last", "1"]);
    assert_eq!(one["policy_source"], "command_line");
    assert_eq!(one["kept"], 1);

    // Bare forget applies the stored policy.
    let done = env.json(&["forget"]);
    assert_eq!(done["policy_source"], "repository");
    assert_eq!(done["removed"], 4);
    assert_eq!(snapshot_ids(&env).len(), 5);

    // A new set replaces; clear removes; bare forget is a usage error again.
    env.ok(&["policy", "set", "--keep-last", "2"]);
    assert_eq!(
        env.json(&["policy", "show"])["rules"],
        serde_json::json!(["last 2"])
    );
    env.ok(&["policy", "clear"]);
    env.ok(&["policy", "clear"]);
    assert_eq!(env.json(&["policy", "show"])["policy"], Value::Null);
    assert_eq!(env.run(&["forget"]).status.code(), Some(2));
    assert_eq!(snapshot_ids(&env).len(), 5);

    // Setting an empty or bad policy is refused.
    assert_eq!(env.run(&["policy", "set"]).status.code(), Some(2));
    for bad in [
        &["policy", "set", "--retention", "7d,7d"][..],
        &["policy", "set", "--keep-within", "7x"],
        &["policy", "set", "--keep-daily", "0"],
        &["policy", "set", "--retention", "7d", "--keep-daily", "3"],
        &["forget", "--keep-last", "1", "--group-by", "hosts"],
    ] {
        assert_eq!(env.run(bad).status.code(), Some(2), "{bad:?}");
    }
}

#[test]
fn groups_filters_and_min() {
    let env = Env::new();
    let src = env.path("src");
    make_history(&env, &src, &["--host", "alpha"]);
    make_history(&env, &src, &["--host", "beta", "--tag", "prod"]);
    assert_eq!(snapshot_ids(&env).len(), 18);

    // Grouped by host (and paths) by default: one newest per host.
    let v = env.json(&["forget", "--dry-run", "--keep-last", "1"]);
    assert_eq!(v["kept"], 2);
    // One group for everything.
    let v = env.json(&["forget", "--dry-run", "--keep-last", "1", "--group-by", ""]);
    assert_eq!(v["kept"], 1);

    // Filters decide what is considered at all: only alpha is thinned.
    let v = env.json(&["forget", "--host", "alpha", "--keep-within", "1d"]);
    assert_eq!(v["snapshots"].as_array().unwrap().len(), 9);
    let reasons = verdicts(&v);
    let within: Vec<_> = reasons.values().filter(|(k, _)| *k).collect();
    // Since 2026-11-21 18:00+01:00: #1, #2, #3.
    assert_eq!(within.len(), 3, "{reasons:?}");
    assert!(within.iter().all(|(_, r)| r == "within 1d"));
    assert_eq!(snapshot_ids(&env).len(), 12);

    // --keep-min holds when no other rule keeps anything.
    let v = env.json(&["forget", "--keep-tag", "none-has-this", "--keep-min", "2"]);
    assert_eq!(v["kept"], 4);
    let reasons: Vec<String> = verdicts(&v).into_values().map(|(_, r)| r).collect();
    assert_eq!(reasons.iter().filter(|r| *r == "min #1").count(), 2);
    assert_eq!(reasons.iter().filter(|r| *r == "min #2").count(), 2);
    assert_eq!(snapshot_ids(&env).len(), 4);

    // --keep-tag keeps the tagged ones.
    let v = env.json(&["forget", "--dry-run", "--keep-tag", "prod"]);
    let kept: Vec<String> = verdicts(&v)
        .into_values()
        .filter(|(k, _)| *k)
        .map(|(_, r)| r)
        .collect();
    assert_eq!(kept, ["tag prod", "tag prod"]);
}

/// `forget --prune --grace 0` frees the forgotten snapshots' data in one
/// command; the kept snapshot still restores and the repository checks clean.
#[test]
fn forget_with_prune_frees_the_forgotten_data() {
    let env = Env::new();
    let src = env.path("src");
    for i in 0..3u64 {
        write(&src.join("big.bin"), &random_bytes(100 + i, 2_000_000));
        env.backup(&[&src], &[]);
    }
    let before = pack_bytes(&env);
    let v = env.json(&["forget", "--keep-last", "1", "--prune", "--grace", "0"]);
    assert_eq!(
        v["prune"]["packs_deleted"].as_u64().map(|n| n > 0),
        Some(true),
        "{v}"
    );
    let after = pack_bytes(&env);
    assert!(
        after < before / 2,
        "packs {before} -> {after}: the two forgotten 2 MB files were not freed"
    );
    assert_eq!(snapshot_ids(&env).len(), 1);
    env.ok(&["check", "--read-data"]);
    let t = env.path("t");
    env.restore_verified(&t);
    assert_eq!(
        std::fs::read(restored(&t, &src).join("big.bin")).unwrap(),
        random_bytes(102, 2_000_000)
    );
}

fn pack_bytes(env: &Env) -> u64 {
    env.objects("packs/").iter().map(|(_, n)| n).sum()
}
