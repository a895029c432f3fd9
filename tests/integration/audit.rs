//! The rolling audit: order (never verified first, then oldest), budgets,
//! the log stored in the repository (so another machine continues the
//! rotation), coverage, damage recorded and retried, and compaction.

use cairn::check::{check, AuditOptions, AuditReport, Budget, CheckOptions};
use cairn::format::tree::Timestamp;
use cairn::progress::NoProgress;
use cairn::repo::{OpenOptions, Repository};

use crate::util::*;

const DAY: i64 = 86_400;
const T0: i64 = 1_700_000_000;

/// `n` backups of fresh data: 2n packs (one data, one tree each).
fn setup(n: u64) -> Env {
    // LOCAL-ONLY: these tests damage and count the repository's files.
    let env = Env::new_local();
    for i in 0..n {
        let src = env.path(&format!("src{i}"));
        write(&src.join("f.bin"), &random_bytes(100 + i, 50_000));
        env.backup(&[&src], &[]);
    }
    env
}

/// Opens the repository through the library, with its own cache directory
/// (another "machine" when `cache` differs).
fn open(env: &Env, cache: &str) -> Repository {
    let storage = env.storage();
    let open = OpenOptions {
        cache_dir: Some(env.path(cache)),
        ..Default::default()
    };
    Repository::open(storage, PASSWORD.as_bytes(), open).unwrap()
}

fn audit(repo: &Repository, budget: Budget, day: i64, compact_after: usize) -> AuditReport {
    let opts = CheckOptions {
        audit: Some(AuditOptions {
            budget,
            compact_after,
            now: Some(Timestamp {
                secs: T0 + day * DAY,
                nanos: 0,
            }),
        }),
        ..Default::default()
    };
    let r = check(repo, &opts, &NoProgress).unwrap();
    r.audit.expect("an audit report")
}

#[test]
fn a_rotation_covers_every_pack_and_then_starts_over_with_the_oldest() {
    let env = setup(3);
    let packs = env.pack_count() as u64;
    assert_eq!(packs, 6);
    let third = Budget::Fraction { n: 1, m: 3 };
    // Day 0 on one machine, days 1 and 2 on another: the log is shared.
    let a = audit(&open(&env, "m1"), third, 0, 100);
    assert_eq!((a.packs, a.packs_verified, a.never_verified), (6, 2, 4));
    assert_eq!(a.all_verified_within_days, None);
    assert!(a.bytes_verified > 0);
    let other = open(&env, "m2");
    let b = audit(&other, third, 1, 100);
    assert_eq!((b.packs_verified, b.never_verified), (2, 2));
    let c = audit(&other, third, 2, 100);
    assert_eq!((c.packs_verified, c.never_verified), (2, 0));
    // Full coverage: the oldest verification is day 0, two days ago.
    assert_eq!(c.all_verified_within_days, Some(2));
    assert_eq!(c.oldest_verification.unwrap().secs, T0);
    assert_eq!(c.log_objects, 3);
    // Day 3 re-verifies day 0's packs: coverage moves up to day 1.
    let d = audit(&other, third, 3, 100);
    assert_eq!(d.oldest_verification.unwrap().secs, T0 + DAY);
    assert_eq!(d.all_verified_within_days, Some(2));
    // The whole-bytes sum of a rotation is the repository's pack bytes.
    let on_disk: u64 = files_under(&env.repo.join("packs"))
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert_eq!(
        a.bytes_verified + b.bytes_verified + c.bytes_verified,
        on_disk
    );
}

#[test]
fn budgets_by_percent_and_bytes() {
    let env = setup(2);
    let repo = open(&env, "c");
    assert_eq!(
        audit(&repo, Budget::Percent(50.0), 0, 100).packs_verified,
        2
    );
    // A one-byte budget still reads one pack (never verified first).
    let r = audit(&repo, Budget::Bytes(1), 1, 100);
    assert_eq!((r.packs_verified, r.never_verified), (1, 1));
    let r = audit(&repo, Budget::All, 2, 100);
    assert_eq!((r.packs_verified, r.never_verified), (4, 0));
    assert_eq!(r.all_verified_within_days, Some(1));
}

