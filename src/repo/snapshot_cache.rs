//! Snapshot files kept in the local cache directory, as stored (sealed).
//!
//! Every command that picks a snapshot (`latest`, a filter, an id prefix)
//! reads every snapshot file: on object storage 30-80 ms away that is a
//! round trip per 16 files, every time. Snapshot files never change and are
//! named by the hash of their bytes, so a copy on disk is as good as the
//! stored one once it hashes to its name; a copy that does not (a flipped
//! bit, a torn write) is dropped and read again. Copies of snapshots the
//! repository no longer lists are deleted whenever it is listed, so the
//! directory holds no more than the repository did at the last listing.
//!
//! Work that judges the repository (`check`, `repair`, prune's plan) must
//! see what is stored, not a sound local copy of something damaged since:
//! it holds [`Repository::read_storage_only`]'s guard, which every local
//! cache honours.
//!
//! The listing itself can start before the key is derived
//! ([`OpenOptions::prefetch_snapshots`]): the KDF takes longer than a round
//! trip, so a read-only command finds its listing waiting. A listing that
//! old is only as stale as a slow network makes any listing, except across
//! a lock or a backup marker, whose protocols need a listing taken after
//! them: taking either drops it ([`Repository::drop_prefetched_listing`]).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::ids::{content_hash, SnapshotId};
#[cfg(doc)]
use crate::repo::OpenOptions;
use crate::repo::{tree_cache, Repository};
use crate::storage::{ObjectInfo, Storage, StorageResult};

/// While alive, reads bypass every local copy ([`Repository::read_storage_only`]).
#[must_use = "local copies answer again once the guard is dropped"]
pub struct StorageOnly<'r>(&'r Repository);

