//! Object Lock through the proxy, on a backend that simulates it
//! (`storage::lock_sim`): an Object Lock repository is created and backed
//! up over `rest:`, every immutable object gets its retention on the
//! bucket, an `append` token cannot shorten one, and a DELETE with a
//! `full` token is refused by the (simulated) bucket while it holds.

use std::sync::atomic::AtomicI64;
use std::sync::Arc;

use bytes::Bytes;

use cairn::backup::{backup, BackupOptions};
use cairn::crypto::KdfParams;
use cairn::format::config::{LockKind, RetentionLock};
use cairn::progress::NoProgress;
use cairn::repo::{InitOptions, OpenOptions, Repository};
use cairn::source::fs::{FsOptions, FsSource};
use cairn::storage::lock_sim::LockSimStorage;
use cairn::storage::memory::MemoryStorage;
use cairn::storage::retry::{RetryPolicy, RetryStorage};
use cairn::storage::{RetentionMode, Storage, StorageErrorKind};

use super::tests::{client, start, APPEND, FULL, HEX};

#[test]
fn an_object_lock_repository_works_through_the_proxy_and_its_objects_are_retained() {
    let tmp = tempfile::tempdir().unwrap();
    let now = cairn::time::now().0.secs;
    let sim = Arc::new(LockSimStorage::new(
        MemoryStorage::new(),
        Arc::new(AtomicI64::new(now)),
    ));
    let loc = start(sim.clone());
    let open = || OpenOptions {
        cache_dir: Some(tmp.path().join("cache")),
        ..Default::default()
    };
    let init = InitOptions {
        kdf: Some(KdfParams::insecure_for_tests()),
        lock: Some(RetentionLock {
            kind: LockKind::ObjectLockCompliance,
            days: 2,
        }),
        ..Default::default()
    };
    let full: Arc<dyn Storage> = Arc::new(client(&loc, FULL));
    Repository::init(full.clone(), b"pw", init, open()).unwrap();
    // A backup with the append token, as a client machine runs it.
    let append: Arc<dyn Storage> = Arc::new(RetryStorage::new(
        client(&loc, APPEND),
        RetryPolicy::default(),
    ));
    let repo = Repository::open(append.clone(), b"pw", open()).unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), vec![5u8; 200_000]).unwrap();
    let fs = FsOptions {
        paths: vec![src],
        ..Default::default()
    };
    let mut source = FsSource::new(fs).unwrap();
    backup(&repo, &mut source, &BackupOptions::default(), &NoProgress).unwrap();

    let packs = sim.list("packs/").unwrap();
    assert!(!packs.is_empty());
    let locked = sim.locked_keys();
    for o in packs.iter().chain(&sim.list("snapshots/").unwrap()) {
        assert!(locked.contains(&o.key), "{} has no retention", o.key);
        let until = append.retention(&o.key).unwrap().expect("retained");
        assert!(until > now + 2 * 86_400 - 600, "{until}");
    }
    let pack = &packs[0].key;
    // An append token cannot shorten it (nor a full one, on this bucket).
    let err = append
        .set_retention(pack, now + 60, RetentionMode::Compliance)
        .unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Permanent, "{err}");
    assert!(err.to_string().contains("never shorten"), "{err}");
    // Nor delete it; a full token's DELETE is refused by the bucket.
    assert!(append.delete(pack).is_err());
    let err = full.delete(pack).unwrap_err();
    assert!(err.to_string().contains("locked"), "{err}");
    assert!(sim.get(pack).is_ok(), "nothing lost");
}

#[test]
fn retention_on_other_keys_or_without_object_lock_is_refused() {
    let sim = Arc::new(LockSimStorage::new(
        MemoryStorage::new(),
        Arc::new(AtomicI64::new(0)),
    ));
    let loc = start(sim.clone());
    let append = client(&loc, APPEND);
    assert!(append.lock_supported().unwrap());
    sim.put("policy", Bytes::from_static(b"x")).unwrap();
    let err = append
        .set_retention("policy", 10, RetentionMode::Compliance)
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    // A backend without Object Lock: "no", and reading retention fails
    // rather than answering "none".
    let loc = start(Arc::new(MemoryStorage::new()));
    let c = client(&loc, FULL);
    assert!(!c.lock_supported().unwrap());
    let key = format!("packs/00/{HEX}");
    c.put(&key, Bytes::from_static(b"p")).unwrap();
    assert!(c
        .set_retention(&key, 10, RetentionMode::Compliance)
        .is_err());
}
