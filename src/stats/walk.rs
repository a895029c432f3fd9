//! Tree walks for `stats`: one snapshot's counts, chunks and directory
//! totals, and the union of many snapshots' chunks.

use std::collections::{HashMap, HashSet};

use crate::error::Result;
use crate::format::tree::NodeKind;
use crate::ids::{ChunkId, TreeId};
use crate::repo::Repository;

use super::PrefixStats;

/// The chunks of many snapshots; each tree is visited once.
#[derive(Default)]
pub(super) struct ChunkSet {
    chunks: HashSet<ChunkId>,
    trees: HashSet<TreeId>,
    /// Trees already read ahead (`Repository::prefetch_below`).
    prefetched: HashSet<TreeId>,
}

impl ChunkSet {
    pub fn add_tree(&mut self, repo: &Repository, root: TreeId) -> Result<()> {
        repo.prefetch_below(&[root], &mut self.prefetched);
        let mut todo = vec![root];
        while let Some(id) = todo.pop() {
            if !self.trees.insert(id) {
                continue;
            }
            for node in repo.load_tree(&id)?.nodes {
                match node.kind {
                    NodeKind::Dir { subtree } => todo.push(subtree),
                    k => {
                        if let Some((_, content)) = k.file_content() {
                            self.chunks.extend(content.iter().copied());
                        }
                    }
                }
            }
        }
        Ok(())
    }

    pub fn contains(&self, c: &ChunkId) -> bool {
        self.chunks.contains(c)
    }
}

/// One snapshot, walked.
pub(super) struct Walked {
    pub files: u64,
    pub dirs: u64,
    pub logical_bytes: u64,
    pub chunks: HashSet<ChunkId>,
    pub prefixes: Vec<PrefixStats>,
}

/// Files, directories and bytes below one tree.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Totals {
    files: u64,
    dirs: u64,
    bytes: u64,
}

struct Walker<'r> {
    repo: &'r Repository,
    chunks: HashSet<ChunkId>,
    /// A subtree that appears twice in a snapshot is walked once.
    memo: HashMap<TreeId, Totals>,
    prefixes: Vec<PrefixStats>,
}

/// Walks the snapshot tree `root`, keeping its `top` largest directories.
pub(super) fn walk(repo: &Repository, root: TreeId, top: usize) -> Result<Walked> {
    let mut w = Walker {
        repo,
        chunks: HashSet::new(),
        memo: HashMap::new(),
        prefixes: Vec::new(),
    };
    repo.prefetch_below(&[root], &mut HashSet::new());
    let t = w.dir(root, b"/")?;
    // The root itself is the whole snapshot, not a prefix of it.
    w.prefixes.retain(|p| p.path != "/");
    w.prefixes.sort_by(|a, b| {
        b.logical_bytes
            .cmp(&a.logical_bytes)
            .then(b.files.cmp(&a.files))
            .then(a.path.cmp(&b.path))
    });
    w.prefixes.truncate(top);
    Ok(Walked {
        files: t.files,
        dirs: t.dirs,
        logical_bytes: t.bytes,
        chunks: w.chunks,
        prefixes: w.prefixes,
    })
}

impl Walker<'_> {
    /// Totals below tree `id` at snapshot path `path` (ending in `/`).
    /// Records the directory as a prefix unless one child directory holds
    /// all of it (`/home` above `/home/ann/src`: only the deepest counts).
    fn dir(&mut self, id: TreeId, path: &[u8]) -> Result<Totals> {
        if let Some(t) = self.memo.get(&id) {
            return Ok(*t);
        }
        let mut t = Totals::default();
        let mut one_child_holds_all = false;
        let mut children = Vec::new();
        for node in self.repo.load_tree(&id)?.nodes {
            match &node.kind {
                NodeKind::Dir { subtree } => {
                    let mut p = path.to_vec();
                    p.extend_from_slice(&node.name);
                    p.push(b'/');
                    let c = self.dir(*subtree, &p)?;
                    t.dirs += 1 + c.dirs;
                    t.files += c.files;
                    t.bytes += c.bytes;
                    children.push(c);
                }
                k => {
                    if let Some((size, content)) = k.file_content() {
                        t.files += 1;
                        t.bytes += size;
                        self.chunks.extend(content.iter().copied());
                    }
                }
            }
        }
        for c in &children {
            one_child_holds_all |= c.files == t.files && c.bytes == t.bytes;
        }
        if !one_child_holds_all {
            self.prefixes.push(PrefixStats {
                path: String::from_utf8_lossy(path).into_owned(),
                files: t.files,
                logical_bytes: t.bytes,
            });
        }
        self.memo.insert(id, t);
        Ok(t)
    }
}
