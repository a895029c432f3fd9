//! The structure check: everything that can be proven from listings and
//! metadata alone, without downloading packs. Its result is the plan for
//! the data check: which packs the index promises and which exist.

use std::collections::{HashMap, HashSet};

use crate::check::lost::LostBlobs;
use crate::check::{CheckReport, Problem};
use crate::error::{Error, Result};
use crate::format::index::{BlobKind, PackEntry};
use crate::format::layout;
use crate::format::tree::{NodeKind, Tree};
use crate::ids::{BlobId, ChunkId, IndexId, PackId, SnapshotId, TreeId};
use crate::progress::Progress;
use crate::repo::{Repository, TREE_PACK_BYTES_AHEAD};

/// What the structure check learnt, for the data check to act on.
pub(crate) struct Plan {
    /// Every pack a live (not superseded) index file lists, with its entry.
    pub indexed: HashMap<PackId, PackEntry>,
    /// Every pack in storage and its size.
    pub present: HashMap<PackId, u64>,
    /// Blobs already known lost: in missing packs, past the end of short
    /// packs, referenced but in no index, or trees that would not load.
    pub lost: LostBlobs,
    /// Every blob `indexed` lists, for the tree walk's lookups.
    pub blobs: IndexedBlobs,
}

/// The ids of every blob the live index files list, sorted, by kind.
///
/// The tree walk asks "is it indexed?" once per chunk of every distinct
/// tree: a query of the SQLite cache each was half of a structure check's
/// CPU. A binary search here costs 32 bytes a blob, beside the index
/// entries the check holds anyway, and answers from the index files just
/// read rather than from the cache.
#[derive(Default)]
pub(crate) struct IndexedBlobs {
    data: Vec<BlobId>,
    trees: Vec<BlobId>,
}

impl IndexedBlobs {
    fn new(indexed: &HashMap<PackId, PackEntry>) -> Self {
        let count = |kind| -> usize {
            let of_kind = indexed.values().filter(|e| e.kind == kind);
            of_kind.map(|e| e.blobs.len()).sum()
        };
        let mut all = IndexedBlobs {
            data: Vec::with_capacity(count(BlobKind::Data)),
            trees: Vec::with_capacity(count(BlobKind::Tree)),
        };
        for entry in indexed.values() {
            let ids = entry.blobs.iter().map(|b| b.id);
            match entry.kind {
                BlobKind::Data => all.data.extend(ids),
                BlobKind::Tree => all.trees.extend(ids),
            }
        }
        all.data.sort_unstable();
        all.trees.sort_unstable();
        all
    }

    /// Is the blob listed? If not, the cache is asked too, as before this
    /// set existed: it still holds what a damaged index file listed (which
    /// `repair index` restores), and such a blob is not lost.
    fn contains(&self, repo: &Repository, kind: BlobKind, id: &BlobId) -> Result<bool> {
        let ids = match kind {
            BlobKind::Data => &self.data,
            BlobKind::Tree => &self.trees,
        };
        Ok(ids.binary_search(id).is_ok() || repo.locate(kind, id)?.is_some())
    }
}

impl Plan {
    /// Packs that are both indexed and present: the ones whose data can be
    /// compared with what the index says.
    pub fn readable_packs(&self) -> Vec<(PackId, u64)> {
        let mut v: Vec<(PackId, u64)> = self
            .indexed
            .keys()
            .filter_map(|id| self.present.get(id).map(|size| (*id, *size)))
            .collect();
        v.sort_by_key(|(id, _)| *id);
        v
    }

    /// The tree packs of [`Plan::readable_packs`]: what the tree walk reads.
    pub fn tree_packs(&self) -> Vec<(PackId, u64)> {
        let mut v = self.readable_packs();
        v.retain(|(id, _)| self.indexed[id].kind == BlobKind::Tree);
        v
    }
}

/// Runs every metadata-only check, recording findings in `report`.
pub(crate) fn check_packs_and_index(
    repo: &Repository,
    report: &mut CheckReport,
    progress: &dyn Progress,
) -> Result<Plan> {
    progress.start("check structure", None, None);
    // The pack listing and the index files at once: a round trip less.
    let (present, indexed) = std::thread::scope(|s| {
        let present = s.spawn(|| list_packs(repo));
        let indexed = load_indexes(repo, report);
        (present.join(), indexed)
    });
    let present = present.map_err(|_| Error::Internal("listing the packs panicked".into()))??;
    let indexed = indexed?;
    report.packs = present.len() as u64;
    let mut lost = LostBlobs::default();
    compare_packs(&indexed, &present, report, &mut lost);
    let blobs = IndexedBlobs::new(&indexed);
    progress.finish();
    Ok(Plan {
        indexed,
        present,
        lost,
        blobs,
    })
}

