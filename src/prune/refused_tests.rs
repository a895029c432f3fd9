//! Deletes the storage refuses although the repository's recorded
//! retention has passed (an R2 bucket-lock rule set longer in Cloudflare
//! than `--lock-rules DAYS`; format-spec/12-prune.md, "Refused deletes"):
//! prune and forget finish, lose nothing, report them, and a later run
//! deletes them once the storage allows. Without a retention lock a
//! refused delete stays an error.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::backup::{backup, BackupOptions};
use crate::check::{check, CheckOptions};
use crate::crypto::KdfParams;
use crate::forget::{forget, parse_retention, ForgetOptions};
use crate::format::config::{LockKind, RetentionLock};
use crate::progress::NoProgress;
use crate::prune::{prune, PruneOptions, PruneReport};
use crate::repo::object_lock::is_immutable;
use crate::repo::{InitOptions, OpenOptions, Repository};
use crate::source::fs::{FsOptions, FsSource};
use crate::storage::lock_sim::{LockSimStorage, RuleKeys};
use crate::storage::memory::MemoryStorage;
use crate::storage::Storage;

const DAY: i64 = 86_400;

fn count(storage: &dyn Storage, prefix: &str) -> usize {
    storage.list(prefix).unwrap().len()
}

fn assert_clean(repo: &Repository) {
    let report = check(repo, &CheckOptions::default(), &NoProgress).unwrap();
    assert!(!report.is_damaged(), "{:?}", report.problems);
}

/// A repository whose storage locks immutable objects for `rule_days`
/// (the bucket's rule) while the config records `lock` (or none), with
/// two snapshots of which the first has a file the second lacks.
fn setup(
    tmp: &std::path::Path,
    lock: Option<RetentionLock>,
    rule_days: i64,
    keys: RuleKeys,
) -> (
    Repository,
    Arc<LockSimStorage<MemoryStorage>>,
    Arc<AtomicI64>,
) {
    let now = crate::time::now().0.secs;
    let clock = Arc::new(AtomicI64::new(now));
    let sim =
        LockSimStorage::new(MemoryStorage::new(), clock.clone()).with_rule(rule_days * DAY, keys);
    let storage = Arc::new(sim);
    let init = InitOptions {
        kdf: Some(KdfParams::insecure_for_tests()),
        lock,
        ..Default::default()
    };
    let open = OpenOptions {
        cache_dir: Some(tmp.join("cache")),
        ..Default::default()
    };
    let repo = Repository::init(storage.clone(), b"pw", init, open).unwrap();
    let src = tmp.join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("old"), vec![7u8; 300_000]).unwrap();
    for step in 0..2 {
        if step == 1 {
            std::fs::remove_file(src.join("old")).unwrap();
            std::fs::write(src.join("new"), vec![9u8; 300_000]).unwrap();
        }
        let opts = FsOptions {
            paths: vec![src.clone()],
            ..Default::default()
        };
        let mut source = FsSource::new(opts).unwrap();
        backup(&repo, &mut source, &BackupOptions::default(), &NoProgress).unwrap();
    }
    (repo, storage, clock)
}

fn forget_at(repo: &Repository, now: i64) -> crate::Result<crate::forget::ForgetReport> {
    let opts = ForgetOptions {
        policy: parse_retention("1").unwrap(),
        now: Some(now),
        ..Default::default()
    };
    forget(repo, &opts)
}

fn prune_at(repo: &Repository, now: i64) -> crate::Result<PruneReport> {
    let opts = PruneOptions {
        grace: Duration::ZERO,
        now: Some(now),
        ..Default::default()
    };
    prune(repo, &opts, &NoProgress)
}

fn one_day_rules() -> RetentionLock {
    RetentionLock {
        kind: LockKind::BucketRules,
        days: 1,
    }
}

#[test]
fn prune_deletes_refused_by_a_longer_bucket_rule_are_still_locked_then_done() {
    let tmp = tempfile::tempdir().unwrap();
    // The operator's rule on packs and index files: 3 days; the
    // repository records 1.
    let rule: RuleKeys = Arc::new(|k| k.starts_with("packs/") || k.starts_with("index/"));
    let (repo, storage, clock) = setup(tmp.path(), Some(one_day_rules()), 3, rule);
    let start = clock.load(Ordering::SeqCst);

    // Two days on: past the recorded day, within the bucket's three.
    let t = start + 2 * DAY;
    clock.store(t, Ordering::SeqCst);
    let r = forget_at(&repo, t).unwrap();
    assert_eq!(r.removed.len(), 1, "{r:?}");
    let packs_before = count(&*storage, "packs/");
    let r = prune_at(&repo, t).unwrap();
    assert_eq!(r.packs_deleted, 0, "{r:?}");
    assert!(r.packs_refused > 0, "{r:?}");
    assert!(r.index_files_refused > 0, "{r:?}");
    assert_eq!(count(&*storage, "packs/"), packs_before, "nothing lost");
    // The refused packs keep their condemned names (put-only clients).
    assert!(count(&*storage, "condemned/") >= r.packs_refused as usize);
    assert_clean(&repo);
    // Again within the rule: still no error, still nothing deleted.
    let r = prune_at(&repo, t + 3600).unwrap();
    assert_eq!(r.packs_deleted, 0, "{r:?}");
    assert_eq!(count(&*storage, "packs/"), packs_before);
    assert_clean(&repo);

    // Past the bucket's rule: a later prune deletes them.
    let t = start + 4 * DAY;
    clock.store(t, Ordering::SeqCst);
    let r = prune_at(&repo, t).unwrap();
    assert!(r.packs_deleted > 0, "{r:?}");
    // (Index files the prunes of day 2 wrote are still under the rule.)
    assert_eq!(r.packs_refused, 0, "{r:?}");
    assert!(count(&*storage, "packs/") < packs_before);
    assert_eq!(count(&*storage, "condemned/"), 0);
    // What is left is whole: every blob of the kept snapshot reads back.
    let read_all = CheckOptions {
        read_data: true,
        ..Default::default()
    };
    let report = check(&repo, &read_all, &NoProgress).unwrap();
    assert!(!report.is_damaged(), "{:?}", report.problems);
}

#[test]
fn forget_deletes_refused_by_a_longer_bucket_rule_wait_for_a_later_forget() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, storage, clock) =
        setup(tmp.path(), Some(one_day_rules()), 3, Arc::new(is_immutable));
    let start = clock.load(Ordering::SeqCst);
    let t = start + 2 * DAY;
    clock.store(t, Ordering::SeqCst);
    let r = forget_at(&repo, t).unwrap();
    assert_eq!((r.removed.len(), r.refused.len()), (0, 1), "{r:?}");
    assert_eq!(count(&*storage, "snapshots/"), 2);
    assert_clean(&repo);
    let t = start + 4 * DAY;
    clock.store(t, Ordering::SeqCst);
    let r = forget_at(&repo, t).unwrap();
    assert_eq!((r.removed.len(), r.refused.len()), (1, 0), "{r:?}");
    assert_eq!(count(&*storage, "snapshots/"), 1);
}

#[test]
fn without_a_retention_lock_a_refused_delete_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, storage, clock) = setup(tmp.path(), None, 3, Arc::new(is_immutable));
    let t = clock.load(Ordering::SeqCst) + 2 * DAY;
    clock.store(t, Ordering::SeqCst);
    assert!(forget_at(&repo, t).is_err());
    assert_eq!(count(&*storage, "snapshots/"), 2);
}
