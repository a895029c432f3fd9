//! `diff`: what changed between two snapshots (or two directories in them).
//!
//! Two trees are merged by name (both are sorted byte-wise). Subtrees with
//! the same id are identical and skipped without being read. File content
//! is compared by chunk lists, never by reading data: the same chunk ids
//! mean the same bytes. Metadata (mode, owner, mtime, xattrs) is compared
//! only when asked; ctime, inode, device and link count are not compared,
//! since they change on every restore or copy without the file changing.

use std::mem::discriminant;

use serde::Serialize;

use crate::error::Result;
use crate::explore::find::join;
use crate::explore::{kind_name, node_size};
use crate::format::tree::{Meta, Node, NodeKind, Tree};
use crate::ids::TreeId;
use crate::repo::Repository;

/// How to compare.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiffOptions {
    /// Also report entries whose metadata alone changed.
    pub metadata: bool,
}

/// What happened to one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Added,
    Removed,
    /// Content changed (chunk list, symlink target or device number).
    Modified,
    /// Only metadata changed (reported with [`DiffOptions::metadata`]).
    Metadata,
    /// A file became a directory, a symlink a file, ...
    TypeChanged,
}

impl Change {
    /// One-letter code for listings: `+ - M U T`.
    pub fn code(self) -> char {
        match self {
            Change::Added => '+',
            Change::Removed => '-',
            Change::Modified => 'M',
            Change::Metadata => 'U',
            Change::TypeChanged => 'T',
        }
    }
}

/// One changed path.
#[derive(Debug, Clone, Serialize)]
pub struct DiffEntry {
    /// Absolute path inside the snapshot, byte-exact.
    #[serde(skip)]
    pub path: Vec<u8>,
    pub change: Change,
    /// Type before (`None` when added) and after (`None` when removed).
    pub old_type: Option<&'static str>,
    pub new_type: Option<&'static str>,
    pub old_size: u64,
    pub new_size: u64,
}

/// Totals over the whole comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DiffStats {
    pub added: u64,
    pub removed: u64,
    pub modified: u64,
    pub metadata_changed: u64,
    pub type_changed: u64,
    /// Sizes of added and removed files.
    pub added_bytes: u64,
    pub removed_bytes: u64,
    /// Sizes of modified files before and after.
    pub modified_old_bytes: u64,
    pub modified_new_bytes: u64,
    /// Tree blobs loaded, and identical subtrees skipped without loading.
    pub trees_read: u64,
    pub subtrees_skipped: u64,
}

/// Compares `old` and `new` (two nodes at `path`, typically the two
/// snapshots' [`super::root_node`]s), calling `f` for every change in path
/// order.
pub fn diff(
    repo: &Repository,
    old: &Node,
    new: &Node,
    path: &[u8],
    opts: DiffOptions,
    f: &mut dyn FnMut(&DiffEntry) -> Result<()>,
) -> Result<DiffStats> {
    let mut d = Differ {
        repo,
        opts,
        f,
        stats: DiffStats::default(),
    };
    match (&old.kind, &new.kind) {
        (NodeKind::Dir { .. }, NodeKind::Dir { .. }) => d.dirs(old, new, path)?,
        _ => d.pair(old, new, path)?,
    }
    Ok(d.stats)
}

struct Differ<'a> {
    repo: &'a Repository,
    opts: DiffOptions,
    f: &'a mut dyn FnMut(&DiffEntry) -> Result<()>,
    stats: DiffStats,
}

