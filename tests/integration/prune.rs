//! Prune end to end: forgotten data is freed, kept snapshots restore
//! byte-exact, two-phase deletion protects backups that overlap a prune,
//! and a prune killed at any step leaves a consistent repository.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cairn::backup::{backup, BackupOptions};
use cairn::check::{check, CheckOptions, Severity};
use cairn::crypto::KdfParams;
use cairn::format::layout;
use cairn::ids::SnapshotId;
use cairn::progress::NoProgress;
use cairn::prune::{prune, PruneOptions, PruneReport};
use cairn::repo::{lock, InitOptions, OpenOptions, Repository};
use cairn::restore::{restore, RestoreOptions};
use cairn::storage::local::LocalStorage;
use cairn::storage::{ObjectInfo, Storage, StorageError, StorageErrorKind, StorageResult};

use crate::util::*;

pub const PW: &[u8] = b"prune tests";

/// A repository on local storage with two snapshots: `old` (files a, b)
/// and `new` (files b, c). Sources stay on disk for comparisons.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub old: SnapshotId,
    pub new: SnapshotId,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let storage = Arc::new(LocalStorage::create(dir.path().join("repo")).unwrap());
        let init = InitOptions {
            kdf: Some(KdfParams::insecure_for_tests()),
            pack_size: 1 << 20,
            ..Default::default()
        };
        let repo = Repository::init(storage, PW, init, opts(&dir.path().join("c0"))).unwrap();
        let (old_src, new_src) = (dir.path().join("old"), dir.path().join("new"));
        write(&old_src.join("a.bin"), &random_bytes(1, 1_500_000));
        write(&old_src.join("b.bin"), &random_bytes(2, 1_500_000));
        write(&new_src.join("b.bin"), &random_bytes(2, 1_500_000));
        write(&new_src.join("c.bin"), &random_bytes(3, 1_000_000));
        write(&new_src.join("small/t.txt"), &text_bytes(4, 20_000));
        let old = backup_dir(&repo, &old_src);
        let new = backup_dir(&repo, &new_src);
        Fixture { dir, old, new }
    }

    pub fn repo_dir(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    pub fn src(&self, which: &str) -> PathBuf {
        self.dir.path().join(which)
    }

    pub fn storage(&self) -> Arc<dyn Storage> {
        Arc::new(LocalStorage::new(self.repo_dir()))
    }

    pub fn open(&self, cache: &str) -> Repository {
        open_on(self.storage(), &self.dir.path().join(cache))
    }

    /// Forgets a snapshot by deleting its object (what `forget` does).
    pub fn forget(&self, id: &SnapshotId) {
        self.storage().delete(&layout::snapshot(id)).unwrap();
    }

    /// A copy of the repository (and sources' paths unchanged).
    pub fn copy_repo(&self, to: &Path) -> Arc<dyn Storage> {
        copy_dir(&self.repo_dir(), to);
        Arc::new(LocalStorage::new(to.to_path_buf()))
    }
}

pub fn opts(cache: &Path) -> OpenOptions {
    OpenOptions {
        cache_dir: Some(cache.to_path_buf()),
        ..Default::default()
    }
}

pub fn open_on(storage: Arc<dyn Storage>, cache: &Path) -> Repository {
    Repository::open(storage, PW, opts(cache)).unwrap()
}

pub fn backup_dir(repo: &Repository, src: &Path) -> SnapshotId {
    let mut source = fs_source(vec![src.to_path_buf()]);
    let r = backup(repo, &mut source, &BackupOptions::default(), &NoProgress).unwrap();
    assert!(r.is_complete());
    r.snapshot_id.unwrap()
}

/// Restores the snapshot and compares it with `src`, byte for byte.
pub fn assert_restores(repo: &Repository, id: &SnapshotId, src: &Path, scratch: &Path) {
    let snap = repo.load_snapshot(id).unwrap();
    let _ = std::fs::remove_dir_all(scratch);
    restore(repo, snap.tree, &RestoreOptions::new(scratch), &NoProgress).unwrap();
    assert_same_tree(src, &restored(scratch, src));
}

