//! Tree loading over slow storage: blocks read in parallel, each at most
//! once per command, and not at all when the disk cache holds them.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use crate::crypto::KdfParams;
use crate::explore::find::{FindOptions, Finder};
use crate::format::index::BlobKind;
use crate::format::layout::PACKS_PREFIX;
use crate::format::tree::{Node, NodeKind, Tree};
use crate::ids::{BlobId, SnapshotId, TreeId};
use crate::repo::{BlobWriter, InitOptions, OpenOptions, Repository, SnapshotRef};
use crate::storage::memory::MemoryStorage;
use crate::storage::{ObjectInfo, Storage, StorageResult};

/// Memory storage whose pack reads take a while, recording each pack read
/// and the most running at once.
#[derive(Default)]
pub(super) struct Watched {
    pub(super) inner: MemoryStorage,
    reads: Mutex<Vec<(String, u64)>>,
    running: AtomicUsize,
    pub(super) peak: AtomicUsize,
}

impl Watched {
    pub(super) fn reset(&self) {
        self.reads.lock().unwrap().clear();
        self.peak.store(0, Ordering::SeqCst);
    }

    pub(super) fn pack_reads(&self) -> Vec<(String, u64)> {
        self.reads.lock().unwrap().clone()
    }
}

impl Storage for Watched {
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
        if !key.starts_with(PACKS_PREFIX) {
            return self.inner.get_range(key, offset, len);
        }
        self.reads.lock().unwrap().push((key.to_string(), offset));
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        // A round trip: long enough for parallel reads to overlap.
        std::thread::sleep(Duration::from_millis(20));
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.inner.get_range(key, offset, len)
    }
    fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectInfo>> {
        self.inner.list(prefix)
    }
    fn delete(&self, key: &str) -> StorageResult<()> {
        self.inner.delete(key)
    }
    fn location(&self) -> String {
        "watched:".into()
    }
    fn as_dyn(&self) -> &dyn Storage {
        self
    }
}

pub(super) fn open(storage: &Arc<Watched>, cache: &Path) -> Repository {
    let open = OpenOptions {
        cache_dir: Some(cache.to_path_buf()),
        ..Default::default()
    };
    Repository::open(storage.clone(), b"pw", open).unwrap()
}

/// A tree of `n` fifos with long random names: n × 250 bytes that do not compress.
fn wide_tree(n: usize) -> Tree {
    let mut nodes: Vec<Node> = (0..n)
        .map(|_| Node {
            name: (0..250)
                .map(|_| rand::random_range(0x30u8..=0xff))
                .collect(),
            kind: NodeKind::Fifo,
            meta: Default::default(),
        })
        .collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    Tree { nodes }
}

fn add_tree(repo: &Repository, w: &BlobWriter, t: &Tree) -> TreeId {
    let bytes = t.encode();
    let id = TreeId(repo.keys().blob_id(&bytes));
    w.add_if_new(BlobKind::Tree, BlobId::from(id), &bytes)
        .unwrap();
    id
}

fn dir_node(name: String, subtree: TreeId) -> Node {
    Node {
        name: name.into_bytes(),
        kind: NodeKind::Dir { subtree },
        meta: Default::default(),
    }
}

/// A repository whose root holds 6 directories of 4 wide subdirectories
/// each: about 18 MiB of trees, more blocks than memory keeps (16).
pub(super) fn repository() -> (Arc<Watched>, tempfile::TempDir, TreeId) {
    let storage = Arc::new(Watched::default());
    let dir = tempfile::tempdir().unwrap();
    let opts = InitOptions {
        kdf: Some(KdfParams::insecure_for_tests()),
        ..Default::default()
    };
    let open = OpenOptions {
        cache_dir: Some(dir.path().join("writer")),
        ..Default::default()
    };
    let repo = Repository::init(storage.clone(), b"pw", opts, open).unwrap();
    let w = BlobWriter::new(&repo);
    let mut top = Vec::new();
    for i in 0..6 {
        let subs = (0..4)
            .map(|j| dir_node(format!("s{j}"), add_tree(&repo, &w, &wide_tree(3000))))
            .collect();
        top.push(dir_node(
            format!("d{i}"),
            add_tree(&repo, &w, &Tree { nodes: subs }),
        ));
    }
    let root = add_tree(&repo, &w, &Tree { nodes: top });
    w.finish().unwrap();
    (storage, dir, root)
}

