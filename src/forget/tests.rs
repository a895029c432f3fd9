//! `forget` on a real repository over memory storage: dry runs, the stored
//! policy, and crashes part-way through removing.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::crypto::KdfParams;
use crate::format::layout;
use crate::repo::{InitOptions, OpenOptions};
use crate::storage::memory::MemoryStorage;
use crate::storage::{ObjectInfo, Storage, StorageError, StorageErrorKind, StorageResult};

/// Memory storage whose deletes start failing after a budget: a process
/// that dies part-way through `forget`.
struct DiesAfterDeletes {
    inner: Arc<MemoryStorage>,
    deletes_left: AtomicI64,
}

impl Storage for DiesAfterDeletes {
    fn put(&self, key: &str, data: Bytes) -> StorageResult<()> {
        self.inner.put(key, data)
    }
    fn put_if_absent(&self, key: &str, data: Bytes) -> StorageResult<bool> {
        self.inner.put_if_absent(key, data)
    }
    fn get(&self, key: &str) -> StorageResult<Vec<u8>> {
        self.inner.get(key)
    }
    fn get_range(&self, key: &str, offset: u64, len: u64) -> StorageResult<Vec<u8>> {
        self.inner.get_range(key, offset, len)
    }
    fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectInfo>> {
        self.inner.list(prefix)
    }
    fn delete(&self, key: &str) -> StorageResult<()> {
        if self.deletes_left.fetch_sub(1, Ordering::SeqCst) <= 0 {
            return Err(StorageError::new(
                StorageErrorKind::Permanent,
                "delete",
                key,
                "died",
            ));
        }
        self.inner.delete(key)
    }
    fn location(&self) -> String {
        "dies-after-deletes".into()
    }
    fn as_dyn(&self) -> &dyn Storage {
        self
    }
}

fn open_opts(dir: &tempfile::TempDir) -> OpenOptions {
    OpenOptions {
        cache_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    }
}

/// A repository holding 40 snapshots, 13 hours apart, one host.
fn repo_with_history(dir: &tempfile::TempDir) -> (Arc<MemoryStorage>, BTreeSet<SnapshotId>) {
    let storage = Arc::new(MemoryStorage::new());
    let init = InitOptions {
        kdf: Some(KdfParams::insecure_for_tests()),
        ..Default::default()
    };
    let repo = Repository::init(storage.clone(), b"pw", init, open_opts(dir)).unwrap();
    let mut ids = BTreeSet::new();
    for i in 0..40 {
        let mut s = reference::snapshot(
            SnapshotId([0; 32]),
            1_790_000_000 + i * 13 * 3600,
            0,
            3600,
            "h",
        )
        .snapshot;
        if i == 3 {
            s.tags.push("keep".into());
        }
        ids.insert(repo.save_snapshot(&s).unwrap());
    }
    (storage, ids)
}

fn stored_ids(storage: &MemoryStorage) -> BTreeSet<SnapshotId> {
    storage
        .list(layout::SNAPSHOTS_PREFIX)
        .unwrap()
        .iter()
        .filter_map(|o| layout::parse_id(&o.key))
        .collect()
}

fn options() -> ForgetOptions {
    ForgetOptions {
        policy: Policy {
            daily: 4,
            weekly: 2,
            tags: vec!["keep".into()],
            ..Policy::default()
        },
        ..ForgetOptions::default()
    }
}

#[test]
fn dry_run_changes_nothing_and_an_empty_policy_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, all) = repo_with_history(&dir);
    let repo = Repository::open(storage.clone(), b"pw", open_opts(&dir)).unwrap();
    let dry = forget(
        &repo,
        &ForgetOptions {
            dry_run: true,
            ..options()
        },
    )
    .unwrap();
    assert_eq!(dry.decisions.len(), 40);
    assert!(dry.removed.is_empty() && dry.to_remove() > 0);
    assert_eq!(stored_ids(&storage), all);
    let err = forget(&repo, &ForgetOptions::default()).unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Usage);
    assert_eq!(stored_ids(&storage), all);
}

#[test]
fn a_crash_while_removing_is_finished_by_running_again() {
    let dir = tempfile::tempdir().unwrap();
    let (_, all) = repo_with_history(&dir);
    let plan = {
        let (storage, _) = repo_with_history(&dir);
        let repo = Repository::open(storage, b"pw", open_opts(&dir)).unwrap();
        forget(
            &repo,
            &ForgetOptions {
                dry_run: true,
                ..options()
            },
        )
        .unwrap()
    };
    let removed = plan.to_remove();
    assert!(removed > 20 && plan.kept() >= 5, "{removed}");
    for dies_after in [0, 1, removed / 2, removed - 1] {
        let (storage, ids) = repo_with_history(&dir);
        assert_eq!(ids.len(), all.len());
        let keep: BTreeSet<SnapshotId> = {
            let repo = Repository::open(storage.clone(), b"pw", open_opts(&dir)).unwrap();
            let plan = forget(
                &repo,
                &ForgetOptions {
                    dry_run: true,
                    ..options()
                },
            )
            .unwrap();
            plan.decisions
                .iter()
                .filter(|d| d.keep)
                .map(|d| d.id)
                .collect()
        };
        let dying = Arc::new(DiesAfterDeletes {
            inner: storage.clone(),
            deletes_left: AtomicI64::new(dies_after as i64),
        });
        let repo = Repository::open(dying, b"pw", open_opts(&dir)).unwrap();
        assert!(forget(&repo, &options()).is_err());
        let left = stored_ids(&storage);
        assert_eq!(left.len(), ids.len() - dies_after);
        assert!(keep.is_subset(&left));
        // Run again on the healthy storage: the rest goes, nothing more.
        let repo = Repository::open(storage.clone(), b"pw", open_opts(&dir)).unwrap();
        let report = forget(&repo, &options()).unwrap();
        assert_eq!(report.removed.len(), removed - dies_after);
        assert_eq!(stored_ids(&storage), keep);
        assert!(forget(&repo, &options()).unwrap().removed.is_empty());
    }
}

#[test]
fn stored_policy_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, _) = repo_with_history(&dir);
    let repo = Repository::open(storage.clone(), b"pw", open_opts(&dir)).unwrap();
    assert_eq!(repo.load_policy().unwrap(), None);
    repo.clear_policy().unwrap();
    let p = parse_retention("7d,4w,12m").unwrap();
    repo.save_policy(&p).unwrap();
    assert_eq!(repo.load_policy().unwrap(), Some(p));
    let q = parse_retention("3").unwrap();
    repo.save_policy(&q).unwrap();
    assert_eq!(repo.load_policy().unwrap(), Some(q));
    assert!(repo.save_policy(&Policy::default()).is_err());
    // A damaged policy object is reported as damage, not as "no policy".
    let mut bytes = storage.get(layout::POLICY).unwrap();
    bytes[30] ^= 1;
    storage.put(layout::POLICY, Bytes::from(bytes)).unwrap();
    assert_eq!(
        repo.load_policy().unwrap_err().kind(),
        crate::ErrorKind::Corrupt
    );
    repo.clear_policy().unwrap();
    assert_eq!(repo.load_policy().unwrap(), None);
}
