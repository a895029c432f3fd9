//! Where tree blobs come from, cheapest first: a block kept in memory
//! (`tree_blocks`), a block kept on disk (`tree_cache`), or one ranged read
//! of the block from the repository, which then feeds both.
//!
//! Walkers that would otherwise pay one round trip per block in sequence
//! call [`Repository::prefetch_trees`] or [`Repository::prefetch_below`]
//! first: the distinct blocks they will need are read in parallel
//! (`fan_out`), each at most once however many threads want it (a gate per
//! block), and the walk that follows finds them in memory or on disk.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use crate::format::index::BlobKind;
use crate::format::tree::{NodeKind, Tree};
use crate::ids::{BlobId, PackId, TreeId};
use crate::repo::tree_blocks::{self, Kept, BLOCK, KEPT};
use crate::repo::{fan_out, BlobLocation, Repository};
use crate::storage::StorageResult;

/// Decoded trees a prefetch walked through, handed to the walk that
/// follows so it does not open and decode them a second time. Taken once;
/// bounded by an estimate of their memory.
#[derive(Default)]
pub(super) struct Ahead {
    trees: Mutex<(HashMap<TreeId, Tree>, usize)>,
}

/// What the decoded trees read ahead may hold. At 64 MiB a restore of
/// 1,000,000 small files peaked at 262 MiB, against 140 MiB for 100,000,
/// the difference mostly trees kept here (heaptrack); at 16 MiB it peaked at
/// 170-188 MiB with the same user CPU (15.2-16.2 s): a tree the walk finds
/// missing here is decoded again, which costs little beside writing its
/// files.
const AHEAD_BYTES: usize = 16 * 1024 * 1024;