pub(super) fn snapshot(root: TreeId) -> SnapshotRef {
    let mut snapshot = crate::format::snapshot::tests::sample();
    snapshot.tree = root;
    SnapshotRef {
        id: SnapshotId([1; 32]),
        snapshot,
    }
}

pub(super) fn find_all(repo: &Repository, root: TreeId) -> usize {
    let mut finder = Finder::new(repo, FindOptions::new("*")).unwrap();
    let mut hits = 0;
    finder
        .search(&snapshot(root), &mut |_| {
            hits += 1;
            Ok(())
        })
        .unwrap();
    hits
}

/// Reads are concurrent and no block is read twice, though the trees span
/// more blocks than memory keeps.
fn assert_pipelined(storage: &Watched) {
    let reads = storage.pack_reads();
    let distinct: HashSet<_> = reads.iter().cloned().collect();
    assert!(distinct.len() > 16, "{} blocks: too few", distinct.len());
    assert_eq!(reads.len(), distinct.len(), "a block was read twice");
    assert!(
        storage.peak.load(Ordering::SeqCst) > 1,
        "reads one at a time"
    );
}

#[test]
fn restore_planning_reads_blocks_in_parallel_and_each_once() {
    let (storage, dir, root) = repository();
    let repo = open(&storage, &dir.path().join("a"));
    storage.reset();
    let plan = crate::restore::plan(&repo, root, &Default::default()).unwrap();
    assert_eq!(plan.others.len(), 6 * 4 * 3000);
    assert_pipelined(&storage);
}

#[test]
fn a_second_find_reads_nothing_and_a_damaged_cache_is_read_again() {
    let (storage, dir, root) = repository();
    let cache = dir.path().join("a");
    storage.reset();
    let hits = find_all(&open(&storage, &cache), root);
    assert_eq!(hits, 6 + 6 * 4 + 6 * 4 * 3000);
    assert_pipelined(&storage);

    // Another process on the same cache directory: no request at all.
    storage.reset();
    assert_eq!(find_all(&open(&storage, &cache), root), hits);
    assert_eq!(storage.pack_reads(), vec![], "served from the disk cache");

    // A flipped byte in every cached block: still the right answer, from
    // the repository, and the cache is whole again afterwards.
    let blocks: Vec<_> = std::fs::read_dir(hex_dir(&cache).join("trees"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    for b in &blocks {
        let mut bytes = std::fs::read(b).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x40;
        std::fs::write(b, bytes).unwrap();
    }
    storage.reset();
    assert_eq!(find_all(&open(&storage, &cache), root), hits);
    assert!(
        !storage.pack_reads().is_empty(),
        "damaged blocks were read again"
    );
    storage.reset();
    assert_eq!(find_all(&open(&storage, &cache), root), hits);
    assert_eq!(storage.pack_reads(), vec![]);
}

#[test]
fn check_reads_trees_from_the_repository_not_the_cache() {
    let (storage, dir, root) = repository();
    let cache = dir.path().join("a");
    find_all(&open(&storage, &cache), root);
    let repo = open(&storage, &cache);
    storage.reset();
    repo.load_tree(&root).unwrap();
    assert_eq!(storage.pack_reads().len(), 0, "in the disk cache");
    repo.load_tree_from_repository(&root).unwrap();
    assert_eq!(storage.pack_reads().len(), 1);
}

/// The per-repository directory below a cache root (there is one).
pub(super) fn hex_dir(cache: &Path) -> std::path::PathBuf {
    let by_id = std::fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.file_name() != "last-key")
        .unwrap();
    let by_place = std::fs::read_dir(by_id.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    by_place.path()
}

#[test]
fn two_walkers_wanting_the_same_blocks_read_each_once() {
    let (storage, dir, root) = repository();
    let repo = open(&storage, &dir.path().join("a"));
    storage.reset();
    std::thread::scope(|s| {
        let a = s.spawn(|| find_all(&repo, root));
        let b = s.spawn(|| crate::restore::plan(&repo, root, &Default::default()).unwrap());
        assert_eq!(a.join().unwrap(), 6 + 6 * 4 + 6 * 4 * 3000);
        assert_eq!(b.join().unwrap().others.len(), 6 * 4 * 3000);
    });
    assert_pipelined(&storage);
}
