//! Opening with a put-only key: refused by `open` before any object but
//! the config and key files is read; `open_for_backup` writes sealed
//! objects the full key reads and reads nothing itself.

use std::sync::Arc;

use bytes::Bytes;

use crate::crypto::KdfParams;
use crate::error::ErrorKind;
use crate::format::index::BlobKind;
use crate::format::layout;
use crate::ids::BlobId;
use crate::repo::{BlobWriter, InitOptions, NewKey, OpenOptions, Repository};
use crate::storage::memory::MemoryStorage;
use crate::storage::Storage;

fn options(dir: &std::path::Path) -> OpenOptions {
    OpenOptions {
        cache_dir: Some(dir.to_path_buf()),
        ..Default::default()
    }
}

fn setup(dir: &std::path::Path) -> (Arc<MemoryStorage>, Repository) {
    let storage = Arc::new(MemoryStorage::new());
    let init = InitOptions {
        kdf: Some(KdfParams::insecure_for_tests()),
        ..Default::default()
    };
    let repo = Repository::init(storage.clone(), b"full", init, options(dir)).unwrap();
    let new = NewKey {
        password: b"put",
        kdf: KdfParams::insecure_for_tests(),
        host: "h".into(),
        username: "u".into(),
    };
    repo.add_put_only_key(b"full", &new).unwrap();
    (storage, repo)
}

#[test]
fn open_refuses_a_put_only_key_before_reading_any_data() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, full) = setup(dir.path());
    let w = BlobWriter::new(&full);
    w.add_if_new(BlobKind::Data, BlobId(full.keys().blob_id(b"x")), b"x")
        .unwrap();
    w.finish().unwrap();
    // Every index file replaced by garbage: reading one would be a
    // corruption error, not the refusal.
    for o in storage.list(layout::INDEX_PREFIX).unwrap() {
        storage.put(&o.key, Bytes::from_static(b"garbage")).unwrap();
    }
    let err = Repository::open(storage.clone(), b"put", options(dir.path()))
        .err()
        .expect("refused");
    assert_eq!(err.kind(), ErrorKind::PutOnlyKey, "{err}");
    assert!(err.to_string().contains("put-only"), "{err}");
    // The backup path opens it, without reading the (garbage) index.
    let put = Repository::open_for_backup(storage.clone(), b"put", options(dir.path())).unwrap();
    assert!(put.is_put_only());
    // A wrong password is still a wrong password.
    let err = Repository::open(storage, b"nope", options(dir.path()))
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::WrongPassword);
}

#[test]
fn what_a_put_only_key_writes_the_full_key_reads_and_it_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, full) = setup(dir.path());
    let put = Repository::open_for_backup(storage.clone(), b"put", options(dir.path())).unwrap();
    assert_eq!(put.config(), full.config());
    let data = b"written by a put-only key";
    let id = BlobId(put.keys().blob_id(data));
    assert_eq!(
        id.0,
        full.keys().blob_id(data),
        "same blob ids: dedup works"
    );
    let w = BlobWriter::new(&put);
    w.add_if_new(BlobKind::Data, id, data).unwrap();
    w.finish().unwrap();
    // Its own cache knows the blob (dedup); reading it back is refused.
    assert!(put.cache().contains(BlobKind::Data, &id).unwrap());
    let err = put.read_blob(BlobKind::Data, &id).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PutOnlyKey, "{err}");
    // The full key syncs the sealed index and opens the sealed blob.
    full.sync_index().unwrap();
    assert_eq!(full.read_blob(BlobKind::Data, &id).unwrap(), data);
    // The full key's own cache directory is not the put-only key's.
    assert_ne!(put.local_dir(), full.local_dir());
}