#[test]
fn a_damaged_pack_is_recorded_reported_and_retried_first() {
    let env = setup(2);
    let repo = open(&env, "c");
    audit(&repo, Budget::All, 0, 100);
    // Damage the largest pack after it verified once.
    let mut packs = files_under(&env.repo.join("packs"));
    packs.sort_by_key(|p| std::fs::metadata(p).unwrap().len());
    let victim = packs.pop().unwrap();
    let mut b = std::fs::read(&victim).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 1;
    std::fs::write(&victim, b).unwrap();
    // Day 1, budget 1/4: the oldest verifications are all day 0, ties by id:
    // run until the damaged one comes up.
    let mut found_on = None;
    for day in 1..=4 {
        let r = audit(&repo, Budget::Fraction { n: 1, m: 4 }, day, 100);
        if r.packs_failed == 1 {
            found_on = Some(day);
            assert_eq!(r.never_verified, 1, "a failed pack counts as unverified");
            assert_eq!(r.all_verified_within_days, None);
            break;
        }
    }
    let day = found_on.expect("the rotation reaches the damaged pack");
    // The next run reads the damaged pack first again.
    let r = audit(&repo, Budget::Fraction { n: 1, m: 4 }, day + 1, 100);
    assert_eq!(r.packs_failed, 1);
    // The CLI exits 4 for it too, with the audit summary in JSON.
    let out = env.run(&["--json", "check", "--audit", "--budget", "1/4"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(last_json(&out)["audit"]["packs_failed"], 1);
}

#[test]
fn many_runs_compact_into_one_object_and_keep_the_coverage() {
    let env = setup(2);
    let repo = open(&env, "c");
    for day in 0..4 {
        let r = audit(&repo, Budget::Fraction { n: 1, m: 4 }, day, 3);
        assert!(r.log_objects <= 3, "{r:?}");
    }
    let objects = files_under(&env.repo.join("audit"));
    assert!(objects.len() <= 3, "{objects:?}");
    // Nothing was forgotten in compaction: everything is covered.
    let r = audit(&open(&env, "fresh"), Budget::Bytes(1), 4, 3);
    assert_eq!(r.never_verified, 0, "{r:?}");
    assert_eq!(r.oldest_verification.unwrap().secs, T0 + DAY);
}

#[test]
fn cli_audit_reports_coverage_and_refuses_bad_budgets() {
    let env = setup(1);
    let out = env.ok(&["check", "--audit", "--budget", "1/2"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("audit: verified 1 of 2 packs"), "{text}");
    let out = env.ok(&["check", "--audit"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("every pack verified within the last 1 day "),
        "{text}"
    );
    assert_eq!(files_under(&env.repo.join("audit")).len(), 2);
    for bad in ["0/3", "3/2", "abc", "0%"] {
        let out = env.run(&["check", "--audit", "--budget", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
    }
    // --budget needs --audit; --audit excludes --read-data.
    assert_eq!(
        env.run(&["check", "--budget", "1/2"]).status.code(),
        Some(2)
    );
    assert_eq!(
        env.run(&["check", "--audit", "--read-data"]).status.code(),
        Some(2)
    );
}

#[test]
fn a_corrupt_audit_object_is_a_warning_and_the_rotation_goes_on() {
    let env = setup(1);
    env.ok(&["check", "--audit"]);
    let obj = files_under(&env.repo.join("audit")).remove(0);
    let mut b = std::fs::read(&obj).unwrap();
    b[30] ^= 1;
    std::fs::write(&obj, b).unwrap();
    let out = env.run(&["--json", "check", "--audit", "--budget", "1/2"]);
    assert_eq!(out.status.code(), Some(0), "the log holds no backup data");
    let r = last_json(&out);
    let problems = r["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{r}");
    assert_eq!(problems[0]["severity"], "warning");
    // Its records are forgotten: half the packs are unverified again.
    assert_eq!(r["audit"]["never_verified"], 1, "{r}");
}
