//! Opening in one round trip before the KDF: the key file remembered from
//! the last open goes out with the config and the key list, and is used
//! only while the key list still names it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::crypto::KdfParams;
use crate::error::Error;
use crate::format::index::BlobKind;
use crate::format::layout::{INDEX_PREFIX, KEYS_PREFIX};
use crate::ids::BlobId;
use crate::repo::BlobWriter;
use crate::repo::{InitOptions, NewKey, OpenOptions, Repository};
use crate::storage::memory::MemoryStorage;
use crate::storage::{ObjectInfo, Storage, StorageResult};

/// Memory storage that can (a) hold the key listing back until a key file
/// read has started, and (b) keep serving deleted objects to reads while
/// no listing shows them, as a stale replica or caching proxy would.
#[derive(Default)]
struct Slow {
    inner: MemoryStorage,
    hold_key_list: AtomicBool,
    key_read_started: (Mutex<bool>, Condvar),
    /// Whether the held key listing saw a key file read start.
    overlapped: Mutex<Option<bool>>,
    lingering: Mutex<HashMap<String, Vec<u8>>>,
    /// An object the next listing of `index/` leaves out, as a listing
    /// taken just before another process stored it would.
    unlisted_once: Mutex<Option<String>>,
    /// An object deleted just after the next listing of `index/` showed
    /// it, as a prune replacing it between that listing and its read would.
    deleted_after_listing: Mutex<Option<String>>,
}

impl Storage for Slow {
    fn put(&self, key: &str, data: Bytes) -> StorageResult<()> {
        self.inner.put(key, data)
    }
    fn put_if_absent(&self, key: &str, data: Bytes) -> StorageResult<bool> {
        self.inner.put_if_absent(key, data)
    }
    fn get(&self, key: &str) -> StorageResult<Vec<u8>> {
        if key.starts_with(KEYS_PREFIX) {
            *self.key_read_started.0.lock().unwrap() = true;
            self.key_read_started.1.notify_all();
        }
        match self.inner.get(key) {
            Err(e) if e.is_not_found() => match self.lingering.lock().unwrap().get(key) {
                Some(bytes) => Ok(bytes.clone()),
                None => Err(e),
            },
            got => got,
        }
    }
    fn get_range(&self, key: &str, offset: u64, len: u64) -> StorageResult<Vec<u8>> {
        self.inner.get_range(key, offset, len)
    }
    fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectInfo>> {
        if prefix == KEYS_PREFIX && self.hold_key_list.load(Ordering::SeqCst) {
            // Wait (generously) for a key file read to start.
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut started = self.key_read_started.0.lock().unwrap();
            while !*started && Instant::now() < deadline {
                started = self
                    .key_read_started
                    .1
                    .wait_timeout(started, Duration::from_millis(100))
                    .unwrap()
                    .0;
            }
            *self.overlapped.lock().unwrap() = Some(*started);
        }
        let mut listed = self.inner.list(prefix)?;
        if prefix == INDEX_PREFIX {
            if let Some(gone) = self.deleted_after_listing.lock().unwrap().take() {
                self.inner.delete(&gone)?;
            }
            if let Some(hidden) = self.unlisted_once.lock().unwrap().take() {
                listed.retain(|o| o.key != hidden);
            }
        }
        Ok(listed)
    }
    fn delete(&self, key: &str) -> StorageResult<()> {
        if let Ok(bytes) = self.inner.get(key) {
            self.lingering.lock().unwrap().insert(key.into(), bytes);
        }
        self.inner.delete(key)
    }
    fn location(&self) -> String {
        "slow:".into()
    }
    fn as_dyn(&self) -> &dyn Storage {
        self
    }
}

fn open(
    storage: &std::sync::Arc<Slow>,
    cache: &std::path::Path,
    pw: &[u8],
) -> crate::Result<Repository> {
    let open = OpenOptions {
        cache_dir: Some(cache.to_path_buf()),
        prefetch_snapshots: true,
    };
    Repository::open(storage.clone(), pw, open)
}