impl Ahead {
    /// Heap and inline bytes of a decoded tree, near enough: a file's chunk
    /// list, a link's target and the names are what vary.
    fn weight(t: &Tree) -> usize {
        let node = |n: &crate::format::tree::Node| {
            let kind = match &n.kind {
                NodeKind::File { content, .. } => content.len() * 32,
                NodeKind::Symlink { target } => target.len(),
                _ => 0,
            };
            let xattrs: usize = n
                .meta
                .xattrs
                .iter()
                .map(|x| x.name.len() + x.value.len() + 48)
                .sum();
            200 + n.name.len() + n.meta.user.len() + n.meta.group.len() + kind + xattrs
        };
        64 + t.nodes.iter().map(node).sum::<usize>()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (HashMap<TreeId, Tree>, usize)> {
        self.trees.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `t` if there is room.
    fn put(&self, id: TreeId, t: Tree) {
        let w = Self::weight(&t);
        let mut g = self.lock();
        if g.1 + w <= AHEAD_BYTES && !g.0.contains_key(&id) {
            g.1 += w;
            g.0.insert(id, t);
        }
    }

    /// The tree read ahead as `id`, if kept; it is kept no longer.
    pub(super) fn take(&self, id: &TreeId) -> Option<Tree> {
        let mut g = self.lock();
        let t = g.0.remove(id)?;
        g.1 -= Self::weight(&t);
        Some(t)
    }

    pub(super) fn clear(&self) {
        *self.lock() = Default::default();
    }
}

impl Repository {
    /// A tree blob's sealed bytes and whether they came from the disk cache
    /// (now or when its block was kept); `disk_ok` false reads only what
    /// came from the repository, for commands that verify it.
    pub(super) fn tree_sealed(
        &self,
        key: &str,
        loc: &BlobLocation,
        disk_ok: bool,
    ) -> StorageResult<(Vec<u8>, bool)> {
        let (offset, len) = (loc.offset as u64, loc.length as u64);
        if let Some(kept) = self.tree_blocks.find(&loc.pack, offset, len, disk_ok) {
            return Ok((kept.slice(offset, len), kept.from_disk));
        }
        let size = self.cache().pack_size(&loc.pack).ok().flatten();
        let Some(size) = size.filter(|&s| s >= offset + len) else {
            // An index that claims more than the pack holds: read just the
            // blob, so the error says what is wrong.
            return Ok((self.storage().get_range(key, offset, len)?, false));
        };
        let blocks = tree_blocks::blocks_of(offset, len, size);
        let fetch = |(start, block_len): &(u64, u64)| {
            self.fetch_block(&loc.pack, key, *start, *block_len, disk_ok)
        };
        let got = match blocks.len() {
            1 => vec![fetch(&blocks[0])],
            _ => fan_out::fetch_all(&blocks, fetch),
        };
        let (mut sealed, mut from_disk) = (Vec::with_capacity(len as usize), false);
        for kept in got {
            match kept {
                Ok(kept) => {
                    from_disk |= kept.from_disk;
                    let end = kept.start + kept.bytes.len() as u64;
                    let (lo, hi) = (offset.max(kept.start), (offset + len).min(end));
                    if lo < hi {
                        let at = (lo - kept.start) as usize;
                        sealed.extend_from_slice(&kept.bytes[at..at + (hi - lo) as usize]);
                    }
                }
                // A truncated pack may still hold this blob whole.
                Err(e) if !e.is_not_found() => {
                    return Ok((self.storage().get_range(key, offset, len)?, false))
                }
                Err(e) => return Err(e),
            }
        }
        // A short answer is caught by the caller's length checks.
        Ok((sealed, from_disk))
    }

    /// The block of `pack` at `start..start+len`: kept, on disk, or read
    /// (once, whoever else wants it meanwhile).
    pub(super) fn fetch_block(
        &self,
        pack: &PackId,
        key: &str,
        start: u64,
        len: u64,
        disk_ok: bool,
    ) -> StorageResult<Kept> {
        let gate = self.tree_blocks.gate(pack, start);
        let got = {
            let _held = gate.lock().unwrap_or_else(|p| p.into_inner());
            self.fetch_block_gated(pack, key, start, len, disk_ok)
        };
        self.tree_blocks.release(pack, start, gate);
        got
    }

    fn fetch_block_gated(
        &self,
        pack: &PackId,
        key: &str,
        start: u64,
        len: u64,
        disk_ok: bool,
    ) -> StorageResult<Kept> {
        // Another reader may have brought it while this one waited.
        if let Some(kept) = self.tree_blocks.find(pack, start, len, disk_ok) {
            if kept.start == start {
                return Ok(kept);
            }
        }
        let disk = self.tree_cache.as_ref();
        if let Some(bytes) = disk
            .filter(|_| disk_ok)
            .and_then(|d| d.get(pack, start, len))
        {
            let bytes = Arc::new(bytes);
            self.tree_blocks.put(*pack, start, bytes.clone(), true);
            return Ok(Kept {
                start,
                bytes,
                from_disk: true,
            });
        }
        let bytes = Arc::new(self.storage().get_range(key, start, len)?);
        // Reads that judge the repository (check, prune) leave the cache as
        // it was; a read again after a damaged block replaces it.
        if let Some(disk) = disk.filter(|_| self.local_copies_allowed()) {
            disk.put(pack, start, &bytes);
        }
        self.tree_blocks.put(*pack, start, bytes.clone(), false);
        Ok(Kept {
            start,
            bytes,
            from_disk: false,
        })
    }

    /// Whether tree packs this process uploads go into the tree cache.
    pub(super) fn keeps_tree_packs(&self) -> bool {
        self.tree_cache.is_some() && !self.is_put_only()
    }

    /// Keeps a tree pack just stored, block by block, in the tree cache: it
    /// is exactly what reading those blocks back would bring.
    pub(super) fn keep_tree_pack(&self, pack: &PackId, bytes: &[u8]) {
        let Some(disk) = &self.tree_cache else {
            return;
        };
        let size = bytes.len() as u64;
        for (start, len) in tree_blocks::blocks_of(0, size, size) {
            disk.put(pack, start, &bytes[start as usize..(start + len) as usize]);
        }
    }

    /// Forgets the kept block holding a tree blob whose bytes did not open,
    /// in memory and on disk, so the next read goes to the repository.
    pub(super) fn drop_tree_block(&self, loc: &BlobLocation) {
        let (offset, len) = (loc.offset as u64, loc.length as u64);
        for (start, _) in tree_blocks::blocks_of(offset, len, u64::MAX) {
            self.tree_blocks.forget(&loc.pack, start);
            if let Some(disk) = &self.tree_cache {
                disk.remove(&loc.pack, start);
            }
        }
    }

    /// Reads, in parallel, the blocks holding these trees that are neither
    /// in memory nor on disk, so loading them next costs no round trip
    /// each: for a directory's children (the mount, `diff`). Errors are
    /// left for the load to report. Reads at most what the memory keeps
    /// (half of it); returns how many blocks it read.
    pub fn prefetch_trees(&self, ids: &[TreeId]) -> usize {
        self.prefetch_blocks(ids, KEPT / 2).0
    }

    /// [`Repository::prefetch_trees`], also saying whether every missing
    /// block fit the budget.
    fn prefetch_blocks(&self, ids: &[TreeId], budget: usize) -> (usize, bool) {
        let mut want: BTreeMap<(PackId, u64), u64> = BTreeMap::new();
        for id in ids {
            let Ok(Some(loc)) = self.locate(BlobKind::Tree, &BlobId::from(*id)) else {
                continue;
            };
            let (offset, len) = (loc.offset as u64, loc.length as u64);
            let Ok(Some(size)) = self.cache().pack_size(&loc.pack) else {
                continue;
            };
            if size < offset + len
                || self
                    .tree_blocks
                    .find(&loc.pack, offset, len, true)
                    .is_some()
            {
                continue;
            }
            for (start, block_len) in tree_blocks::blocks_of(offset, len, size) {
                let kept = self.tree_blocks.find(&loc.pack, start, block_len, true);
                let on_disk = || {
                    self.tree_cache
                        .as_ref()
                        .is_some_and(|d| d.has(&loc.pack, start, block_len))
                };
                if kept.is_none() && !on_disk() {
                    want.insert((loc.pack, start), block_len);
                }
            }
        }
        let all = want.len() <= budget;
        let blocks: Vec<_> = want.into_iter().take(budget).collect();
        fan_out::fetch_all(&blocks, |((pack, start), len)| {
            let key = crate::format::layout::pack(pack);
            let _ = self.fetch_block(pack, &key, *start, *len, true);
        });
        (blocks.len(), all)
    }

    /// Prefetches every tree below `roots`, a level at a time: each
    /// level's missing blocks are read in parallel, then its trees (now
    /// local) name the next level. For walkers that visit whole snapshots
    /// (`find`, `ls -R`, restore planning, `stats`). Reads no more blocks
    /// than the caches can keep until the walk reaches them. Trees in
    /// `seen` are skipped and the visited ones added, so a walker over many
    /// snapshots passes one set and shared subtrees are visited once.
    pub fn prefetch_below(&self, roots: &[TreeId], seen: &mut HashSet<TreeId>) {
        let mut budget = match &self.tree_cache {
            Some(_) => (crate::repo::tree_cache::DEFAULT_LIMIT / BLOCK / 2) as usize,
            None => KEPT / 2,
        };
        let mut level: Vec<TreeId> = roots
            .iter()
            .filter(|id| seen.insert(**id))
            .copied()
            .collect();
        while !level.is_empty() {
            let (read, all) = self.prefetch_blocks(&level, budget);
            if !all {
                // The walk reads the rest as it goes.
                return;
            }
            budget -= read;
            let children: Vec<Vec<TreeId>> = level
                .par_iter()
                .map(|id| match self.load_tree(id) {
                    Ok(t) => {
                        let below = t
                            .nodes
                            .iter()
                            .filter_map(|n| match &n.kind {
                                NodeKind::Dir { subtree } => Some(*subtree),
                                _ => None,
                            })
                            .collect();
                        self.trees_ahead.put(*id, t);
                        below
                    }
                    Err(_) => Vec::new(),
                })
                .collect();
            level = children
                .into_iter()
                .flatten()
                .filter(|id| seen.insert(*id))
                .collect();
        }
    }
}
