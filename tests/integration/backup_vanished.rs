//! Issue 13, item 1, second layer: packs a backup relies on are deleted
//! between their upload and the snapshot anyway (a prune of an older
//! version, a hand-deleted pack), simulated by a storage wrapper that
//! deletes them as soon as the backup stores its index. No snapshot that
//! references a missing pack may ever be written: a source read once fails
//! with `Raced` (exit code 6) and records nothing; a directory is read again
//! and its snapshot restores byte-exact. On the backend under test.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use cairn::backup::{backup, backup_rereadable, BackupOptions};
use cairn::progress::NoProgress;
use cairn::repo::{OpenOptions, Repository};
use cairn::source::Source;
use cairn::storage::{ObjectInfo, Staged, Storage, StorageResult};

use crate::util::*;

/// Deletes packs right after the first index file is stored, once: every
/// pack that was not there when it was armed (the backup's own), and the
/// packs in `also` (ones the backup deduplicated against).
struct DeletesAfterIndex {
    inner: Arc<dyn Storage>,
    armed: AtomicBool,
    before: HashSet<String>,
    also: Vec<String>,
    deleted: Mutex<Vec<String>>,
}

impl DeletesAfterIndex {
    fn new(inner: Arc<dyn Storage>, also: Vec<String>) -> Arc<Self> {
        let before = inner.list("packs/").unwrap().into_iter().map(|o| o.key);
        Arc::new(DeletesAfterIndex {
            before: before.collect(),
            inner,
            armed: AtomicBool::new(true),
            also,
            deleted: Mutex::new(Vec::new()),
        })
    }

    fn strike(&self) {
        if !self.armed.swap(false, Ordering::SeqCst) {
            return;
        }
        for o in self.inner.list("packs/").unwrap() {
            if !self.before.contains(&o.key) || self.also.contains(&o.key) {
                self.inner.delete(&o.key).unwrap();
                self.deleted.lock().unwrap().push(o.key);
            }
        }
    }
}

impl Storage for DeletesAfterIndex {
    fn put(&self, key: &str, data: Bytes) -> StorageResult<()> {
        self.inner.put(key, data)?;
        if key.starts_with("index/") {
            self.strike();
        }
        Ok(())
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
        self.inner.location()
    }
    fn stage(&self) -> StorageResult<Box<dyn Staged + '_>> {
        self.inner.stage()
    }
    fn as_dyn(&self) -> &dyn Storage {
        self
    }
}

fn open(env: &Env, storage: Arc<dyn Storage>) -> Repository {
    let opts = OpenOptions {
        cache_dir: Some(env.cache.clone()),
        ..Default::default()
    };
    Repository::open(storage, PASSWORD.as_bytes(), opts).expect("open")
}

fn snapshot_count(env: &Env) -> usize {
    env.objects("snapshots/").len()
}

/// A repository whose one snapshot holds `old/a.bin`; the pack keys it has.
fn repo_with_a(env: &Env) -> Vec<String> {
    write(&env.path("old/a.bin"), &random_bytes(1, 1_500_000));
    env.backup(&[&env.path("old")], &[]);
    env.objects("packs/").into_iter().map(|o| o.0).collect()
}

#[test]
fn a_source_read_once_records_nothing_when_its_packs_vanish() {
    let env = Env::new();
    repo_with_a(&env);
    let striker = DeletesAfterIndex::new(env.storage(), vec![]);
    let repo = open(&env, striker.clone());
    let data = random_bytes(2, 2_000_000);
    let mut source = cairn::source::stdin::StdinSource::new(
        "s.bin".into(),
        Box::new(std::io::Cursor::new(data)),
    )
    .unwrap();
    let result = backup(&repo, &mut source, &BackupOptions::default(), &NoProgress);
    assert!(
        !striker.deleted.lock().unwrap().is_empty(),
        "nothing deleted"
    );
    assert_eq!(snapshot_count(&env), 1, "a snapshot was recorded");
    let err = result.expect_err("the backup must fail");
    assert_eq!(err.kind(), cairn::ErrorKind::Raced, "{err}");
    assert!(
        err.to_string()
            .contains("packs this backup relies on were deleted while it ran"),
        "{err}"
    );
    assert_eq!(env.objects("running/"), vec![], "the marker is removed");
}

