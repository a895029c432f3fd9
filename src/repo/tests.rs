//! Repository-level tests on in-memory storage.

use std::sync::Arc;

use crate::crypto::KdfParams;
use crate::format::index::{BlobKind, IndexFile};
use crate::format::layout;
use crate::ids::{BlobId, IndexId};
use crate::repo::{BlobWriter, InitOptions, OpenOptions, Repository};
use crate::storage::memory::MemoryStorage;
use crate::storage::Storage;

fn init(storage: Arc<MemoryStorage>, cache: &std::path::Path) -> Repository {
    let opts = InitOptions {
        kdf: Some(KdfParams::insecure_for_tests()),
        ..Default::default()
    };
    let open = OpenOptions {
        cache_dir: Some(cache.to_path_buf()),
        ..Default::default()
    };
    Repository::init(storage, b"pw", opts, open).unwrap()
}

fn open(storage: Arc<MemoryStorage>, cache: &std::path::Path) -> Repository {
    let open = OpenOptions {
        cache_dir: Some(cache.to_path_buf()),
        ..Default::default()
    };
    Repository::open(storage, b"pw", open).unwrap()
}

#[test]
fn a_superseded_index_file_never_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(MemoryStorage::new());
    let repo = init(storage.clone(), dir.path());
    let data = b"blob in a pack that prune will delete";
    let id = BlobId(repo.keys().blob_id(data));
    let w = BlobWriter::new(&repo);
    w.add_if_new(BlobKind::Data, id, data).unwrap();
    w.finish().unwrap();
    let old: Vec<IndexId> = storage
        .list(layout::INDEX_PREFIX)
        .unwrap()
        .iter()
        .filter_map(|o| layout::parse_id(&o.key))
        .collect();
    assert_eq!(old.len(), 1);
    let pack = repo.locate(BlobKind::Data, &id).unwrap().unwrap().pack;
    // A replacement index that drops the pack, then the pack deleted; the
    // old index file is left behind as if its deleter had crashed.
    repo.save_index_file(IndexFile {
        supersedes: old.clone(),
        ..Default::default()
    })
    .unwrap();
    storage.delete(&layout::pack(&pack)).unwrap();
    drop(repo);
    for round in 0..3 {
        // Fresh and reused caches alike must ignore the superseded file.
        let cache = if round == 0 {
            dir.path().join("fresh")
        } else {
            dir.path().to_path_buf()
        };
        let repo = open(storage.clone(), &cache);
        assert!(
            !repo.cache().contains(BlobKind::Data, &id).unwrap(),
            "round {round}: a superseded index brought a deleted pack back"
        );
    }
}

#[test]
fn a_losing_concurrent_init_leaves_no_key_and_the_winner_opens() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(MemoryStorage::new());
    let _winner = init(storage.clone(), dir.path());
    let again = Repository::init(
        storage.clone(),
        b"pw",
        InitOptions {
            kdf: Some(KdfParams::insecure_for_tests()),
            ..Default::default()
        },
        OpenOptions::default(),
    );
    assert!(again.is_err());
    assert_eq!(storage.list(layout::KEYS_PREFIX).unwrap().len(), 1);
    open(storage, dir.path());
}

#[test]
fn condemned_packs_are_readable_but_not_offered_for_dedup() {
    use crate::format::index::CondemnedPack;
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(MemoryStorage::new());
    let repo = init(storage.clone(), dir.path());
    let data = b"a blob in a pack prune condemns";
    let id = BlobId(repo.keys().blob_id(data));
    let w = BlobWriter::new(&repo);
    w.add_if_new(BlobKind::Data, id, data).unwrap();
    w.finish().unwrap();
    let pack = repo.locate(BlobKind::Data, &id).unwrap().unwrap().pack;
    repo.save_index_file(IndexFile {
        condemned: vec![CondemnedPack { id: pack, since: 1 }],
        ..Default::default()
    })
    .unwrap();
    assert!(!repo.cache().contains(BlobKind::Data, &id).unwrap());
    assert_eq!(repo.read_blob(BlobKind::Data, &id).unwrap(), data);
    // The writer stores it again, and reads now prefer the live copy.
    let w = BlobWriter::new(&repo);
    assert!(w.add_if_new(BlobKind::Data, id, data).unwrap());
    w.finish().unwrap();
    let again = repo.locate(BlobKind::Data, &id).unwrap().unwrap().pack;
    assert_ne!(again, pack);
    assert!(repo.cache().contains(BlobKind::Data, &id).unwrap());
    // Reopening with a fresh cache sees the same condemnation.
    let fresh = open(storage, &dir.path().join("fresh"));
    assert_eq!(fresh.condemned_packs().unwrap().len(), 1);
}