/// A put-only key can write sealed index files, but one that supersedes
/// or condemns (what only a full key's prune writes) is refused: it would
/// hide the real index or skip the grace period.
#[test]
fn a_sealed_index_file_that_supersedes_or_condemns_is_refused() {
    use crate::format::index::{CondemnedPack, IndexFile};
    use crate::ids::PackId;
    let dir = tempfile::tempdir().unwrap();
    let (storage, full) = setup(dir.path());
    let w = BlobWriter::new(&full);
    let id = BlobId(full.keys().blob_id(b"kept"));
    w.add_if_new(BlobKind::Data, id, b"kept").unwrap();
    w.finish().unwrap();
    let real = full.index_ids().unwrap();
    let put = Repository::open_for_backup(storage.clone(), b"put", options(dir.path())).unwrap();
    let forged = [
        IndexFile {
            supersedes: real.clone(),
            ..Default::default()
        },
        IndexFile {
            condemned: vec![CondemnedPack {
                id: PackId([7; 32]),
                since: 0,
            }],
            ..Default::default()
        },
    ];
    for file in forged {
        let forged_id = put.save_index_file(file).unwrap();
        let err = full.load_index_file(&forged_id).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
        assert!(err.to_string().contains("put-only"), "{err}");
    }
    // A fresh full-key view still holds the real index.
    let fresh = tempfile::tempdir().unwrap();
    let again = Repository::open(storage, b"full", options(fresh.path())).unwrap();
    assert!(again.cache().contains(BlobKind::Data, &id).unwrap());
}

/// On an Object Lock repository, what a put-only key writes is retained
/// like a full key's writes (a stolen put-only machine must not be able
/// to delete its recent backups).
#[test]
fn a_put_only_key_writes_retained_objects_under_object_lock() {
    use crate::format::config::{LockKind, RetentionLock};
    use crate::storage::lock_sim::LockSimStorage;
    use std::sync::atomic::AtomicI64;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicI64::new(crate::time::now().0.secs));
    let storage = Arc::new(LockSimStorage::new(MemoryStorage::new(), clock));
    let init = InitOptions {
        kdf: Some(KdfParams::insecure_for_tests()),
        lock: Some(RetentionLock {
            kind: LockKind::ObjectLockCompliance,
            days: 1,
        }),
        ..Default::default()
    };
    let full = Repository::init(storage.clone(), b"full", init, options(dir.path())).unwrap();
    let new = NewKey {
        password: b"put",
        kdf: KdfParams::insecure_for_tests(),
        host: "h".into(),
        username: "u".into(),
    };
    full.add_put_only_key(b"full", &new).unwrap();
    let before = storage.locked_keys().len();
    let put = Repository::open_for_backup(storage.clone(), b"put", options(dir.path())).unwrap();
    let w = BlobWriter::new(&put);
    w.add_if_new(BlobKind::Data, BlobId(put.keys().blob_id(b"p")), b"p")
        .unwrap();
    w.finish().unwrap();
    let locked = storage.locked_keys();
    assert!(locked.len() >= before + 2, "{locked:?}");
    for prefix in [layout::PACKS_PREFIX, layout::INDEX_PREFIX] {
        for o in storage.list(prefix).unwrap() {
            assert!(locked.contains(&o.key), "{} not retained", o.key);
        }
    }
}

/// A put-only client forgets the rows of an id list no longer stored (a
/// lying one `check` named and an operator deleted, or one a prune removed
/// with its index file), though its pack is still there and not condemned:
/// it must not go on deduplicating against what the list claimed.
#[test]
fn rows_of_an_id_list_no_longer_stored_are_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, full) = setup(dir.path());
    let id = BlobId(full.keys().blob_id(b"x"));
    let w = BlobWriter::new(&full);
    w.add_if_new(BlobKind::Data, id, b"x").unwrap();
    w.finish().unwrap();
    let lists = storage.list(layout::IDS_PREFIX).unwrap();
    assert!(!lists.is_empty(), "the full key wrote an id list");
    let put = Repository::open_for_backup(storage.clone(), b"put", options(dir.path())).unwrap();
    assert!(
        put.cache().contains(BlobKind::Data, &id).unwrap(),
        "learned"
    );
    for o in lists {
        storage.delete(&o.key).unwrap();
    }
    put.sync_index().unwrap();
    assert!(
        !put.cache().contains(BlobKind::Data, &id).unwrap(),
        "forgotten"
    );
}
