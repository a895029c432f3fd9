//! Trees read from the repository, never from a local copy, a window of
//! blocks ahead: for `check`, whose verdict must be about what is stored.
//!
//! The read-ahead of `tree_fetch.rs` fills the disk cache and decoded trees
//! that may have come from it, so a walker under
//! [`Repository::read_storage_only`] cannot use it and paid one round trip
//! per block, in sequence. Here a walker hands over a whole level of trees;
//! they are sorted by where they lie, and their blocks are read from the
//! repository in parallel windows of at most [`WINDOW`] blocks (half of
//! what memory keeps, so a window's blocks are all still there when its
//! trees are opened), into memory only. Each tree is then opened and its id
//! checked exactly as a single read would be: nothing is trusted that did
//! not just come from the repository.
//!
//! A level still waits for the one above it: a round trip per level of the
//! snapshot's directories, 17 of them on the benchmark corpus, which made
//! `check` over an 80 ms link slower than rustic's. When the repository's
//! tree packs fit in [`TREE_PACK_BYTES_AHEAD`], a check (and a prune) first
//! reads them all at once ([`Repository::read_tree_packs`]) and its walk
//! then sends nothing.

use std::collections::BTreeSet;

use crate::error::Result;
use crate::format::index::BlobKind;
use crate::format::layout;
use crate::format::tree::Tree;
use crate::ids::{BlobId, PackId, TreeId};
use crate::repo::tree_blocks::{self, KEPT};
use crate::repo::{fan_out, Repository};

/// A tree to load: where its first block lies (to sort by), its id, and
/// the blocks of its pack it needs.
type Placed = ((PackId, u64), TreeId, Vec<(u64, u64)>);

/// Blocks read ahead at once: 8 MiB of memory at most.
pub(super) const WINDOW: usize = KEPT / 2;

/// The most tree-pack bytes a check or a prune reads before its walk: 32
/// MiB, the trees of about 190,000 files of one snapshot (8.9 MB held the
/// benchmark corpus's 52,577). Bytes, not blocks: a repository of many
/// small tree packs (one per backup) is still read at once. A repository
/// with more is walked a level at a time.
pub const TREE_PACK_BYTES_AHEAD: u64 = 32 * 1024 * 1024;

/// Keeps the blocks [`Repository::read_tree_packs`] read in memory while
/// it lives.
pub struct TreePacksRead<'r> {
    repo: &'r Repository,
    /// Blocks read, and kept beyond the usual.
    widened: usize,
}

impl TreePacksRead<'_> {
    /// Blocks read ahead (0: the packs did not fit).
    #[cfg(test)]
    pub fn blocks(&self) -> usize {
        self.widened
    }
}

impl Drop for TreePacksRead<'_> {
    fn drop(&mut self) {
        self.repo.tree_blocks.narrow(self.widened);
    }
}

impl Repository {
    /// Reads every block of these tree packs (id and size), all at once,
    /// if they come to at most `max_bytes`; else reads nothing. The blocks
    /// are kept in memory while the returned guard lives, so a walk of
    /// [`Repository::load_trees_from_repository`] finds them there, whatever
    /// the depth of the directories. Read errors are left for that walk to
    /// meet again and report.
    pub fn read_tree_packs(&self, packs: &[(PackId, u64)], max_bytes: u64) -> TreePacksRead<'_> {
        let mut kept = TreePacksRead {
            repo: self,
            widened: 0,
        };
        if packs.iter().map(|(_, size)| size).sum::<u64>() > max_bytes {
            return kept;
        }
        let blocks: Vec<(PackId, u64, u64)> = packs
            .iter()
            .flat_map(|(pack, size)| {
                let all = tree_blocks::blocks_of(0, *size, *size);
                all.into_iter().map(move |(start, len)| (*pack, start, len))
            })
            .collect();
        // Widened before the reads and narrowed by the guard, so a read
        // that panics does not leave the memory bound raised.
        self.tree_blocks.widen(blocks.len());
        kept.widened = blocks.len();
        fan_out::fetch_all(&blocks, |(pack, start, len)| {
            let _ = self.fetch_block(pack, &layout::pack(pack), *start, *len, false);
        });
        kept
    }

    /// Calls `f` with every tree of `ids`, loaded from the repository and
    /// verified (a tree that cannot be loaded comes with its error), in the
    /// order they lie in their packs. Their blocks are read ahead in
    /// parallel, [`WINDOW`] at a time; `f` returning an error stops the walk.
    pub fn load_trees_from_repository(
        &self,
        ids: &[TreeId],
        mut f: impl FnMut(TreeId, Result<Tree>) -> Result<()>,
    ) -> Result<()> {
        let mut placed: Vec<Placed> = Vec::new();
        for id in ids {
            let blocks = match self.locate(BlobKind::Tree, &BlobId::from(*id))? {
                Some(loc) => {
                    let (offset, len) = (loc.offset as u64, loc.length as u64);
                    match self.cache().pack_size(&loc.pack)? {
                        Some(size) if size >= offset + len => {
                            tree_blocks::blocks_of(offset, len, size)
                        }
                        // The single read reports what is wrong.
                        _ => Vec::new(),
                    }
                    .into_iter()
                    .map(|b| (loc.pack, b))
                    .collect::<Vec<_>>()
                }
                None => Vec::new(),
            };
            let at = blocks.first().map(|(p, (s, _))| (*p, *s));
            let at = at.unwrap_or((PackId([0; 32]), 0));
            placed.push((at, *id, blocks.iter().map(|(_, b)| *b).collect()));
        }
        placed.sort_by_key(|(at, _, _)| *at);
        let mut rest = &placed[..];
        while !rest.is_empty() {
            let mut window: BTreeSet<(PackId, u64, u64)> = BTreeSet::new();
            let mut n = 0;
            for ((pack, _), _, blocks) in rest {
                let more = blocks
                    .iter()
                    .filter(|(s, l)| !window.contains(&(*pack, *s, *l)));
                if n > 0 && window.len() + more.count() > WINDOW {
                    break;
                }
                window.extend(blocks.iter().map(|(s, l)| (*pack, *s, *l)));
                n += 1;
            }
            let window: Vec<_> = window.into_iter().collect();
            fan_out::fetch_all(&window, |(pack, start, len)| {
                // Errors are left for the load below to report.
                let _ = self.fetch_block(pack, &layout::pack(pack), *start, *len, false);
            });
            for (_, id, _) in &rest[..n] {
                f(*id, self.load_tree_from_repository(id))?;
            }
            rest = &rest[n..];
        }
        Ok(())
    }
}