fn list_packs(repo: &Repository) -> Result<HashMap<PackId, u64>> {
    Ok(repo
        .storage()
        .list(layout::PACKS_PREFIX)?
        .into_iter()
        .filter_map(|o| layout::parse_pack(&o.key).map(|id| (id, o.size)))
        .collect())
}

/// Loads every index file itself rather than trusting the cache: the cache
/// was filled when the file was first seen and would hide later damage.
fn load_indexes(repo: &Repository, report: &mut CheckReport) -> Result<HashMap<PackId, PackEntry>> {
    let ids = repo.index_ids()?;
    report.index_files = ids.len() as u64;
    let mut files = Vec::with_capacity(ids.len());
    let mut corrupt = Vec::new();
    // Every index file at once: a round trip each otherwise.
    let loaded = crate::repo::fetch_all(&ids, |id| repo.load_index_file(id));
    for (id, loaded) in ids.into_iter().zip(loaded) {
        match loaded {
            Ok(f) => files.push((id, f)),
            Err(e) if e.kind() == crate::ErrorKind::Corrupt => corrupt.push((id, e)),
            Err(e) => return Err(e),
        }
    }
    // A superseded file may name packs prune has since deleted.
    let superseded: HashSet<IndexId> = files
        .iter()
        .flat_map(|(_, f)| f.supersedes.iter().copied())
        .collect();
    // A corrupt file another one supersedes (a repair crashed before
    // deleting it) has lost nothing: its replacement holds what it held.
    for (id, e) in corrupt {
        report.problems.push(if superseded.contains(&id) {
            Problem::warning(format!("index {id}"), format!("{e} (superseded)"))
        } else {
            Problem::damage(
                format!("index {id}"),
                format!("{e}; `cairn repair index` rebuilds what it held"),
            )
        });
    }
    let mut indexed = HashMap::new();
    for (id, file) in files {
        if superseded.contains(&id) {
            continue;
        }
        for pack in file.packs {
            indexed.entry(pack.id).or_insert(pack);
        }
    }
    Ok(indexed)
}

fn compare_packs(
    indexed: &HashMap<PackId, PackEntry>,
    present: &HashMap<PackId, u64>,
    report: &mut CheckReport,
    lost: &mut LostBlobs,
) {
    let mut found = Vec::new();
    for (id, entry) in indexed {
        match present.get(id) {
            None => {
                found.push(Problem::damage(
                    format!("pack {id}"),
                    format!("missing: the index lists {} blobs in it", entry.blobs.len()),
                ));
                lost.add_pack(entry, 0);
            }
            Some(&size) if size != entry.size => {
                found.push(Problem::damage(
                    format!("pack {id}"),
                    format!("is {size} bytes, the index says {}", entry.size),
                ));
                // What lies inside the bytes that are left is still readable.
                lost.add_pack(entry, size);
            }
            Some(_) => {}
        }
    }
    for id in present.keys().filter(|id| !indexed.contains_key(id)) {
        found.push(Problem::warning(
            format!("pack {id}"),
            "unindexed: no index lists it (left by an interrupted backup?)",
        ));
    }
    found.sort_by(|a, b| a.object.cmp(&b.object));
    report.problems.extend(found);
}

