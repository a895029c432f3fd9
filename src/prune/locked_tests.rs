//! Prune and forget on storage that refuses to delete locked objects
//! (`storage::lock_sim`), with a simulated clock: they finish without error
//! and without deleting anything retained, and a later run after the
//! retention passed deletes it. `check` stays clean throughout.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::backup::{backup, BackupOptions};
use crate::check::{check, CheckOptions};
use crate::crypto::KdfParams;
use crate::forget::{forget, parse_retention, ForgetOptions};
use crate::format::config::{LockKind, RetentionLock};
use crate::format::layout;
use crate::progress::NoProgress;
use crate::prune::{prune, PruneOptions};
use crate::repo::{InitOptions, OpenOptions, Repository};
use crate::source::fs::{FsOptions, FsSource};
use crate::storage::lock_sim::LockSimStorage;
use crate::storage::memory::MemoryStorage;
use crate::storage::{RetentionMode, Storage};

const DAY: i64 = 86_400;

pub(super) fn keys(storage: &dyn Storage, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = storage
        .list(prefix)
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    v.sort();
    v
}

pub(super) fn assert_clean(repo: &Repository) {
    let report = check(repo, &CheckOptions::default(), &NoProgress).unwrap();
    assert!(!report.is_damaged(), "{:?}", report.problems);
}

/// A repository on `storage` with cheap KDF settings, its cache in `dir`.
pub(super) fn init_repo(
    storage: Arc<dyn Storage>,
    dir: &std::path::Path,
    lock: Option<RetentionLock>,
) -> Repository {
    let init = InitOptions {
        kdf: Some(KdfParams::insecure_for_tests()),
        lock,
        ..Default::default()
    };
    let open = OpenOptions {
        cache_dir: Some(dir.join("cache")),
        ..Default::default()
    };
    Repository::init(storage, b"pw", init, open).unwrap()
}

pub(super) fn backup_dir(repo: &Repository, dir: &std::path::Path) {
    let opts = FsOptions {
        paths: vec![dir.to_path_buf()],
        ..Default::default()
    };
    let mut source = FsSource::new(opts).unwrap();
    backup(repo, &mut source, &BackupOptions::default(), &NoProgress).unwrap();
}

#[test]
fn prune_and_forget_wait_for_the_lock_then_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let real_now = crate::time::now().0.secs;
    let clock = Arc::new(AtomicI64::new(real_now));
    let storage = Arc::new(LockSimStorage::new(MemoryStorage::new(), clock.clone()));
    let lock = RetentionLock {
        kind: LockKind::ObjectLockCompliance,
        days: 1,
    };
    let repo = init_repo(storage.clone(), tmp.path(), Some(lock));
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("old"), vec![7u8; 300_000]).unwrap();
    backup_dir(&repo, &src);
    std::fs::remove_file(src.join("old")).unwrap();
    std::fs::write(src.join("new"), vec![9u8; 300_000]).unwrap();
    backup_dir(&repo, &src);
    // Every immutable object got a retention date, mutable ones none.
    let locked = storage.locked_keys();
    assert!(locked.contains(&layout::CONFIG.to_string()));
    for prefix in ["keys/", "snapshots/", "index/", "packs/"] {
        assert_eq!(
            keys(&*storage, prefix),
            locked
                .iter()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect::<Vec<_>>(),
            "{prefix}"
        );
    }
    let snapshots = keys(&*storage, "snapshots/");
    assert_eq!(snapshots.len(), 2);

    // Forget within the retention: nothing deleted, no error.
    let forget_at = |now: i64| {
        let opts = ForgetOptions {
            policy: parse_retention("1").unwrap(),
            now: Some(now),
            ..Default::default()
        };
        forget(&repo, &opts).unwrap()
    };
    let r = forget_at(real_now);
    assert_eq!((r.removed.len(), r.locked.len()), (0, 1));
    assert_eq!(keys(&*storage, "snapshots/"), snapshots);
    assert_clean(&repo);

    // The packs and index files had their retention extended (as
    // `repo extend-lock` does for objects in use) to ten days.
    let packs_before = keys(&*storage, "packs/");
    for key in packs_before.iter().chain(&keys(&*storage, "index/")) {
        storage
            .set_retention(key, real_now + 10 * DAY, RetentionMode::Compliance)
            .unwrap();
    }

    // Two days on: the snapshot's retention passed, forget removes it.
    clock.store(real_now + 2 * DAY, Ordering::SeqCst);
    let r = forget_at(real_now + 2 * DAY);
    assert_eq!((r.removed.len(), r.locked.len()), (1, 0));
    assert_clean(&repo);

    // Prune (no grace) condemns the old packs but cannot delete them yet:
    // no error, nothing deleted, reported as locked.
    let prune_at = |now: i64| {
        let opts = PruneOptions {
            grace: Duration::ZERO,
            now: Some(now),
            ..Default::default()
        };
        prune(&repo, &opts, &NoProgress).unwrap()
    };
    let r = prune_at(real_now + 2 * DAY);
    assert_eq!(r.packs_deleted, 0, "{r:?}");
    assert!(r.packs_locked > 0, "{r:?}");
    assert!(r.index_files_locked > 0, "{r:?}");
    assert_eq!(keys(&*storage, "packs/"), packs_before);
    assert_clean(&repo);
    // Once more within the retention: still nothing deleted, no error,
    // and no new index file (only retained stale files to delete is no
    // reason to write one more retained file).
    let index_before = keys(&*storage, "index/");
    let r = prune_at(real_now + 5 * DAY);
    assert_eq!((r.packs_deleted, r.packs_locked > 0), (0, true), "{r:?}");
    assert_eq!(r.index_files_written, 0, "{r:?}");
    assert_eq!(keys(&*storage, "index/"), index_before);
    assert_clean(&repo);

    // After the retention: a later prune deletes them.
    clock.store(real_now + 11 * DAY, Ordering::SeqCst);
    let r = prune_at(real_now + 11 * DAY);
    assert!(r.packs_deleted > 0, "{r:?}");
    assert_eq!((r.packs_locked, r.index_files_locked), (0, 0), "{r:?}");
    assert!(keys(&*storage, "packs/").len() < packs_before.len());
    assert_clean(&repo);
}
