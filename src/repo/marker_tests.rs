//! The marker's life: written at start, rewritten while it runs, deleted at
//! the end; a lapse is remembered; an unreadable marker counts as fresh.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::crypto::KdfParams;
use crate::repo::{InitOptions, OpenOptions};
use crate::storage::faulty::{FaultConfig, FaultyStorage};
use crate::storage::memory::MemoryStorage;

fn repo_on(storage: Arc<dyn Storage>) -> (Repository, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let opts = InitOptions {
        kdf: Some(KdfParams::insecure_for_tests()),
        ..Default::default()
    };
    let open = OpenOptions {
        cache_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    (Repository::init(storage, b"pw", opts, open).unwrap(), dir)
}

/// Polls `cond` for up to 20 s: the refresh thread runs on its own time.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_marker_is_written_at_start_and_deleted_at_the_end() {
    let storage = Arc::new(MemoryStorage::new());
    let (repo, _dir) = repo_on(storage.clone());
    let before = crate::time::now().0.secs;
    let guard = start(&repo, MarkerOptions::default()).unwrap();
    let seen = list(&repo).unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].key, guard.key());
    let r = seen[0].record.clone().unwrap();
    assert!(r.started >= before && r.started == guard.started());
    assert_eq!(r.expires - r.time, DEFAULT_TTL.as_secs() as i64);
    assert_eq!(r.pid, std::process::id());
    assert!(seen[0].is_fresh(r.expires + CLOCK_MARGIN - 1));
    assert!(!seen[0].is_fresh(r.expires + CLOCK_MARGIN));
    assert_eq!(seen[0].protects_from(), r.started - CLOCK_MARGIN);
    guard.check().unwrap();
    drop(guard);
    assert!(list(&repo).unwrap().is_empty());
}

#[test]
fn the_marker_is_rewritten_while_the_backup_runs() {
    let storage = Arc::new(MemoryStorage::new());
    let (repo, _dir) = repo_on(storage.clone());
    let opts = MarkerOptions {
        ttl: Duration::from_millis(600),
    };
    let guard = start(&repo, opts).unwrap();
    // Deleted behind its back (as an over-eager clean-up would): the next
    // refresh stores it again.
    storage.delete(guard.key()).unwrap();
    eventually("the marker comes back", || list(&repo).unwrap().len() == 1);
    guard.check().unwrap();
    drop(guard);
    assert!(list(&repo).unwrap().is_empty());
}

#[test]
fn a_marker_that_lapsed_once_stays_untrusted() {
    let faulty = Arc::new(FaultyStorage::new(
        MemoryStorage::new(),
        FaultConfig::seeded(1),
    ));
    let (repo, _dir) = repo_on(faulty.clone());
    let opts = MarkerOptions {
        ttl: Duration::from_millis(300),
    };
    let guard = start(&repo, opts).unwrap();
    guard.check().unwrap();
    faulty.set_dead(true);
    eventually("the marker lapses", || guard.check().is_err());
    faulty.set_dead(false);
    // Refreshes succeed again, but a prune may have missed the backup in
    // between: the attempt stays void.
    std::thread::sleep(Duration::from_millis(200));
    let err = guard.check().unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Raced, "{err}");
    assert!(err.to_string().contains(guard.key()), "{err}");
}

#[test]
fn an_unreadable_marker_counts_as_fresh_and_protects_everything() {
    let storage = Arc::new(MemoryStorage::new());
    let (repo, _dir) = repo_on(storage.clone());
    let key = layout::marker(&MarkerId([7; 32]));
    storage.put(&key, Bytes::from_static(b"junk")).unwrap();
    // A sealed object of another type is refused as a marker too.
    let lock = envelope::seal(repo.keys(), ObjectType::Lock, None, b"x", None);
    storage.put("running/not-an-id", Bytes::from(lock)).unwrap();
    let seen = list(&repo).unwrap();
    assert_eq!(seen.len(), 1, "keys that are not ids are ignored");
    assert_eq!(seen[0].key, key);
    assert!(seen[0].record.is_err());
    assert!(seen[0].is_fresh(i64::MAX));
    assert_eq!(seen[0].protects_from(), i64::MIN);
    let sealed_lock = envelope::seal(repo.keys(), ObjectType::Lock, None, b"x", None);
    storage.put(&key, Bytes::from(sealed_lock)).unwrap();
    assert!(list(&repo).unwrap()[0].record.is_err());
}
