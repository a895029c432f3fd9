//! The cache's bookkeeping of which index file contributed which rows.

use crate::format::index::{BlobEntry, BlobKind, CondemnedPack, IndexFile, PackEntry};
use crate::ids::{BlobId, IndexId, PackId};
use crate::repo::IndexCache;

pub(in crate::repo) fn blob(n: u8) -> BlobId {
    BlobId([n; 32])
}

fn pack_id(n: u8) -> PackId {
    PackId([n; 32])
}

fn file_id(n: u8) -> IndexId {
    IndexId([n; 32])
}

/// A data pack holding blobs `blobs`, each 100 bytes, in that order (its
/// index entries only: the pack itself need not exist).
pub(in crate::repo) fn pack(n: u8, blobs: &[u8]) -> PackEntry {
    PackEntry {
        id: pack_id(n),
        kind: BlobKind::Data,
        size: 100 * blobs.len() as u64 + 50,
        blobs: blobs
            .iter()
            .enumerate()
            .map(|(i, b)| BlobEntry {
                id: blob(*b),
                offset: 100 * i as u32,
                length: 100,
                raw_length: 200,
            })
            .collect(),
    }
}

fn file(packs: Vec<PackEntry>) -> IndexFile {
    IndexFile {
        packs,
        ..Default::default()
    }
}

fn has(c: &IndexCache, n: u8) -> bool {
    c.lookup(BlobKind::Data, &blob(n)).unwrap().is_some()
}

#[test]
fn files_are_added_one_at_a_time_and_only_once() {
    let mut c = IndexCache::in_memory().unwrap();
    assert!(c
        .add_index_file(&file_id(1), &file(vec![pack(1, &[1, 2])]))
        .unwrap());
    assert!(has(&c, 1) && has(&c, 2) && !has(&c, 3));
    assert!(c
        .add_index_file(&file_id(2), &file(vec![pack(2, &[3])]))
        .unwrap());
    assert!(has(&c, 1) && has(&c, 3));
    assert_eq!(c.counts().unwrap(), (3, 2));
    // Loading a known file again changes nothing.
    assert!(!c
        .add_index_file(&file_id(1), &file(vec![pack(9, &[9])]))
        .unwrap());
    assert!(!has(&c, 9));
    assert_eq!(c.known_index_files().unwrap().len(), 2);
}

#[test]
fn a_superseding_file_drops_what_only_the_old_files_listed() {
    let mut c = IndexCache::in_memory().unwrap();
    c.add_index_file(&file_id(1), &file(vec![pack(1, &[1, 2])]))
        .unwrap();
    c.add_index_file(&file_id(2), &file(vec![pack(2, &[3])]))
        .unwrap();
    c.add_index_file(&file_id(3), &file(vec![pack(3, &[4])]))
        .unwrap();
    // The replacement keeps pack 1 cut to blob 2 (as `repair index` cuts
    // entries past a truncation), drops pack 2, and leaves file 3 alone.
    let mut cut = pack(1, &[2]);
    cut.blobs[0].offset = 100;
    let new = IndexFile {
        supersedes: vec![file_id(1), file_id(2)],
        packs: vec![cut.clone()],
        ..Default::default()
    };
    assert!(c.add_index_file(&file_id(4), &new).unwrap());
    assert!(!has(&c, 1), "an entry only in a superseded file must go");
    assert!(!has(&c, 3));
    let loc = c.lookup(BlobKind::Data, &blob(2)).unwrap().unwrap();
    assert_eq!((loc.pack, loc.offset), (pack_id(1), 100));
    assert!(has(&c, 4), "a file not superseded keeps its entries");
    assert_eq!(c.pack_size(&pack_id(1)).unwrap(), Some(cut.size));
    assert_eq!(c.pack_size(&pack_id(2)).unwrap(), None);
    assert_eq!(c.counts().unwrap(), (2, 2));
    let known = c.known_index_files().unwrap();
    assert_eq!(known, [file_id(3), file_id(4)].into_iter().collect());
    assert_eq!(
        c.superseded().unwrap(),
        [file_id(1), file_id(2)].into_iter().collect()
    );
    // A superseded file is never loaded again.
    assert!(!c
        .add_index_file(&file_id(1), &file(vec![pack(1, &[1])]))
        .unwrap());
    assert!(!has(&c, 1));
}

#[test]
fn forgetting_a_file_keeps_what_other_files_also_list() {
    let mut c = IndexCache::in_memory().unwrap();
    c.add_index_file(&file_id(1), &file(vec![pack(1, &[1, 2])]))
        .unwrap();
    let mut bigger = pack(1, &[1, 2]);
    bigger.size += 1000;
    c.add_index_file(&file_id(2), &file(vec![bigger.clone(), pack(2, &[3])]))
        .unwrap();
    assert_eq!(c.pack_size(&pack_id(1)).unwrap(), Some(bigger.size));
    c.forget_index_files(&[file_id(2), file_id(7)]).unwrap();
    assert!(has(&c, 1) && has(&c, 2) && !has(&c, 3));
    // The pack's size is the remaining file's again.
    assert_eq!(
        c.pack_size(&pack_id(1)).unwrap(),
        Some(pack(1, &[1, 2]).size)
    );
    assert_eq!(c.pack_size(&pack_id(2)).unwrap(), None);
    assert_eq!(c.counts().unwrap(), (2, 1));
    c.forget_index_files(&[file_id(1)]).unwrap();
    assert_eq!(c.counts().unwrap(), (0, 0));
    assert!(c.known_index_files().unwrap().is_empty());
    // Forgetting is not superseding: the file may be loaded again.
    assert!(c
        .add_index_file(&file_id(1), &file(vec![pack(1, &[1])]))
        .unwrap());
}

