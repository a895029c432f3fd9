//! The writer over a backend whose uploads finish only when the test says
//! so: packs stay in flight together, and no index names a pack before its
//! upload is confirmed, nor ever one whose upload failed.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::crypto::KdfParams;
use crate::format::index::BlobKind;
use crate::format::layout;
use crate::ids::BlobId;
use crate::repo::{BlobWriter, InitOptions, OpenOptions, Repository};
use crate::storage::memory::MemoryStorage;
use crate::storage::{
    ObjectInfo, Pending, PendingSender, Staged, Storage, StorageError, StorageErrorKind,
    StorageResult,
};

/// Uploads held back by [`Gated`]: key, bytes, and whom to tell.
type Held = Arc<Mutex<Vec<(String, Bytes, PendingSender)>>>;

/// Memory storage whose staged commits wait in `held` until released.
struct Gated {
    inner: MemoryStorage,
    held: Held,
}

struct GatedStaged {
    buf: Vec<u8>,
    held: Held,
}

impl Staged for GatedStaged {
    fn write(&mut self, data: &[u8]) -> StorageResult<()> {
        self.buf.extend_from_slice(data);
        Ok(())
    }
    fn len(&self) -> u64 {
        self.buf.len() as u64
    }
    fn commit(self: Box<Self>, key: &str) -> StorageResult<()> {
        self.commit_background(key)?.wait()
    }
    fn commit_background(self: Box<Self>, key: &str) -> StorageResult<Pending> {
        let (tx, pending) = Pending::channel();
        let mut held = self.held.lock().unwrap();
        held.push((key.to_string(), Bytes::from(self.buf), tx));
        Ok(pending)
    }
}

impl Storage for Gated {
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
        self.inner.delete(key)
    }
    fn location(&self) -> String {
        "gated".into()
    }
    fn stage(&self) -> StorageResult<Box<dyn Staged + '_>> {
        Ok(Box::new(GatedStaged {
            buf: Vec::new(),
            held: self.held.clone(),
        }))
    }
    fn as_dyn(&self) -> &dyn Storage {
        self
    }
}

/// Finishes the held uploads: stored and confirmed, or failed for keys
/// `fail` picks.
fn release(storage: &Gated, fail: impl Fn(&str) -> bool) -> usize {
    let held = std::mem::take(&mut *storage.held.lock().unwrap());
    let n = held.len();
    for (key, data, tx) in held {
        if fail(&key) {
            tx.send(Err(StorageError::new(
                StorageErrorKind::Permanent,
                "put",
                &key,
                "refused",
            )));
        } else {
            storage.inner.put(&key, data).unwrap();
            tx.send(Ok(()));
        }
    }
    n
}

fn setup(dir: &std::path::Path) -> (Arc<Gated>, Repository) {
    let storage = Arc::new(Gated {
        inner: MemoryStorage::new(),
        held: Arc::default(),
    });
    let opts = InitOptions {
        kdf: Some(KdfParams::insecure_for_tests()),
        pack_size: 1 << 20,
        compression: None,
        ..Default::default()
    };
    let open = OpenOptions {
        cache_dir: Some(dir.to_path_buf()),
        ..Default::default()
    };
    let repo = Repository::init(storage.clone(), b"pw", opts, open).unwrap();
    (storage, repo)
}

/// Adds `n` incompressible 300 KiB blobs (a 1 MiB pack is full at 4).
fn add_blobs(repo: &Repository, w: &BlobWriter, n: u64) -> Vec<BlobId> {
    (0..n)
        .map(|i| {
            let mut data = vec![0u8; 300 * 1024];
            let mut h = blake3::Hasher::new();
            h.update(&i.to_le_bytes());
            h.finalize_xof().fill(&mut data);
            let id = BlobId(repo.keys().blob_id(&data));
            assert!(w.add_if_new(BlobKind::Data, id, &data).unwrap());
            id
        })
        .collect()
}

#[test]
fn packs_stay_in_flight_and_are_indexed_only_once_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, repo) = setup(dir.path());
    let w = BlobWriter::new(&repo);
    // 41 blobs: 10 full packs of 4, and one blob left for `finish`.
    let ids = add_blobs(&repo, &w, 41);
    let in_flight = storage.held.lock().unwrap().len();
    assert_eq!(in_flight, 10, "all full packs are in flight at once");
    assert!(
        storage.list(layout::INDEX_PREFIX).unwrap().is_empty(),
        "index before upload"
    );
    assert_eq!(w.stats().packs_added, 0);
    release(&storage, |_| false);
    // The finish commits the partial pack; release it from another thread.
    let s2 = storage.clone();
    let releaser = std::thread::spawn(move || {
        while release(&s2, |_| false) == 0 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    });
    let stats = w.finish().unwrap();
    releaser.join().unwrap();
    assert_eq!(stats.packs_added as usize, in_flight + 1);
    for id in ids {
        let loc = repo.locate(BlobKind::Data, &id).unwrap().expect("indexed");
        storage
            .get(&layout::pack(&loc.pack))
            .expect("indexed pack is stored");
    }
}

#[test]
fn a_failed_upload_fails_the_writer_and_is_never_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, repo) = setup(dir.path());
    let w = BlobWriter::new(&repo);
    let ids = add_blobs(&repo, &w, 40);
    let first = storage.held.lock().unwrap()[0].0.clone();
    release(&storage, |k| k == first);
    let err = w.finish().expect_err("a refused pack must fail the writer");
    assert!(err.to_string().contains("refused"), "{err}");
    drop(repo);
    // A fresh cache sees only what the index files say.
    let fresh = tempfile::tempdir().unwrap();
    let open = OpenOptions {
        cache_dir: Some(fresh.path().to_path_buf()),
        ..Default::default()
    };
    let repo = Repository::open(storage.clone(), b"pw", open).unwrap();
    let mut indexed = 0;
    for id in ids {
        if let Some(loc) = repo.locate(BlobKind::Data, &id).unwrap() {
            storage
                .get(&layout::pack(&loc.pack))
                .expect("indexed pack is stored");
            indexed += 1;
        }
    }
    assert!(storage.get(&first).is_err());
    assert!(
        indexed > 0,
        "packs confirmed before the failure were indexed"
    );
}

/// Cancelled: the writer refuses more work; abandoning it indexes the
/// packs already uploaded and drops the one being filled.
#[test]
fn a_stopped_writer_refuses_work_and_abandon_indexes_what_was_uploaded() {
    struct Stop(std::sync::atomic::AtomicBool);
    impl crate::progress::Progress for Stop {
        fn cancelled(&self) -> bool {
            self.0.load(std::sync::atomic::Ordering::Relaxed)
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (storage, repo) = setup(dir.path());
    let stop = Stop(Default::default());
    let w = BlobWriter::new(&repo).stop_when(&stop);
    let ids = add_blobs(&repo, &w, 9); // two full packs and one blob
    stop.0.store(true, std::sync::atomic::Ordering::Relaxed);
    let err = w.is_known(BlobKind::Data, &ids[0]).unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Interrupted);
    let err = w.add_if_new(BlobKind::Data, ids[0], b"x").unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Interrupted);
    assert_eq!(release(&storage, |_| false), 2);
    let indexed = w.abandon().unwrap();
    assert!(indexed > 8 * 300 * 1024, "{indexed}");
    for id in &ids[..8] {
        assert!(repo.locate(BlobKind::Data, id).unwrap().is_some());
    }
    assert!(repo.locate(BlobKind::Data, &ids[8]).unwrap().is_none());
    assert_eq!(storage.list(layout::PACKS_PREFIX).unwrap().len(), 2);
}
