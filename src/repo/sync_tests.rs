//! `Repository::sync_index` against real index files in memory storage:
//! incremental in every case, exact when files are superseded or deleted,
//! and consistent after a sync that failed between files.

use std::path::Path;
use std::sync::Arc;

use crate::crypto::KdfParams;
use crate::format::index::{BlobKind, CondemnedPack, IndexFile, PackEntry};
use crate::format::layout;
use crate::ids::{content_hash, IndexId, PackId};
use crate::repo::{BlobLocation, InitOptions, OpenOptions, Repository};
use crate::storage::faulty::{FaultConfig, FaultyStorage};
use crate::storage::memory::MemoryStorage;
use crate::storage::Storage;

use super::cache::tests::{blob, pack};

fn options(cache: &Path) -> OpenOptions {
    OpenOptions {
        cache_dir: Some(cache.to_path_buf()),
        ..Default::default()
    }
}

fn init(storage: Arc<MemoryStorage>, cache: &Path) -> Repository {
    let opts = InitOptions {
        kdf: Some(KdfParams::insecure_for_tests()),
        ..Default::default()
    };
    Repository::init(storage, b"pw", opts, options(cache)).unwrap()
}

fn open(storage: Arc<dyn Storage>, cache: &Path) -> crate::error::Result<Repository> {
    Repository::open(storage, b"pw", options(cache))
}

fn save(repo: &Repository, packs: Vec<PackEntry>, supersedes: Vec<IndexId>) -> IndexId {
    repo.save_index_file(IndexFile {
        packs,
        supersedes,
        ..Default::default()
    })
    .unwrap()
}

fn has(repo: &Repository, n: u8) -> bool {
    repo.cache()
        .lookup(BlobKind::Data, &blob(n))
        .unwrap()
        .is_some()
}

type State = (
    Vec<IndexId>,
    Vec<IndexId>,
    (u64, u64),
    Vec<CondemnedPack>,
    Vec<Option<BlobLocation>>,
);

/// Everything the cache answers, for comparing two caches.
fn state(repo: &Repository) -> State {
    let c = repo.cache();
    let mut known: Vec<IndexId> = c.known_index_files().unwrap().into_iter().collect();
    let mut superseded: Vec<IndexId> = c.superseded().unwrap().into_iter().collect();
    known.sort();
    superseded.sort();
    let lookups = (0..=20)
        .map(|n| c.lookup(BlobKind::Data, &blob(n)).unwrap())
        .collect();
    (
        known,
        superseded,
        c.counts().unwrap(),
        c.condemned().unwrap(),
        lookups,
    )
}

#[test]
fn a_deleted_index_file_takes_only_its_own_entries() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(MemoryStorage::new());
    let repo = init(storage.clone(), dir.path());
    save(&repo, vec![pack(1, &[1, 2])], vec![]);
    let gone = save(&repo, vec![pack(1, &[2]), pack(2, &[3])], vec![]);
    storage.delete(&layout::index(&gone)).unwrap();
    repo.sync_index().unwrap();
    assert!(has(&repo, 1) && has(&repo, 2) && !has(&repo, 3));
    assert_eq!(repo.index_counts().unwrap(), (2, 1));
    assert!(!repo.cache().known_index_files().unwrap().contains(&gone));
}

#[test]
fn new_files_from_another_writer_are_added_without_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(MemoryStorage::new());
    let writer = init(storage.clone(), &dir.path().join("a"));
    let reader = open(storage.clone(), &dir.path().join("b")).unwrap();
    let first = save(&writer, vec![pack(1, &[1])], vec![]);
    reader.sync_index().unwrap();
    let second = save(&writer, vec![pack(2, &[2])], vec![]);
    // Were the first file reloaded, this garbage under its name would warn.
    storage
        .put(&layout::index(&first), b"garbage".to_vec().into())
        .unwrap();
    assert!(reader.sync_index_skipping().unwrap().is_empty());
    assert!(has(&reader, 1) && has(&reader, 2));
    assert!(reader
        .cache()
        .known_index_files()
        .unwrap()
        .contains(&second));
}

#[test]
fn a_superseded_file_still_listed_is_never_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(MemoryStorage::new());
    let repo = init(storage.clone(), &dir.path().join("a"));
    let a = save(&repo, vec![pack(1, &[1, 2])], vec![]);
    let b = save(&repo, vec![pack(2, &[3, 4])], vec![]);
    save(&repo, vec![pack(1, &[2]), pack(2, &[4])], vec![a, b]);
    // Neither old file was deleted (the replacer crashed); one is unreadable.
    storage
        .put(&layout::index(&a), b"garbage".to_vec().into())
        .unwrap();
    for cache in ["a", "fresh"] {
        let repo = open(storage.clone(), &dir.path().join(cache)).unwrap();
        assert!(repo.sync_index_skipping().unwrap().is_empty(), "{cache}");
        assert!(!has(&repo, 1) && !has(&repo, 3), "{cache}");
        assert!(has(&repo, 2) && has(&repo, 4), "{cache}");
        assert_eq!(repo.index_counts().unwrap(), (2, 2), "{cache}");
        let known = repo.cache().known_index_files().unwrap();
        assert!(!known.contains(&a) && !known.contains(&b), "{cache}");
    }
}

