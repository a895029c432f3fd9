//! A backup and a prune running at the same time, on a slowed backend so
//! they overlap, in both start orders: both finish, and after a second
//! prune past the grace period the backup's snapshot restores byte-exact.

use std::sync::Arc;
use std::time::Duration;

use cairn::prune::{PruneOptions, DEFAULT_GRACE};
use cairn::storage::faulty::{FaultConfig, FaultyStorage};
use cairn::storage::local::LocalStorage;
use cairn::storage::Storage;

use crate::prune::*;
use crate::util::*;

fn backup_and_prune_overlap(prune_first: bool) {
    let f = Fixture::new();
    f.forget(&f.old);
    let slow = |seed| -> Arc<dyn Storage> {
        Arc::new(FaultyStorage::new(
            LocalStorage::new(f.repo_dir()),
            FaultConfig {
                slow: 0.5,
                slow_delay: Duration::from_millis(3),
                ..FaultConfig::seeded(seed)
            },
        ))
    };
    // Each side has its own cache, like two machines.
    let backup_repo = open_on(slow(1), &f.dir.path().join("backup-cache"));
    let prune_repo = open_on(slow(2), &f.dir.path().join("prune-cache"));
    let again_src = f.src("again");
    write(&again_src.join("a.bin"), &random_bytes(1, 1_500_000));
    write(&again_src.join("d.bin"), &random_bytes(5, 1_500_000));
    let (again, report) = std::thread::scope(|s| {
        let spawn_backup = || s.spawn(|| backup_dir(&backup_repo, &again_src));
        let spawn_prune = || s.spawn(|| run(&prune_repo, &PruneOptions::default()));
        let (b, p) = if prune_first {
            let p = spawn_prune();
            (spawn_backup(), p)
        } else {
            let b = spawn_backup();
            (b, spawn_prune())
        };
        (b.join().unwrap(), p.join().unwrap())
    });
    assert_eq!(report.packs_deleted, 0, "{report:?}");
    let later = PruneOptions {
        now: now_plus(DEFAULT_GRACE + Duration::from_secs(60)),
        ..Default::default()
    };
    let repo = f.open("after");
    run(&repo, &later);
    let scratch = f.dir.path().join("t");
    assert_restores(&repo, &again, &again_src, &scratch);
    assert_restores(&repo, &f.new, &f.src("new"), &scratch);
    assert_eq!(assert_checks(&repo), Vec::<String>::new());
}

#[test]
fn a_backup_started_before_a_prune_survives_it() {
    backup_and_prune_overlap(false);
}

#[test]
fn a_backup_started_after_a_prune_survives_it() {
    backup_and_prune_overlap(true);
}
