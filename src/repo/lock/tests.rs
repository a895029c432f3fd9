//! The lock protocol on in-memory and fault-injecting storage.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use super::*;
use crate::crypto::KdfParams;
use crate::repo::{InitOptions, OpenOptions};
use crate::storage::faulty::{FaultConfig, FaultyStorage};
use crate::storage::memory::MemoryStorage;

/// A repository and the temporary directory holding its cache.
struct TestRepo(Repository, #[allow(dead_code)] tempfile::TempDir);

impl std::ops::Deref for TestRepo {
    type Target = Repository;
    fn deref(&self) -> &Repository {
        &self.0
    }
}

fn open_options(dir: &tempfile::TempDir) -> OpenOptions {
    OpenOptions {
        cache_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    }
}

fn repo_on(storage: Arc<MemoryStorage>) -> TestRepo {
    let dir = tempfile::tempdir().unwrap();
    let opts = InitOptions {
        kdf: Some(KdfParams::insecure_for_tests()),
        ..Default::default()
    };
    TestRepo(
        Repository::init(storage, b"pw", opts, open_options(&dir)).unwrap(),
        dir,
    )
}

fn repo() -> TestRepo {
    repo_on(Arc::new(MemoryStorage::new()))
}

/// Writes a record of another client directly, as if it held the lock.
fn plant(repo: &Repository, generation: u64, expires_in: i64) -> LockRecord {
    let now = unix_now();
    let r = LockRecord {
        generation,
        state: LockState::Held,
        operation: "prune".into(),
        host: "elsewhere".into(),
        pid: 1,
        time: now,
        expires: now + expires_in,
        token: [9; 16],
        start_time: None,
    };
    assert!(Backend::of(repo).create(&r).unwrap());
    r
}

#[test]
fn second_acquire_is_locked_and_release_frees() {
    let repo = repo();
    let g = acquire(&repo, "prune", LockOptions::default()).unwrap();
    g.check().unwrap();
    let err = acquire(&repo, "prune", LockOptions::default())
        .err()
        .unwrap();
    assert_eq!(err.kind(), crate::ErrorKind::Locked);
    assert!(err.to_string().contains("held by prune"), "{err}");
    g.release().unwrap();
    let st = status(&repo).unwrap().unwrap();
    assert_eq!(st.record.unwrap().state, LockState::Released);
    let again = acquire(&repo, "prune", LockOptions::default()).unwrap();
    drop(again);
    // At most the newest generation (and one older) remain.
    assert!(repo.storage().list(layout::LOCKS_PREFIX).unwrap().len() <= 2);
}

#[test]
fn an_expired_lock_is_taken_over_and_a_live_one_is_not() {
    let repo = repo();
    plant(&repo, 5, 3600);
    assert!(acquire(&repo, "prune", LockOptions::default()).is_err());
    plant(&repo, 6, -1);
    let g = acquire(&repo, "prune", LockOptions::default()).unwrap();
    assert_eq!(g.generation(), 7);
}

#[test]
fn racing_takeovers_have_exactly_one_winner() {
    for round in 0..5 {
        let repo = Arc::new(repo());
        plant(&repo, 1, -10);
        let n = 6;
        let barrier = Arc::new(Barrier::new(n));
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let (repo, barrier) = (repo.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    acquire(&repo, "prune", LockOptions::default()).ok()
                })
            })
            .collect();
        let guards: Vec<LockGuard> = handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect();
        assert_eq!(guards.len(), 1, "round {round}: winners");
    }
}

#[test]
fn an_ambiguous_create_is_recognised_as_ours() {
    let memory = Arc::new(MemoryStorage::new());
    let plain = repo_on(memory.clone());
    let storage = Arc::new(FaultyStorage::new(
        memory,
        FaultConfig {
            transient_after_create: 1.0,
            ..FaultConfig::seeded(5)
        },
    ));
    let repo = Repository::open(storage.clone(), b"pw", open_options(&plain.1)).unwrap();
    let g = acquire(&repo, "prune", LockOptions::default()).unwrap();
    g.check().unwrap();
    assert!(storage.counts().transient_after_create >= 1);
}

#[test]
fn refreshes_move_the_generation_and_a_takeover_is_noticed() {
    let repo = repo();
    let opts = LockOptions {
        ttl: Duration::from_millis(600),
    };
    let g = acquire(&repo, "prune", opts).unwrap();
    let first = g.generation();
    let deadline = Instant::now() + Duration::from_secs(20);
    while g.generation() < first + 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(g.generation() >= first + 2, "no refreshes happened");
    // Someone else writes the next generation (an operator's forced unlock).
    assert!(matches!(
        unlock(&repo, true).unwrap(),
        UnlockOutcome::Released {
            was_expired: false,
            ..
        }
    ));
    while g.check().is_ok() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(g.check().unwrap_err().kind(), crate::ErrorKind::Locked);
}

#[test]
fn unlock_needs_force_for_a_live_lock() {
    let repo = repo();
    assert_eq!(unlock(&repo, false).unwrap(), UnlockOutcome::NotLocked);
    plant(&repo, 1, 3600);
    assert_eq!(
        unlock(&repo, false).unwrap_err().kind(),
        crate::ErrorKind::Locked
    );
    plant(&repo, 2, -1);
    assert!(matches!(
        unlock(&repo, false).unwrap(),
        UnlockOutcome::Released {
            was_expired: true,
            ..
        }
    ));
    assert_eq!(unlock(&repo, false).unwrap(), UnlockOutcome::NotLocked);
    acquire(&repo, "prune", LockOptions::default()).unwrap();
}

#[test]
fn a_record_under_the_wrong_generation_is_refused() {
    let repo = repo();
    let r = plant(&repo, 1, 3600);
    let bytes = repo.storage().get(&layout::lock(1)).unwrap();
    repo.storage()
        .put(&layout::lock(2), Bytes::from(bytes))
        .unwrap();
    assert_eq!(r.generation, 1);
    let err = acquire(&repo, "prune", LockOptions::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("unreadable"), "{err}");
    assert!(matches!(
        unlock(&repo, true).unwrap(),
        UnlockOutcome::Released { previous: None, .. }
    ));
    acquire(&repo, "prune", LockOptions::default()).unwrap();
}

/// A record of this host whose process is gone is taken over at once and
/// reported; the same record from another host waits for expiry.
#[test]
fn a_dead_holder_on_this_host_is_taken_over_and_one_elsewhere_is_not() {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    let start = holder::start_time(pid);
    child.wait().unwrap();
    let repo = repo();
    let mut r = plant(&repo, 1, 600);
    r.generation = 2;
    r.host = "elsewhere".into();
    r.pid = pid;
    r.start_time = Some(start.unwrap_or(1));
    assert!(Backend::of(&repo).create(&r).unwrap());
    let err = acquire(&repo, "prune", LockOptions::default())
        .err()
        .unwrap();
    assert_eq!(err.kind(), crate::ErrorKind::Locked);

    r.generation = 3;
    r.host = crate::time::hostname();
    assert!(Backend::of(&repo).create(&r).unwrap());
    let g = acquire(&repo, "prune", LockOptions::default()).unwrap();
    assert_eq!(g.took_over().map(|t| t.pid), Some(pid));
    assert_eq!(g.generation(), 4);
}
