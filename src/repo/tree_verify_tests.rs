//! `check` over slow storage: tree blocks read ahead from the repository in
//! parallel, never from the local tree cache, whatever that cache holds.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::check::{check, CheckOptions, CheckReport};
use crate::format::layout::PACKS_PREFIX;
use crate::ids::PackId;
use crate::progress::NoProgress;
use crate::repo::tree_fetch_tests::{find_all, hex_dir, open, repository, snapshot, Watched};
use crate::repo::tree_verify::WINDOW;
use crate::repo::{Repository, TREE_PACK_BYTES_AHEAD};
use crate::storage::Storage;

fn run_check(repo: &Repository) -> CheckReport {
    check(repo, &CheckOptions::default(), &NoProgress).unwrap()
}

/// Flips a byte in the middle of every file in `dir`.
fn flip_all(dir: &std::path::Path) -> usize {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    for f in &files {
        let mut bytes = std::fs::read(f).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x40;
        std::fs::write(f, bytes).unwrap();
    }
    files.len()
}

/// Flips a byte in the middle of every pack in the repository.
fn damage_packs(storage: &Watched) {
    for o in storage.inner.list(PACKS_PREFIX).unwrap() {
        let mut bytes = storage.inner.get(&o.key).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x40;
        storage.inner.put(&o.key, Bytes::from(bytes)).unwrap();
    }
}

#[test]
fn check_reads_tree_blocks_ahead_in_parallel() {
    let (storage, dir, root) = repository();
    let repo = open(&storage, &dir.path().join("a"));
    repo.save_snapshot(&snapshot(root).snapshot).unwrap();
    storage.reset();
    let report = run_check(&repo);
    assert!(!report.is_damaged(), "{:?}", report.problems);
    assert_eq!(report.trees, 1 + 6 + 6 * 4);
    let reads = storage.pack_reads();
    let distinct: HashSet<_> = reads.iter().cloned().collect();
    assert!(distinct.len() > 16, "{} blocks: too few", distinct.len());
    assert!(
        reads.len() <= distinct.len() + 2,
        "{} reads of {} blocks",
        reads.len(),
        distinct.len()
    );
    assert!(storage.peak.load(Ordering::SeqCst) > 1, "one at a time");
}

/// Runs `judge` (a check or a prune) on a repository whose tree packs fit
/// the read-ahead, and asserts it read every block once, with more in
/// flight together than a level's window ([`WINDOW`]) ever holds.
fn reads_every_tree_block_at_once(judge: impl FnOnce(&Repository)) {
    let (storage, dir, root) = repository();
    let repo = open(&storage, &dir.path().join("a"));
    repo.save_snapshot(&snapshot(root).snapshot).unwrap();
    storage.reset();
    judge(&repo);
    let reads = storage.pack_reads();
    let distinct: HashSet<_> = reads.iter().cloned().collect();
    let blocks = distinct.len();
    assert!(
        blocks > WINDOW && blocks as u64 * (1 << 20) <= TREE_PACK_BYTES_AHEAD,
        "{blocks} blocks"
    );
    assert_eq!(reads.len(), blocks, "a block read twice");
    let peak = storage.peak.load(Ordering::SeqCst);
    assert!(peak > WINDOW, "{peak} of {blocks} blocks in flight at most");
}

/// A check reads every block of the tree packs at once, beside the
/// snapshot files, and its walk of three levels waits on no further read.
/// (A level at a time, 6 of 21 blocks were in flight together at most.)
#[test]
fn check_reads_every_tree_block_at_once_when_they_fit() {
    reads_every_tree_block_at_once(|repo| {
        let report = run_check(repo);
        assert!(!report.is_damaged(), "{:?}", report.problems);
    });
}

/// Prune judges stored trees too, and reads the tree packs at once before
/// its walk (depth first, one block after another: 2 of 21 in flight).
#[test]
fn prune_reads_every_tree_block_at_once_when_they_fit() {
    reads_every_tree_block_at_once(|repo| {
        let opts = crate::prune::PruneOptions {
            dry_run: true,
            ..Default::default()
        };
        crate::prune::prune(repo, &opts, &NoProgress).unwrap();
    });
}

/// Tree packs beyond the read-ahead's bound (in bytes) are not read ahead
/// at all (the walk reads them a level at a time), and a read-ahead's
/// blocks stay in memory only while its guard lives.
#[test]
fn tree_packs_beyond_the_bound_are_left_to_the_walk() {
    let (storage, dir, _root) = repository();
    let repo = open(&storage, &dir.path().join("a"));
    let packs: Vec<(PackId, u64)> = storage
        .inner
        .list(PACKS_PREFIX)
        .unwrap()
        .into_iter()
        .map(|o| (crate::format::layout::parse_pack(&o.key).unwrap(), o.size))
        .collect();
    let blocks: usize = packs
        .iter()
        .map(|(_, s)| s.div_ceil(1 << 20) as usize)
        .sum();
    let bytes: u64 = packs.iter().map(|(_, s)| s).sum();
    storage.reset();
    let none = repo.read_tree_packs(&packs, bytes - 1);
    assert_eq!((none.blocks(), storage.pack_reads().len()), (0, 0));
    drop(none);
    let all = repo.read_tree_packs(&packs, bytes);
    assert_eq!((all.blocks(), storage.pack_reads().len()), (blocks, blocks));
    assert!(blocks > crate::repo::tree_blocks::KEPT, "{blocks} blocks");
    assert_eq!(repo.tree_blocks.len(), blocks, "all kept while read ahead");
    drop(all);
    assert_eq!(repo.tree_blocks.len(), crate::repo::tree_blocks::KEPT);
}

#[test]
fn check_ignores_a_damaged_tree_cache_and_finds_a_damaged_tree_pack() {
    let (storage, dir, root) = repository();
    let cache = dir.path().join("a");
    let repo = open(&storage, &cache);
    repo.save_snapshot(&snapshot(root).snapshot).unwrap();
    find_all(&repo, root);
    drop(repo);

    // Every cached block damaged: check reads the repository and passes.
    assert!(flip_all(&hex_dir(&cache).join("trees")) > 16);
    storage.reset();
    let report = run_check(&open(&storage, &cache));
    assert!(!report.is_damaged(), "{:?}", report.problems);
    assert!(
        storage.pack_reads().len() > 16,
        "trees read from the repository"
    );

    // The cache made whole again (by a walk that may use it), then the
    // repository's tree packs damaged: check fails though every tree is
    // sound on local disk, where `find` still finds them without a read.
    find_all(&open(&storage, &cache), root);
    damage_packs(&storage);
    storage.reset();
    let hits = find_all(&open(&storage, &cache), root);
    assert_eq!(
        (hits, storage.pack_reads().len()),
        (6 + 6 * 4 + 6 * 4 * 3000, 0)
    );
    let report = run_check(&open(&storage, &cache));
    assert!(report.is_damaged(), "the damaged tree packs went unseen");
    assert!(report
        .problems
        .iter()
        .any(|p| p.object.starts_with("tree ")));
}
