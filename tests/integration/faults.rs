//! The engine over a misbehaving backend (`storage::faulty`): backup and
//! restore survive transient faults behind the retry wrapper, fail cleanly
//! on permanent ones, and never record as present what is not stored nor
//! restore a truncated read as data. Runs on the backend under test (a
//! local directory, or the S3 server in the S3 run).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cairn::backup::{backup, BackupOptions};
use cairn::check::{check, CheckOptions};
use cairn::crypto::KdfParams;
use cairn::progress::NoProgress;
use cairn::repo::{InitOptions, OpenOptions, Repository, SnapshotFilter};
use cairn::restore::{restore, RestoreOptions};
use cairn::storage::faulty::{FaultConfig, FaultyStorage};
use cairn::storage::retry::{RetryPolicy, RetryStorage};
use cairn::storage::Storage;

use crate::util::*;

type Faulty = RetryStorage<FaultyStorage<Arc<dyn Storage>>>;

fn base(env: &Env) -> Arc<dyn Storage> {
    cairn::storage::open_location(&env.location, true).expect("open storage")
}

fn wrap(inner: Arc<dyn Storage>, config: FaultConfig) -> Arc<Faulty> {
    let policy = RetryPolicy {
        attempts: 12,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(20),
    };
    Arc::new(RetryStorage::new(FaultyStorage::new(inner, config), policy))
}

fn open_opts(env: &Env) -> OpenOptions {
    OpenOptions {
        cache_dir: Some(env.cache.clone()),
        ..Default::default()
    }
}

/// A repository with 1 MiB packs, so a backup writes many packs and index files.
fn init(env: &Env, storage: Arc<dyn Storage>) -> Repository {
    let init = InitOptions {
        kdf: Some(KdfParams::insecure_for_tests()),
        pack_size: 1 << 20,
        ..Default::default()
    };
    Repository::init(storage, PASSWORD.as_bytes(), init, open_opts(env)).expect("init")
}

/// About 14 MiB in files of several sizes.
fn source_tree(root: &Path) {
    for i in 0..12u64 {
        write(&root.join(format!("r{i}.bin")), &random_bytes(i, 1_100_000));
    }
    for i in 0..40u64 {
        write(
            &root.join(format!("small/s{i}.txt")),
            &text_bytes(i, 5_000 + i as usize * 10),
        );
    }
    set_times(root, 1_700_000_000);
}

fn backup_dir(repo: &Repository, src: &Path) -> cairn::Result<cairn::backup::BackupReport> {
    let mut source = fs_source(vec![src.to_path_buf()]);
    backup(repo, &mut source, &BackupOptions::default(), &NoProgress)
}

fn restore_latest(repo: &Repository, target: &Path) -> cairn::restore::RestoreReport {
    let snap = repo
        .find_snapshot("latest", &SnapshotFilter::default())
        .expect("a snapshot");
    restore(
        repo,
        snap.snapshot.tree,
        &RestoreOptions::new(target),
        &NoProgress,
    )
    .expect("restore")
}

#[test]
fn backup_and_restore_survive_transient_faults() {
    let env = Env::uninit();
    let src = env.path("src");
    source_tree(&src);
    let storage = wrap(
        base(&env),
        FaultConfig {
            transient_before: 0.2,
            transient_after_put: 0.3,
            slow: 0.05,
            slow_delay: Duration::from_millis(3),
            ..FaultConfig::seeded(7)
        },
    );
    let repo = init(&env, storage.clone());
    let report = backup_dir(&repo, &src).expect("backup through transient faults");
    assert!(report.is_complete());
    assert!(report.written.packs_added >= 10, "{:?}", report.written);
    drop(repo);
    // A fresh cache: the restore reads the index through the faults too.
    std::fs::remove_dir_all(&env.cache).expect("clear cache");
    let repo = Repository::open(storage.clone(), PASSWORD.as_bytes(), open_opts(&env))
        .expect("open through faults");
    let target = env.path("target");
    let r = restore_latest(&repo, &target);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_same_tree(&src, &restored(&target, &src));
    let counts = storage.inner().counts();
    assert!(counts.transient_before >= 5, "{counts:?}");
    assert!(counts.transient_after_put >= 2, "{counts:?}");
    assert!(counts.slow > 0, "{counts:?}");
}