#[test]
fn a_corrupt_file_is_skipped_on_every_sync_until_superseded() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(MemoryStorage::new());
    let repo = init(storage.clone(), dir.path());
    save(&repo, vec![pack(1, &[1])], vec![]);
    let bad = IndexId(content_hash(b"not an index file"));
    storage
        .put(&layout::index(&bad), b"not an index file".to_vec().into())
        .unwrap();
    for _ in 0..2 {
        assert_eq!(repo.sync_index_skipping().unwrap(), [bad]);
        assert!(!repo.cache().known_index_files().unwrap().contains(&bad));
        assert!(has(&repo, 1));
    }
    save(&repo, vec![], vec![bad]);
    assert!(repo.sync_index_skipping().unwrap().is_empty());
}

#[test]
fn a_sync_that_fails_between_files_is_finished_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(MemoryStorage::new());
    let repo = init(storage.clone(), &dir.path().join("writer"));
    let a = save(&repo, vec![pack(1, &[1, 2])], vec![]);
    let b = save(&repo, vec![pack(2, &[3])], vec![]);
    save(&repo, vec![pack(3, &[4, 5])], vec![]);
    save(&repo, vec![pack(1, &[2]), pack(4, &[6])], vec![a, b]);
    repo.save_index_file(IndexFile {
        condemned: vec![CondemnedPack {
            id: PackId([3; 32]),
            since: 7,
        }],
        ..Default::default()
    })
    .unwrap();
    let expected = state(&repo);
    let listed = repo.index_ids().unwrap();
    // Any file the sync reads can fail (the superseded ones are not read),
    // into a cold cache and into a warm one that knew the old files.
    let failing = listed.iter().skip(1).filter(|id| ![a, b].contains(id));
    for (round, failing) in failing.flat_map(|f| [f, f]).enumerate() {
        let cache = dir.path().join(format!("r{round}"));
        if round % 2 == 1 {
            let warm = MemoryStorage::new();
            for key in [layout::CONFIG, layout::KEYS_PREFIX] {
                for o in storage.list(key).unwrap() {
                    warm.put(&o.key, storage.get(&o.key).unwrap().into())
                        .unwrap();
                }
            }
            for id in [a, b] {
                let key = layout::index(&id);
                warm.put(&key, storage.get(&key).unwrap().into()).unwrap();
            }
            open(Arc::new(warm), &cache).unwrap();
        }
        let faulty = FaultyStorage::new(
            storage.clone(),
            FaultConfig {
                permanent_prefixes: vec![layout::index(failing)],
                ..FaultConfig::seeded(round as u64)
            },
        );
        let location = faulty.location();
        assert!(open(Arc::new(faulty), &cache).is_err());
        // The files before the failing one stayed loaded.
        let db = crate::repo::IndexCache::dir_for(&cache, &repo.config().repo_id, &location)
            .join("index.sqlite");
        let partial = crate::repo::IndexCache::open(&db).unwrap();
        let known = partial.known_index_files().unwrap();
        assert!(!known.is_empty() && !known.contains(failing), "{round}");
        drop(partial);
        let healed = open(storage.clone(), &cache).unwrap();
        assert_eq!(state(&healed), expected, "failing {failing}");
    }
}

/// A second storage holding the same objects: a repository copied elsewhere.
fn copy_of(storage: &MemoryStorage) -> Arc<MemoryStorage> {
    let copy = Arc::new(MemoryStorage::new());
    for o in storage.list("").unwrap() {
        copy.put(&o.key, storage.get(&o.key).unwrap().into())
            .unwrap();
    }
    copy
}

#[test]
fn a_pruned_copy_sharing_the_cache_does_not_hide_the_originals_files() {
    // Memory storages share one location, so only validation against the
    // listing can tell the two apart here.
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(MemoryStorage::new());
    let repo = init(storage.clone(), dir.path());
    let a = save(&repo, vec![pack(1, &[1, 2])], vec![]);
    let b = save(&repo, vec![pack(2, &[3])], vec![]);
    drop(repo);
    let copy = copy_of(&storage);
    // The copy's prune: one file replaces both, twice over, and the old
    // files are deleted.
    let pruned = open(copy.clone(), dir.path()).unwrap();
    let r = save(&pruned, vec![pack(2, &[3])], vec![a, b]);
    let r2 = save(&pruned, vec![pack(2, &[3])], vec![r]);
    for gone in [a, b, r] {
        copy.delete(&layout::index(&gone)).unwrap();
    }
    drop(pruned);
    let fresh = open(storage.clone(), &dir.path().join("fresh")).unwrap();
    let original = open(storage.clone(), dir.path()).unwrap();
    assert!(has(&original, 1) && has(&original, 2) && has(&original, 3));
    assert_eq!(state(&original), state(&fresh));
    drop(original);
    // And the copy, back on the same cache, sees only its own file.
    let pruned = open(copy, dir.path()).unwrap();
    assert!(!has(&pruned, 1) && has(&pruned, 3));
    let known = pruned.cache().known_index_files().unwrap();
    assert_eq!(known.into_iter().collect::<Vec<_>>(), vec![r2]);
}

#[test]
fn a_chain_of_replacers_ending_in_a_listed_file_still_hides_a_stale_file() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(MemoryStorage::new());
    let repo = init(storage.clone(), dir.path());
    let a = save(&repo, vec![pack(1, &[1, 2])], vec![]);
    let r = save(&repo, vec![pack(1, &[2])], vec![a]);
    save(&repo, vec![pack(1, &[2])], vec![r]);
    // `a` survived a crash; its replacer `r` did not.
    storage.delete(&layout::index(&r)).unwrap();
    let repo = open(storage, dir.path()).unwrap();
    assert!(!has(&repo, 1) && has(&repo, 2));
}