fn setup() -> (std::sync::Arc<Slow>, tempfile::TempDir) {
    let storage = std::sync::Arc::new(Slow::default());
    let dir = tempfile::tempdir().unwrap();
    let opts = InitOptions {
        kdf: Some(KdfParams::insecure_for_tests()),
        ..Default::default()
    };
    Repository::init(storage.clone(), b"first", opts, OpenOptions::default()).unwrap();
    (storage, dir)
}

#[test]
fn the_key_file_that_opened_last_goes_out_with_the_key_list() {
    let (storage, dir) = setup();
    open(&storage, dir.path(), b"first").unwrap();
    storage.hold_key_list.store(true, Ordering::SeqCst);
    let repo = open(&storage, dir.path(), b"first").unwrap();
    assert_eq!(
        *storage.overlapped.lock().unwrap(),
        Some(true),
        "the key file was read only after the key list came back"
    );
    // The listings taken at open answer as fresh ones would.
    assert_eq!(repo.snapshot_ids().unwrap(), vec![]);
    assert_eq!(repo.index_counts().unwrap(), (0, 0));
}

#[test]
fn a_removed_key_does_not_open_from_a_copy_that_outlived_it() {
    let (storage, dir) = setup();
    let first = open(&storage, dir.path(), b"first").unwrap();
    let new = NewKey {
        password: b"second",
        kdf: KdfParams::insecure_for_tests(),
        host: "h".into(),
        username: "u".into(),
    };
    first.add_key(b"first", &new).unwrap();
    // Another client removes the first key; reads still serve its bytes.
    let other = Repository::open(storage.clone(), b"second", OpenOptions::default()).unwrap();
    other.remove_key(&first.key_id(), false, None).unwrap();
    let removed = crate::format::layout::key(&first.key_id());
    assert!(storage.lingering.lock().unwrap().contains_key(&removed));
    let err = open(&storage, dir.path(), b"first").err().expect("refused");
    assert!(matches!(err, Error::WrongPassword), "{err:?}");
    // The second key opens, remembered or not.
    open(&storage, dir.path(), b"second").unwrap();
    open(&storage, dir.path(), b"second").unwrap();
}

#[test]
fn an_index_listing_older_than_the_cache_is_not_trusted_to_drop_files() {
    let (storage, dir) = setup();
    // Another process sharing the cache stores an index file...
    let writer = open(&storage, dir.path(), b"first").unwrap();
    let id = BlobId(writer.keys().blob_id(b"data"));
    let w = BlobWriter::new(&writer);
    w.add_if_new(BlobKind::Data, id, b"data").unwrap();
    w.finish().unwrap();
    let written = storage.inner.list(INDEX_PREFIX).unwrap();
    assert_eq!(written.len(), 1);
    let known = writer.cache().known_index_files().unwrap();
    assert_eq!(known.len(), 1, "the writer recorded its index file");
    // ...after this open's early listing was taken: the file is known to
    // the cache but missing from that listing, which must not drop it.
    *storage.unlisted_once.lock().unwrap() = Some(written[0].key.clone());
    let repo = open(&storage, dir.path(), b"first").unwrap();
    assert!(
        storage.unlisted_once.lock().unwrap().is_none(),
        "listed early"
    );
    assert!(repo.locate(BlobKind::Data, &id).unwrap().is_some());
    assert_eq!(repo.cache().known_index_files().unwrap(), known);
}

#[test]
fn an_index_file_deleted_after_the_early_listing_does_not_fail_the_open() {
    let (storage, dir) = setup();
    let writer = open(&storage, dir.path(), b"first").unwrap();
    let w = BlobWriter::new(&writer);
    let id = BlobId(writer.keys().blob_id(b"data"));
    w.add_if_new(BlobKind::Data, id, b"data").unwrap();
    w.finish().unwrap();
    let written = storage.inner.list(INDEX_PREFIX).unwrap();
    // A host whose cache lacks the file lists it at open; a prune deletes
    // it before the read (its replacer is not needed to show the race).
    *storage.deleted_after_listing.lock().unwrap() = Some(written[0].key.clone());
    let fresh = tempfile::tempdir().unwrap();
    let repo = open(&storage, fresh.path(), b"first").expect("the sync lists again");
    assert!(storage.deleted_after_listing.lock().unwrap().is_none());
    assert!(repo.cache().known_index_files().unwrap().is_empty());
}