#[test]
fn condemnations_go_with_their_file_and_the_latest_wins() {
    let condemn = |since| IndexFile {
        condemned: vec![CondemnedPack {
            id: pack_id(1),
            since,
        }],
        ..Default::default()
    };
    let mut c = IndexCache::in_memory().unwrap();
    c.add_index_file(&file_id(1), &file(vec![pack(1, &[1])]))
        .unwrap();
    c.add_index_file(&file_id(2), &condemn(9)).unwrap();
    c.add_index_file(&file_id(3), &condemn(5)).unwrap();
    let since =
        |c: &IndexCache| -> Vec<i64> { c.condemned().unwrap().iter().map(|p| p.since).collect() };
    assert_eq!(since(&c), [9]);
    assert!(!c.contains(BlobKind::Data, &blob(1)).unwrap());
    assert!(has(&c, 1), "a condemned pack stays readable");
    c.forget_index_files(&[file_id(2)]).unwrap();
    assert_eq!(since(&c), [5]);
    c.forget_index_files(&[file_id(3)]).unwrap();
    assert!(since(&c).is_empty());
    assert!(c.contains(BlobKind::Data, &blob(1)).unwrap());
}

/// Lookups run in a held read snapshot on a second connection: this
/// process's own commits show at once, another process's after a refresh
/// (which every sync does), and a snapshot is renewed after enough lookups.
#[test]
fn lookups_see_own_writes_at_once_and_others_after_a_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.sqlite");
    let mut a = IndexCache::open(&path).unwrap();
    let mut b = IndexCache::open(&path).unwrap();
    assert!(!has(&a, 1) && !has(&b, 1), "both hold a snapshot now");
    a.add_index_file(&file_id(1), &file(vec![pack(1, &[1])]))
        .unwrap();
    assert!(has(&a, 1), "own commit visible at once");
    b.refresh_reads();
    assert!(has(&b, 1), "another's commit visible after a refresh");
    b.add_index_file(&file_id(2), &file(vec![pack(2, &[2])]))
        .unwrap();
    assert!(has(&b, 2));
    // No refresh for `a`: its snapshot ends after enough lookups.
    let mut seen = false;
    for _ in 0..10_000 {
        if has(&a, 2) {
            seen = true;
            break;
        }
    }
    assert!(
        seen,
        "a read snapshot is renewed after a bounded number of lookups"
    );
    assert_eq!(a.pack_size(&pack_id(2)).unwrap(), Some(150));
}

/// A blob stored twice is read from its live copy, whichever pack sorts
/// first; with only condemned copies left it is still found.
#[test]
fn lookup_prefers_the_live_copy_of_a_blob() {
    for dead_first in [false, true] {
        let (live, dead) = (1u8, 2u8);
        let mut packs = vec![pack(live, &[7]), pack(dead, &[7])];
        if dead_first {
            packs.reverse();
        }
        let mut c = IndexCache::in_memory().unwrap();
        let f = IndexFile {
            packs,
            condemned: vec![CondemnedPack {
                id: pack_id(dead),
                since: 1,
            }],
            ..Default::default()
        };
        c.add_index_file(&file_id(1), &f).unwrap();
        let at = c.lookup(BlobKind::Data, &blob(7)).unwrap().unwrap();
        assert_eq!(at.pack, pack_id(live), "live pack {live}");
        let only_dead = IndexFile {
            packs: vec![pack(3, &[8])],
            condemned: vec![CondemnedPack {
                id: pack_id(3),
                since: 1,
            }],
            ..Default::default()
        };
        c.add_index_file(&file_id(2), &only_dead).unwrap();
        let at = c.lookup(BlobKind::Data, &blob(8)).unwrap().unwrap();
        assert_eq!(at.pack, pack_id(3));
    }
}

/// Several processes opening one new cache at once and each filling it (a
/// fresh machine running two backups): none may drop the tables another
/// has just created and filled. The version check and the schema were
/// once separate statements, so a late opener that had read version 0
/// dropped a filled cache under the others ("no such table", or a blob
/// "in no index").
#[test]
fn openers_of_one_new_cache_never_drop_each_others_rows() {
    for round in 0..20u8 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.sqlite");
        let go = std::sync::Barrier::new(4);
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let (path, go) = (&path, &go);
                s.spawn(move || {
                    go.wait();
                    let mut c = IndexCache::open(path).unwrap();
                    let n = 10 * t + 1;
                    c.add_index_file(&file_id(n), &file(vec![pack(n, &[n])]))
                        .unwrap();
                    assert!(has(&c, n), "round {round}: own blob {n} lost");
                });
            }
        });
        let c = IndexCache::open(&path).unwrap();
        for t in 0..4u8 {
            assert!(
                has(&c, 10 * t + 1),
                "round {round}: blob of opener {t} lost"
            );
        }
    }
}