impl Differ<'_> {
    fn emit(
        &mut self,
        path: &[u8],
        change: Change,
        old: Option<&Node>,
        new: Option<&Node>,
    ) -> Result<()> {
        (self.f)(&DiffEntry {
            path: path.to_vec(),
            change,
            old_type: old.map(|n| kind_name(&n.kind)),
            new_type: new.map(|n| kind_name(&n.kind)),
            old_size: old.map_or(0, node_size),
            new_size: new.map_or(0, node_size),
        })
    }

    fn load(&mut self, node: &Node) -> Result<Tree> {
        match &node.kind {
            NodeKind::Dir { subtree } => {
                self.stats.trees_read += 1;
                self.repo.load_tree(subtree)
            }
            _ => Ok(Tree::default()),
        }
    }

    /// Reads ahead, in parallel, the subtrees of `a` and `b` that the
    /// comparison may open: those not present on both sides.
    fn prefetch_changed(&self, a: &Tree, b: &Tree) {
        let dirs = |t: &Tree| -> std::collections::HashSet<TreeId> {
            t.nodes
                .iter()
                .filter_map(|n| match n.kind {
                    NodeKind::Dir { subtree } => Some(subtree),
                    _ => None,
                })
                .collect()
        };
        let (x, y) = (dirs(a), dirs(b));
        let changed: Vec<TreeId> = x.symmetric_difference(&y).copied().collect();
        if !changed.is_empty() {
            self.repo.prefetch_trees(&changed);
        }
    }

    /// Compares the children of two directories (unless their trees are one).
    fn dirs(&mut self, old: &Node, new: &Node, path: &[u8]) -> Result<()> {
        if let (NodeKind::Dir { subtree: a }, NodeKind::Dir { subtree: b }) = (&old.kind, &new.kind)
        {
            if a == b {
                self.stats.subtrees_skipped += 1;
                return Ok(());
            }
        }
        let (a, b) = (self.load(old)?, self.load(new)?);
        self.prefetch_changed(&a, &b);
        let (mut i, mut j) = (0, 0);
        while i < a.nodes.len() || j < b.nodes.len() {
            let order = match (a.nodes.get(i), b.nodes.get(j)) {
                (Some(x), Some(y)) => x.name.cmp(&y.name),
                (Some(_), None) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            match order {
                std::cmp::Ordering::Less => {
                    let n = &a.nodes[i];
                    self.one_side(n, &join(path, &n.name), Change::Removed, true)?;
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    let n = &b.nodes[j];
                    self.one_side(n, &join(path, &n.name), Change::Added, true)?;
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    let (x, y) = (&a.nodes[i], &b.nodes[j]);
                    self.pair(x, y, &join(path, &x.name))?;
                    i += 1;
                    j += 1;
                }
            }
        }
        Ok(())
    }

    /// A node present on both sides.
    fn pair(&mut self, old: &Node, new: &Node, path: &[u8]) -> Result<()> {
        if discriminant(&old.kind) != discriminant(&new.kind) {
            self.stats.type_changed += 1;
            self.stats.removed_bytes += node_size(old);
            self.stats.added_bytes += node_size(new);
            self.emit(path, Change::TypeChanged, Some(old), Some(new))?;
            // What was inside a directory on one side is gone or new.
            self.below(old, path, Change::Removed)?;
            return self.below(new, path, Change::Added);
        }
        // A database snapshot and a plain file compare by their bytes only.
        let content_changed = match (&old.kind, &new.kind) {
            (NodeKind::Dir { .. }, NodeKind::Dir { .. }) => false,
            (a, b) => match (a.file_content(), b.file_content()) {
                (Some(x), Some(y)) => x != y,
                _ => a != b,
            },
        };
        if content_changed {
            self.stats.modified += 1;
            self.stats.modified_old_bytes += node_size(old);
            self.stats.modified_new_bytes += node_size(new);
            self.emit(path, Change::Modified, Some(old), Some(new))?;
        } else if self.opts.metadata && !same_meta(&old.meta, &new.meta) {
            self.stats.metadata_changed += 1;
            self.emit(path, Change::Metadata, Some(old), Some(new))?;
        }
        self.dirs_if_both(old, new, path)
    }

    fn dirs_if_both(&mut self, old: &Node, new: &Node, path: &[u8]) -> Result<()> {
        match (&old.kind, &new.kind) {
            (NodeKind::Dir { .. }, NodeKind::Dir { .. }) => self.dirs(old, new, path),
            _ => Ok(()),
        }
    }

    /// A node on one side only: it, and everything below it, is `change`.
    fn one_side(&mut self, node: &Node, path: &[u8], change: Change, this_too: bool) -> Result<()> {
        if this_too {
            let size = node_size(node);
            match change {
                Change::Added => {
                    self.stats.added += 1;
                    self.stats.added_bytes += size;
                    self.emit(path, change, None, Some(node))?;
                }
                _ => {
                    self.stats.removed += 1;
                    self.stats.removed_bytes += size;
                    self.emit(path, change, Some(node), None)?;
                }
            }
        }
        self.below(node, path, change)
    }

    /// Everything below a directory node is `change` (nothing for others).
    fn below(&mut self, node: &Node, path: &[u8], change: Change) -> Result<()> {
        if !matches!(node.kind, NodeKind::Dir { .. }) {
            return Ok(());
        }
        let tree = self.load(node)?;
        for child in &tree.nodes {
            self.one_side(child, &join(path, &child.name), change, true)?;
        }
        Ok(())
    }
}

/// Metadata a user would call a change (see the module docs for what is left out).
fn same_meta(a: &Meta, b: &Meta) -> bool {
    a.mode == b.mode
        && a.uid == b.uid
        && a.gid == b.gid
        && a.user == b.user
        && a.group == b.group
        && a.mtime == b.mtime
        && a.xattrs == b.xattrs
}