impl Drop for StorageOnly<'_> {
    fn drop(&mut self) {
        self.0.storage_only.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A listing of `snapshots/` (or `index/`) under way since before the key
/// was derived.
pub(super) type PrefetchedListing = Option<JoinHandle<StorageResult<Vec<ObjectInfo>>>>;

/// Starts listing `prefix` on a thread of its own.
pub(super) fn prefetch_listing(
    storage: &Arc<dyn Storage>,
    prefix: &'static str,
) -> PrefetchedListing {
    let storage = storage.clone();
    std::thread::Builder::new()
        .name("cairn-list-ahead".into())
        .spawn(move || storage.list(prefix))
        .ok()
}

impl Repository {
    /// Until the guard is dropped, read everything from the storage, never
    /// from a local copy (index rows still come from the cache: they are
    /// only where to look). For work whose verdict is about what is stored;
    /// other users of a shared handle (a service's jobs) pay only reads.
    pub fn read_storage_only(&self) -> StorageOnly<'_> {
        self.storage_only.fetch_add(1, Ordering::Relaxed);
        StorageOnly(self)
    }

    /// Whether local copies may answer reads.
    pub(crate) fn local_copies_allowed(&self) -> bool {
        self.storage_only.load(Ordering::Relaxed) == 0
    }

    /// The listing started at open, once; `None` when there is none (or it
    /// failed: the caller lists again and reports that error).
    pub(super) fn take_prefetched_listing(&self) -> Option<Vec<ObjectInfo>> {
        let handle = self.prefetched.lock().ok()?.take()?;
        handle.join().ok()?.ok()
    }

    /// The index listing started at open, once (`None`: none, or it failed).
    pub(super) fn take_prefetched_index_listing(&self) -> Option<Vec<ObjectInfo>> {
        let handle = self.prefetched_index.lock().ok()?.take()?;
        handle.join().ok()?.ok()
    }

    /// Forgets the listings started at open: a lock or a marker was taken,
    /// and what follows must list after it. (The index listing is consumed
    /// by the open's own sync today; dropped here too so that no later sync
    /// could ever use one older than the lock.)
    pub fn drop_prefetched_listing(&self) {
        if let Ok(mut p) = self.prefetched.lock() {
            p.take();
        }
        if let Ok(mut p) = self.prefetched_index.lock() {
            p.take();
        }
    }

    fn snapshot_cache_dir(&self) -> Option<PathBuf> {
        self.local_dir.as_ref().map(|d| d.join("snapshots"))
    }

    /// The sealed bytes of a snapshot from the local copy, if there is one
    /// that hashes to its name.
    pub(super) fn cached_snapshot(&self, id: &SnapshotId) -> Option<Vec<u8>> {
        if !self.local_copies_allowed() {
            return None;
        }
        let path = self.snapshot_cache_dir()?.join(id.to_hex());
        let bytes = std::fs::read(&path).ok()?;
        if content_hash(&bytes) == id.0 {
            return Some(bytes);
        }
        tracing::debug!("dropping a damaged local copy of snapshot {id}");
        let _ = std::fs::remove_file(&path);
        None
    }

    /// Keeps a snapshot's sealed bytes (already checked against its name).
    /// Best effort: a read-only or full cache directory only costs reads.
    pub(super) fn keep_snapshot(&self, id: &SnapshotId, sealed: &[u8]) {
        let Some(dir) = self.snapshot_cache_dir() else {
            return;
        };
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| tree_cache::write_file(&dir.join(id.to_hex()), sealed));
        if let Err(e) = written {
            tracing::debug!("cannot keep a local copy of snapshot {id}: {e}");
        }
    }

    /// Deletes local copies of snapshots the repository no longer lists.
    pub(super) fn forget_unlisted_snapshots(&self, listed: &[SnapshotId]) {
        let Some(entries) = self
            .snapshot_cache_dir()
            .and_then(|d| std::fs::read_dir(d).ok())
        else {
            return;
        };
        let listed: HashSet<String> = listed.iter().map(|id| id.to_hex()).collect();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            // Files being written stay, unless a killed process left them.
            let drop = match tree_cache::is_temp(&name) {
                true => entry
                    .metadata()
                    .is_ok_and(|m| tree_cache::is_stale_temp(&m)),
                false => !listed.contains(name.as_ref()),
            };
            if drop {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::crypto::KdfParams;
    use crate::format::layout;
    use crate::format::snapshot::tests::sample;
    use crate::repo::{InitOptions, OpenOptions};
    use crate::storage::memory::MemoryStorage;

    fn open(storage: &Arc<MemoryStorage>, cache: &std::path::Path, prefetch: bool) -> Repository {
        let open = OpenOptions {
            cache_dir: Some(cache.to_path_buf()),
            prefetch_snapshots: prefetch,
        };
        Repository::open(storage.clone(), b"pw", open).unwrap()
    }

    /// A repository whose snapshot listing was taken at open, before
    /// another client stored snapshot `late`.
    fn listed_before_a_new_snapshot() -> (Repository, SnapshotId, [tempfile::TempDir; 2]) {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let storage = Arc::new(MemoryStorage::new());
        let opts = InitOptions {
            kdf: Some(KdfParams::insecure_for_tests()),
            ..Default::default()
        };
        let other = Repository::init(storage.clone(), b"pw", opts, Default::default()).unwrap();
        let repo = open(&storage, dirs[0].path(), true);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !repo
            .prefetched
            .lock()
            .unwrap()
            .as_ref()
            .unwrap()
            .is_finished()
        {
            assert!(Instant::now() < deadline, "the listing never finished");
            std::thread::sleep(Duration::from_millis(5));
        }
        let late = other.save_snapshot(&sample()).unwrap();
        (repo, late, dirs)
    }

    #[test]
    fn the_listing_taken_at_open_answers_the_first_call_once() {
        let (repo, late, _dirs) = listed_before_a_new_snapshot();
        assert_eq!(repo.snapshot_ids().unwrap(), vec![], "as listed at open");
        assert_eq!(repo.snapshot_ids().unwrap(), vec![late], "listed again");
    }

    #[test]
    fn a_lock_or_a_marker_drops_the_listing_taken_at_open() {
        let (repo, late, _dirs) = listed_before_a_new_snapshot();
        let guard = crate::repo::lock::acquire(&repo, "test", Default::default()).unwrap();
        assert_eq!(repo.snapshot_ids().unwrap(), vec![late]);
        guard.release().unwrap();
        let (repo, late, _dirs) = listed_before_a_new_snapshot();
        let marker = crate::repo::marker::start(&repo, Default::default()).unwrap();
        assert_eq!(repo.snapshot_ids().unwrap(), vec![late]);
        drop(marker);
    }

    #[test]
    fn snapshots_are_read_once_and_damaged_copies_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Arc::new(MemoryStorage::new());
        let opts = InitOptions {
            kdf: Some(KdfParams::insecure_for_tests()),
            ..Default::default()
        };
        let open_opts = OpenOptions {
            cache_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        let repo = Repository::init(storage.clone(), b"pw", opts, open_opts).unwrap();
        let id = repo.save_snapshot(&sample()).unwrap();
        assert_eq!(repo.load_snapshot(&id).unwrap(), sample());
        let copy = repo.snapshot_cache_dir().unwrap().join(id.to_hex());
        let stored = storage.get(&layout::snapshot(&id)).unwrap();
        assert_eq!(std::fs::read(&copy).unwrap(), stored);
        // The copy answers even when the stored file is gone...
        storage.delete(&layout::snapshot(&id)).unwrap();
        assert_eq!(repo.load_snapshot(&id).unwrap(), sample());
        // ...but not for a command that judges what is stored.
        let judge = open(&storage, dir.path(), false);
        let only = judge.read_storage_only();
        assert!(judge.load_snapshot(&id).is_err());
        drop(only);
        assert_eq!(
            judge.load_snapshot(&id).unwrap(),
            sample(),
            "copies answer again"
        );
        // A damaged copy is dropped and the stored file read again.
        storage
            .put(&layout::snapshot(&id), stored.clone().into())
            .unwrap();
        let mut bad = stored.clone();
        bad[10] ^= 1;
        std::fs::write(&copy, &bad).unwrap();
        assert_eq!(repo.load_snapshot(&id).unwrap(), sample());
        assert_eq!(std::fs::read(&copy).unwrap(), stored);
        // A snapshot no longer listed loses its copy at the next listing.
        storage.delete(&layout::snapshot(&id)).unwrap();
        assert_eq!(repo.snapshot_ids().unwrap(), vec![]);
        assert!(!copy.exists());
    }

    /// Storage whose `config` GET and key listing each wait (up to 20 s)
    /// for the other to start: it counts how often they met, that is,
    /// whether both were in flight together.
    #[derive(Default)]
    struct Rendezvous {
        inner: Arc<MemoryStorage>,
        /// (config asked, key listing started)
        seen: std::sync::Mutex<(bool, bool)>,
        changed: std::sync::Condvar,
        met: std::sync::atomic::AtomicUsize,
    }

    impl Rendezvous {
        fn meet(&self, mark: impl Fn(&mut (bool, bool)), both: impl Fn(&(bool, bool)) -> bool) {
            let mut seen = self.seen.lock().unwrap();
            mark(&mut seen);
            self.changed.notify_all();
            let (seen, _) = self
                .changed
                .wait_timeout_while(seen, Duration::from_secs(20), |s| !both(s))
                .unwrap();
            if both(&seen) {
                self.met.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    impl Storage for Rendezvous {
        fn put(&self, key: &str, data: bytes::Bytes) -> StorageResult<()> {
            self.inner.put(key, data)
        }
        fn put_if_absent(&self, key: &str, data: bytes::Bytes) -> StorageResult<bool> {
            self.inner.put_if_absent(key, data)
        }
        fn get(&self, key: &str) -> StorageResult<Vec<u8>> {
            if key == layout::CONFIG {
                self.meet(|s| s.0 = true, |s| s.1);
            }
            self.inner.get(key)
        }
        fn get_range(&self, key: &str, offset: u64, len: u64) -> StorageResult<Vec<u8>> {
            self.inner.get_range(key, offset, len)
        }
        fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectInfo>> {
            if prefix == layout::KEYS_PREFIX {
                self.meet(|s| s.1 = true, |s| s.0);
            }
            self.inner.list(prefix)
        }
        fn delete(&self, key: &str) -> StorageResult<()> {
            self.inner.delete(key)
        }
        fn location(&self) -> String {
            self.inner.location()
        }
        fn as_dyn(&self) -> &dyn Storage {
            self
        }
    }

    #[test]
    fn opening_asks_for_the_config_and_the_key_list_at_once() {
        let storage = Arc::new(MemoryStorage::new());
        let opts = InitOptions {
            kdf: Some(KdfParams::insecure_for_tests()),
            ..Default::default()
        };
        Repository::init(storage.clone(), b"pw", opts, Default::default()).unwrap();
        let r = Arc::new(Rendezvous {
            inner: storage,
            ..Default::default()
        });
        Repository::open(r.clone(), b"pw", Default::default()).unwrap();
        let met = r.met.load(Ordering::Relaxed);
        assert_eq!(met, 2, "one round trip after the other");
    }
}