#[test]
fn permanent_faults_fail_the_backup_and_record_nothing_missing() {
    let env = Env::uninit();
    let src = env.path("src");
    source_tree(&src);
    let plain = base(&env);
    drop(init(&env, plain.clone()));
    // Half of all packs cannot be written: some uploads succeed first.
    let prefixes = "89abcdef".chars().map(|c| format!("packs/{c}")).collect();
    let storage = wrap(
        plain.clone(),
        FaultConfig {
            permanent_prefixes: prefixes,
            ..FaultConfig::seeded(3)
        },
    );
    let repo = Repository::open(storage.clone(), PASSWORD.as_bytes(), open_opts(&env)).unwrap();
    let err = backup_dir(&repo, &src).expect_err("backup must fail");
    assert_eq!(err.kind(), cairn::ErrorKind::Storage, "{err}");
    let counts = storage.inner().counts();
    assert!(counts.permanent >= 1, "{counts:?}");
    drop(repo);

    // No snapshot, and every pack an index names is really there.
    let repo = Repository::open(plain.clone(), PASSWORD.as_bytes(), open_opts(&env)).unwrap();
    assert!(repo
        .snapshots(&SnapshotFilter::default())
        .unwrap()
        .is_empty());
    let report = check(&repo, &CheckOptions::default(), &NoProgress).unwrap();
    assert!(!report.is_damaged(), "{:?}", report.problems);
    // The repository is still good for the next backup.
    backup_dir(&repo, &src).expect("backup without faults");
    let target = env.path("target");
    restore_latest(&repo, &target);
    assert_same_tree(&src, &restored(&target, &src));
}

#[test]
fn truncated_reads_are_caught_and_never_restored_as_data() {
    let env = Env::uninit();
    let src = env.path("src");
    source_tree(&src);
    let plain = base(&env);
    let repo = init(&env, plain.clone());
    backup_dir(&repo, &src).expect("backup");
    drop(repo);
    let storage = wrap(
        plain,
        FaultConfig {
            truncated_read: 0.3,
            ..FaultConfig::seeded(11)
        },
    );
    // Opening reads small objects that may come back short too: the
    // repository refuses them, and a new try draws again.
    let repo = (0..50)
        .find_map(|_| Repository::open(storage.clone(), PASSWORD.as_bytes(), open_opts(&env)).ok())
        .expect("open within 50 tries");
    let target = env.path("target");
    let Ok(snap) = repo.find_snapshot("latest", &SnapshotFilter::default()) else {
        return; // a truncated snapshot read: refused, nothing restored
    };
    let report = restore(
        &repo,
        snap.snapshot.tree,
        &RestoreOptions::new(&target),
        &NoProgress,
    );
    let failed: Vec<_> = match &report {
        Ok(r) => r.errors.iter().map(|(p, _)| p.clone()).collect(),
        Err(_) => Vec::new(),
    };
    assert!(storage.inner().counts().truncated_reads > 0);
    let restored_src = restored(&target, &src);
    let mut checked = 0;
    for file in files_under(&restored_src) {
        let rel = file.strip_prefix(&restored_src).unwrap();
        if failed.iter().any(|f| f.ends_with(rel)) {
            continue;
        }
        let want = std::fs::read(src.join(rel)).unwrap();
        assert!(
            std::fs::read(&file).unwrap() == want,
            "{} restored wrong",
            rel.display()
        );
        checked += 1;
    }
    if let Ok(r) = &report {
        assert!(!r.errors.is_empty() || checked == 52, "{r:?}");
    }
}