/// Loads every snapshot and walks its trees, each distinct tree once,
/// checking every referenced blob is indexed: the second half of the
/// structure check, which needs only the first's index ids, so it runs
/// beside the data check.
///
/// The tree packs (`tree_packs`) are read whole beside the snapshot files
/// when they fit ([`Repository::read_tree_packs`]), so the walk costs no
/// round trip per level of directories.
pub(crate) fn check_snapshots(
    repo: &Repository,
    blobs: &IndexedBlobs,
    tree_packs: &[(PackId, u64)],
    report: &mut CheckReport,
    lost: &mut LostBlobs,
) -> Result<()> {
    let ids: Vec<SnapshotId> = repo.snapshot_ids()?;
    report.snapshots = ids.len() as u64;
    let mut walk = Walk {
        repo,
        blobs,
        seen_trees: HashSet::new(),
        problems: Vec::new(),
        lost,
    };
    // Every snapshot file at once (a round trip each otherwise), and the
    // tree packs beside them.
    let (loaded, _kept) = std::thread::scope(|s| {
        let ahead = s.spawn(|| repo.read_tree_packs(tree_packs, TREE_PACK_BYTES_AHEAD));
        let loaded = crate::repo::fetch_all(&ids, |id| repo.load_snapshot(id));
        let ahead = ahead.join();
        ahead.map(|kept| (loaded, kept))
    })
    .map_err(|_| Error::Internal("reading the tree packs panicked".into()))?;
    let mut roots = Vec::new();
    for (id, loaded) in ids.iter().zip(loaded) {
        match loaded {
            Ok(snap) => roots.push(snap.tree),
            Err(e) if e.kind() == crate::ErrorKind::Corrupt => walk
                .problems
                .push(Problem::damage(format!("snapshot {id}"), e.to_string())),
            Err(e) => return Err(e),
        }
    }
    walk.tree_graph(roots)?;
    report.trees = walk.seen_trees.len() as u64;
    report.problems.extend(walk.problems);
    Ok(())
}

struct Walk<'a> {
    repo: &'a Repository,
    blobs: &'a IndexedBlobs,
    seen_trees: HashSet<TreeId>,
    problems: Vec<Problem>,
    lost: &'a mut LostBlobs,
}

impl Walk<'_> {
    /// A level at a time (no recursion: trees can nest deeper than a
    /// thread's stack), each level's trees read from the repository with
    /// their blocks fetched ahead in parallel
    /// ([`Repository::load_trees_from_repository`]): over a WAN one round
    /// trip per block in sequence would dominate the check.
    ///
    /// A tree is marked seen when it is first queued, so a level holds each
    /// tree once: a subtree that many snapshots' roots share is not queued
    /// once per parent.
    fn tree_graph(&mut self, roots: Vec<TreeId>) -> Result<()> {
        let mut level: Vec<TreeId> = roots
            .into_iter()
            .filter(|id| self.seen_trees.insert(*id))
            .collect();
        while !level.is_empty() {
            let mut todo = Vec::new();
            for id in level {
                if !self
                    .blobs
                    .contains(self.repo, BlobKind::Tree, &BlobId::from(id))?
                {
                    self.problems
                        .push(Problem::damage(format!("tree {id}"), "not in any index"));
                    self.lost.add(BlobKind::Tree, BlobId::from(id));
                    continue;
                }
                todo.push(id);
            }
            let mut next = Vec::new();
            let repo = self.repo;
            repo.load_trees_from_repository(&todo, |id, tree| self.visit(id, tree, &mut next))?;
            level = next;
        }
        Ok(())
    }

    /// One loaded tree: its subtrees go to `next`, its chunks are looked up.
    fn visit(&mut self, id: TreeId, tree: Result<Tree>, next: &mut Vec<TreeId>) -> Result<()> {
        let tree = match tree {
            Ok(t) => t,
            Err(e) if e.kind() == crate::ErrorKind::Corrupt => {
                self.problems
                    .push(Problem::damage(format!("tree {id}"), e.to_string()));
                self.lost.add(BlobKind::Tree, BlobId::from(id));
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        for node in tree.nodes {
            match node.kind {
                // Queued when first met, so once however many parents share it.
                NodeKind::Dir { subtree } if self.seen_trees.insert(subtree) => next.push(subtree),
                NodeKind::File { content, .. } | NodeKind::Sqlite { content, .. } => {
                    self.chunks(&content)?
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn chunks(&mut self, content: &[ChunkId]) -> Result<()> {
        // No set of chunks already seen, beside the index ids: memory grows
        // with the blobs only by those. Each distinct tree is read once, so
        // a chunk is looked up again only when several trees share it.
        for c in content {
            if !self
                .blobs
                .contains(self.repo, BlobKind::Data, &BlobId::from(*c))?
                && !self.lost.chunk_known_lost(c)
            {
                self.problems
                    .push(Problem::damage(format!("chunk {c}"), "not in any index"));
                self.lost.add(BlobKind::Data, BlobId::from(*c));
            }
        }
        Ok(())
    }
}