#[test]
fn lookups_still_answer_after_the_cache_memory_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(MemoryStorage::new());
    let repo = init(storage, dir.path());
    let data = b"a blob written before the release";
    let id = BlobId(repo.keys().blob_id(data));
    let w = BlobWriter::new(&repo);
    w.add_if_new(BlobKind::Data, id, data).unwrap();
    w.finish().unwrap();
    repo.release_memory().unwrap();
    assert!(repo.locate(BlobKind::Data, &id).unwrap().is_some());
    assert_eq!(repo.index_counts().unwrap().0, 1);
}

/// `init --copy-chunking-from`: the new repository names and cuts blobs as
/// the source does (after reopening, too), with encryption keys of its own,
/// and a put-only key made for it carries the shared chunking.
#[test]
fn shared_chunking_keeps_ids_but_not_encryption_keys() {
    use crate::format::config::{ChunkerParams, Config};
    let dir = tempfile::tempdir().unwrap();
    let a_store = Arc::new(MemoryStorage::new());
    let a = init(a_store.clone(), &dir.path().join("a"));
    let b_store = Arc::new(MemoryStorage::new());
    let params = ChunkerParams {
        min_size: 64 * 1024,
        avg_size: 128 * 1024,
        max_size: 1 << 20,
    };
    let opts = InitOptions {
        kdf: Some(KdfParams::insecure_for_tests()),
        chunking: Some((params, a.shared_chunking().unwrap().1)),
        ..Default::default()
    };
    let cache = OpenOptions {
        cache_dir: Some(dir.path().join("b")),
        ..Default::default()
    };
    drop(Repository::init(b_store.clone(), b"pw", opts, cache).unwrap());
    let b = open(b_store.clone(), &dir.path().join("b2"));
    assert_eq!(b.config().version, crate::format::SHARED_CHUNKING_VERSION);
    assert_eq!(b.config().chunker, params);
    assert_eq!(a.keys().blob_id(b"x"), b.keys().blob_id(b"x"));
    assert_eq!(a.keys().gear()[..], b.keys().gear()[..]);
    assert_eq!(b.keys().put_keys().id, a.keys().put_keys().id);
    // A's keys cannot read B's config: the encryption keys are B's own.
    let b_config = b_store.get(layout::CONFIG).unwrap();
    assert!(Config::decode(&b_config, a.keys()).is_err());
    // An ordinary repository derives different ones.
    let c = init(Arc::new(MemoryStorage::new()), &dir.path().join("c"));
    assert_ne!(a.keys().blob_id(b"x"), c.keys().blob_id(b"x"));
}

/// An Object Lock repository reached through storage that cannot set
/// retention (a proxy or bucket without Object Lock) is refused at open,
/// naming the reason, not at its first write.
#[test]
fn an_object_lock_repository_without_object_lock_underneath_is_refused_at_open() {
    use crate::format::config::{LockKind, RetentionLock};
    use crate::storage::lock_sim::LockSimStorage;
    use std::sync::atomic::AtomicI64;
    let dir = tempfile::tempdir().unwrap();
    let inner = Arc::new(MemoryStorage::new());
    let clock = Arc::new(AtomicI64::new(crate::time::now().0.secs));
    let locked = Arc::new(LockSimStorage::new(inner.clone(), clock));
    let opts = InitOptions {
        kdf: Some(KdfParams::insecure_for_tests()),
        lock: Some(RetentionLock {
            kind: LockKind::ObjectLockCompliance,
            days: 1,
        }),
        ..Default::default()
    };
    let cache = OpenOptions {
        cache_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    drop(Repository::init(locked.clone(), b"pw", opts, cache.clone()).unwrap());
    assert!(Repository::open(locked, b"pw", cache.clone()).is_ok());
    let err = Repository::open(inner, b"pw", cache)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("no Object Lock"), "{err}");
}