#[test]
fn a_directory_is_read_again_when_packs_it_relies_on_vanish() {
    let env = Env::new();
    let old_packs = repo_with_a(&env);
    // The new backup has a.bin again (deduplicated against the first
    // snapshot's pack, which vanishes too) and new data of its own.
    let src = env.path("new");
    write(&src.join("a.bin"), &random_bytes(1, 1_500_000));
    write(&src.join("b.bin"), &random_bytes(3, 1_200_000));
    let striker = DeletesAfterIndex::new(env.storage(), old_packs);
    let repo = open(&env, striker.clone());
    let mut make =
        || -> cairn::Result<Box<dyn Source>> { Ok(Box::new(fs_source(vec![src.clone()]))) };
    let report = backup_rereadable(&repo, &mut make, &BackupOptions::default(), &NoProgress)
        .expect("backup");
    let deleted = striker.deleted.lock().unwrap().clone();
    assert!(deleted.len() >= 2, "deleted {deleted:?}");
    assert_eq!(snapshot_count(&env), 2);
    assert_eq!(env.objects("running/"), vec![]);
    // Every blob of the new snapshot is stored: it restores byte-exact,
    // and none of its packs is one that vanished.
    let id = report.snapshot_id.expect("snapshot");
    let fresh = open(&env, env.storage());
    let target = env.path("t");
    let snap = fresh.load_snapshot(&id).unwrap();
    cairn::restore::restore(
        &fresh,
        snap.tree,
        &cairn::restore::RestoreOptions::new(&target),
        &NoProgress,
    )
    .expect("restore");
    assert_same_tree(&src, &restored(&target, &src));
    assert_snapshot_reads_whole(&env, &id.to_hex());
}

/// `restore --verify` of one snapshot through the CLI, in a new process.
fn assert_snapshot_reads_whole(env: &Env, id: &str) {
    let t: &Path = &env.path("t2");
    env.ok(&["restore", id, "--target", t.to_str().unwrap(), "--verify"]);
}

/// Lets the first marker write through, then fails every rewrite: the
/// backup's marker lapses while it reads a slow source.
struct MarkerRefreshFails {
    inner: Arc<dyn Storage>,
    written: AtomicBool,
}

impl Storage for MarkerRefreshFails {
    fn put(&self, key: &str, data: Bytes) -> StorageResult<()> {
        if key.starts_with("running/") && self.written.swap(true, Ordering::SeqCst) {
            return Err(cairn::storage::StorageError::new(
                cairn::storage::StorageErrorKind::Transient,
                "put",
                key,
                "injected",
            ));
        }
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
        self.inner.location()
    }
    fn stage(&self) -> StorageResult<Box<dyn Staged + '_>> {
        self.inner.stage()
    }
    fn as_dyn(&self) -> &dyn Storage {
        self
    }
}

/// A reader that gives its bytes only after the marker can have lapsed.
struct SlowReader(std::io::Cursor<Vec<u8>>, bool);

impl std::io::Read for SlowReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.1 {
            self.1 = true;
            std::thread::sleep(std::time::Duration::from_millis(400));
        }
        self.0.read(buf)
    }
}

#[test]
fn a_backup_whose_marker_lapsed_records_nothing() {
    let env = Env::new();
    repo_with_a(&env);
    let storage = Arc::new(MarkerRefreshFails {
        inner: env.storage(),
        written: AtomicBool::new(false),
    });
    let repo = open(&env, storage);
    let opts = BackupOptions {
        // Trusted for 100 ms; the source takes 400 ms to start.
        marker: cairn::repo::marker::MarkerOptions {
            ttl: std::time::Duration::from_millis(200),
        },
        ..Default::default()
    };
    let reader = SlowReader(std::io::Cursor::new(random_bytes(4, 100_000)), false);
    let mut source =
        cairn::source::stdin::StdinSource::new("s.bin".into(), Box::new(reader)).unwrap();
    let err = backup(&repo, &mut source, &opts, &NoProgress).expect_err("must fail");
    assert_eq!(err.kind(), cairn::ErrorKind::Raced, "{err}");
    assert!(err.to_string().contains("could not be refreshed"), "{err}");
    assert_eq!(snapshot_count(&env), 1, "a snapshot was recorded");
}