/// `check --read-data`; returns the warnings, panics on damage.
pub fn assert_checks(repo: &Repository) -> Vec<String> {
    let opts = CheckOptions {
        read_data: true,
        ..Default::default()
    };
    let report = check(repo, &opts, &NoProgress).unwrap();
    let damage: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Damage)
        .collect();
    assert!(damage.is_empty(), "check found damage: {damage:?}");
    report.problems.iter().map(|p| p.object.clone()).collect()
}

pub fn pack_bytes(repo: &Path) -> u64 {
    files_under(&repo.join("packs"))
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

pub fn now_plus(d: Duration) -> Option<i64> {
    Some(cairn::time::now().0.secs + d.as_secs() as i64)
}

pub fn run(repo: &Repository, o: &PruneOptions) -> PruneReport {
    prune(repo, o, &NoProgress).unwrap()
}

#[test]
fn forget_and_prune_frees_the_forgotten_data_and_keeps_the_rest() {
    let f = Fixture::new();
    let before = pack_bytes(&f.repo_dir());
    f.forget(&f.old);
    let repo = f.open("c1");
    let dry = run(
        &repo,
        &PruneOptions {
            dry_run: true,
            grace: Duration::ZERO,
            max_unused: 0.0,
            ..Default::default()
        },
    );
    assert_eq!(
        pack_bytes(&f.repo_dir()),
        before,
        "a dry run changes nothing"
    );
    assert!(dry.packs_deleted + dry.packs_repacked > 0, "{dry:?}");
    let report = run(
        &repo,
        &PruneOptions {
            grace: Duration::ZERO,
            max_unused: 0.0,
            ..Default::default()
        },
    );
    assert_eq!(
        report.bytes_freed, dry.bytes_freed,
        "the dry run predicted it"
    );
    let freed = before - pack_bytes(&f.repo_dir());
    // a.bin is random (incompressible): freeing it frees its size plus
    // per-blob and per-pack overhead, and a few KiB of old trees.
    let a = 1_500_000u64;
    assert!(
        freed >= a && freed <= a + a / 50 + 16 * 1024,
        "freed {freed} bytes, expected about {a}"
    );
    assert_restores(&repo, &f.new, &f.src("new"), &f.dir.path().join("t"));
    assert_eq!(assert_checks(&repo), Vec::<String>::new());
    // A second prune finds nothing to do.
    let again = run(&repo, &PruneOptions::default());
    assert_eq!(
        (
            again.packs_deleted,
            again.packs_condemned,
            again.packs_repacked
        ),
        (0, 0, 0),
        "{again:?}"
    );
}

/// Repack copies blobs as stored, so it must verify each one first: a
/// damaged kept blob stops the prune before anything is deleted or any
/// index written. LOCAL-ONLY: it edits pack files.
#[test]
fn a_damaged_blob_stops_the_repack_and_nothing_is_deleted() {
    // 40 small files share two packs; the second snapshot keeps half of
    // them, so with the first forgotten both packs are half unused.
    let f = Fixture::new();
    let repo = f.open("c1");
    let src = f.src("many");
    for i in 0..40 {
        write(
            &src.join(format!("f{i:02}")),
            &random_bytes(100 + i, 30_000),
        );
    }
    let first = backup_dir(&repo, &src);
    for i in (0..40).step_by(2) {
        std::fs::remove_file(src.join(format!("f{i:02}"))).unwrap();
    }
    backup_dir(&repo, &src);
    for id in [f.old, f.new, first] {
        f.forget(&id);
    }
    // Damage every data blob: a byte in every 16 KiB of every pack larger
    // than that (tree packs are smaller, so snapshots still load).
    for pack in files_under(&f.repo_dir().join("packs")) {
        let mut bytes = std::fs::read(&pack).unwrap();
        for at in (16 * 1024..bytes.len() * 9 / 10).step_by(16 * 1024) {
            bytes[at] ^= 0x20;
        }
        std::fs::write(&pack, bytes).unwrap();
    }
    let packs_before = files_under(&f.repo_dir().join("packs"));
    let index_before = files_under(&f.repo_dir().join("index"));
    let o = PruneOptions {
        grace: Duration::ZERO,
        max_unused: 0.0,
        ..Default::default()
    };
    let dry = run(
        &repo,
        &PruneOptions {
            dry_run: true,
            ..o.clone()
        },
    );
    assert!(dry.packs_repacked > 0, "{dry:?}");
    let err = prune(&repo, &o, &NoProgress).unwrap_err();
    assert_eq!(err.kind(), cairn::ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("cannot repack blob"), "{err}");
    let packs_after = files_under(&f.repo_dir().join("packs"));
    for p in &packs_before {
        assert!(packs_after.contains(p), "{} was deleted", p.display());
    }
    assert_eq!(files_under(&f.repo_dir().join("index")), index_before);
}

#[test]
fn condemned_packs_wait_for_the_grace_period_and_are_not_deduplicated() {
    let f = Fixture::new();
    let before = pack_bytes(&f.repo_dir());
    f.forget(&f.old);
    let repo = f.open("c1");
    let first = run(&repo, &PruneOptions::default());
    assert!(
        first.packs_condemned > 0 && first.packs_deleted == 0,
        "{first:?}"
    );
    assert!(pack_bytes(&f.repo_dir()) >= before, "nothing deleted yet");
    assert!(!repo.condemned_packs().unwrap().is_empty());
    // A backup after the condemnation stores a.bin again instead of
    // deduplicating against the condemned packs.
    let again_src = f.src("again");
    write(&again_src.join("a.bin"), &random_bytes(1, 1_500_000));
    let again = backup_dir(&repo, &again_src);
    // Before the grace period: nothing is deleted.
    let early = run(&repo, &PruneOptions::default());
    assert_eq!(early.packs_deleted, 0, "{early:?}");
    // After it: the condemned packs go, and every snapshot still restores.
    let later = PruneOptions {
        now: now_plus(cairn::prune::DEFAULT_GRACE + Duration::from_secs(60)),
        ..Default::default()
    };
    let late = run(&repo, &later);
    assert!(
        late.packs_deleted > 0 && late.packs_restored == 0,
        "{late:?}"
    );
    let scratch = f.dir.path().join("t");
    assert_restores(&repo, &again, &again_src, &scratch);
    assert_restores(&repo, &f.new, &f.src("new"), &scratch);
    assert_eq!(assert_checks(&repo), Vec::<String>::new());
}

#[test]
fn a_backup_that_opened_before_the_prune_sees_its_condemnations() {
    let f = Fixture::new();
    // The repository was opened before the prune (its own cache)...
    let backup_repo = f.open("backup-cache");
    f.forget(&f.old);
    let prune_repo = f.open("prune-cache");
    let first = run(&prune_repo, &PruneOptions::default());
    assert!(first.packs_condemned > 0, "{first:?}");
    // ...but a backup loads the index after storing its marker
    // (format-spec/12-prune.md, B1): it sees the condemnation and stores
    // a.bin again instead of relying on the condemned packs.
    let again_src = f.src("again");
    write(&again_src.join("a.bin"), &random_bytes(1, 1_500_000));
    let again = backup_dir(&backup_repo, &again_src);
    drop(backup_repo);
    // Condemned packs stay readable: the new snapshot restores before the
    // second prune too (in a new process, which sees the backup's index).
    let reader = f.open("reader-cache");
    assert_restores(&reader, &again, &again_src, &f.dir.path().join("t0"));
    let later = PruneOptions {
        now: now_plus(cairn::prune::DEFAULT_GRACE + Duration::from_secs(60)),
        ..Default::default()
    };
    let second = run(&prune_repo, &later);
    assert!(
        second.packs_deleted > 0 && second.packs_restored == 0,
        "{second:?}"
    );
    let scratch = f.dir.path().join("t");
    assert_restores(&prune_repo, &again, &again_src, &scratch);
    assert_restores(&prune_repo, &f.new, &f.src("new"), &scratch);
    assert_eq!(assert_checks(&prune_repo), Vec::<String>::new());
}

/// Mutations succeed until the budget is spent, then every one fails: a
/// process killed at that step (reads keep working, as for a new process).
struct Crashing {
    inner: Arc<dyn Storage>,
    budget: AtomicI64,
}

impl Crashing {
    fn spend(&self, op: &'static str, key: &str) -> StorageResult<()> {
        if self.budget.fetch_sub(1, Ordering::SeqCst) <= 0 {
            return Err(StorageError::new(
                StorageErrorKind::Permanent,
                op,
                key,
                "crashed",
            ));
        }
        Ok(())
    }
}

impl Storage for Crashing {
    fn put(&self, key: &str, data: Bytes) -> StorageResult<()> {
        self.spend("put", key)?;
        self.inner.put(key, data)
    }
    fn put_if_absent(&self, key: &str, data: Bytes) -> StorageResult<bool> {
        self.spend("put_if_absent", key)?;
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
        self.spend("delete", key)?;
        self.inner.delete(key)
    }
    fn location(&self) -> String {
        format!("crashing:{}", self.inner.location())
    }
    fn as_dyn(&self) -> &dyn Storage {
        self
    }
}

fn crash_at_every_step(grace: Duration) {
    let f = Fixture::new();
    f.forget(&f.old);
    let o = PruneOptions {
        grace,
        max_unused: 0.0,
        ..Default::default()
    };
    for step in 0.. {
        let tmp = f.dir.path().join(format!("run{step}"));
        let real = f.copy_repo(&tmp.join("repo"));
        let crashing = Arc::new(Crashing {
            inner: real.clone(),
            budget: AtomicI64::new(step),
        });
        let repo = open_on(crashing, &tmp.join("cache"));
        let result = prune(&repo, &o, &NoProgress);
        drop(repo);
        // Recover as the operator would: a new process, same cache.
        let repo = open_on(real, &tmp.join("cache"));
        if result.is_ok() {
            // Every mutation before this run's was a crash point.
            assert!(step >= 4, "only {step} crash points");
            assert_restores(&repo, &f.new, &f.src("new"), &tmp.join("t"));
            assert_checks(&repo);
            return;
        }
        assert_checks(&repo);
        assert_restores(&repo, &f.new, &f.src("new"), &tmp.join("t"));
        // The crashed prune's lock is still there: it blocks, unlock frees.
        let _ = lock::unlock(&repo, true).unwrap();
        run(&repo, &o);
        if grace.is_zero() {
            assert_eq!(assert_checks(&repo), Vec::<String>::new(), "step {step}");
        } else {
            assert_checks(&repo);
        }
        assert_restores(&repo, &f.new, &f.src("new"), &tmp.join("t"));
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}

#[test]
fn a_prune_killed_at_any_step_leaves_a_consistent_repository() {
    crash_at_every_step(Duration::ZERO);
}

#[test]
fn a_two_phase_prune_killed_at_any_step_leaves_a_consistent_repository() {
    crash_at_every_step(cairn::prune::DEFAULT_GRACE);
}

#[test]
fn a_second_prune_is_locked_out_with_exit_code_11() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("f"), &random_bytes(9, 100_000));
    env.backup(&[&src], &[]);
    let storage: Arc<dyn Storage> = env.storage();
    let repo = Repository::open(storage, PASSWORD.as_bytes(), opts(&env.cache)).unwrap();
    let guard = lock::acquire(&repo, "prune", Default::default()).unwrap();
    let out = env.run(&["prune"]);
    assert_eq!(out.status.code(), Some(11), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("locked"));
    // A dry run takes no lock, and reports the cost.
    let dry = env.json(&["prune", "--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    for k in [
        "packs_deleted",
        "packs_repacked",
        "bytes_freed",
        "bytes_to_download",
    ] {
        assert!(dry[k].is_u64(), "{k} in {dry}");
    }
    assert!(dry["requests"]["writes_lists"].is_u64() && dry["requests"]["reads"].is_u64());
    let out = env.run(&["unlock"]);
    assert_eq!(out.status.code(), Some(11), "a live lock needs --force");
    let out = env.ok(&["unlock", "--force"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning"));
    // The holder learns it lost the lock at its next refresh (the lock
    // unit tests show that); here a new prune simply runs.
    drop(guard);
    let summary = env.json(&["prune", "--grace", "0"]);
    assert_eq!(summary["snapshots"], 1);
    env.ok(&["unlock"]);
}
