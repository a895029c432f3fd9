//! Following the parent snapshot's trees in step with the source walk, so a
//! file whose size, mtime, ctime and inode are unchanged is not read again.
//! The trees come from a [`ParentTrees`]: the repository with a full key,
//! the client's own files cache with a put-only key (`files_cache`).

use crate::error::Result;
use crate::format::tree::{Meta, Node, NodeKind, Tree, WalStamp, Xattr};
use crate::ids::TreeId;
use crate::repo::Repository;

/// Where the parent's trees are read from, and where the trees this backup
/// writes are noted for the next one (only a put-only client's files cache
/// keeps them; the repository already has them).
pub trait ParentTrees {
    fn load_tree(&self, id: &TreeId) -> Result<Tree>;

    /// Called with every tree the backup encodes, stored or deduplicated.
    fn note_tree(&self, _id: &TreeId, _encoded: &[u8]) {}
}

impl ParentTrees for Repository {
    fn load_tree(&self, id: &TreeId) -> Result<Tree> {
        Repository::load_tree(self, id)
    }
}

/// A stack of parent directories mirroring the source's directory stack.
/// `None` entries stand for directories the parent did not have.
pub struct ParentCursor<'r> {
    trees: &'r dyn ParentTrees,
    stack: Vec<Option<Tree>>,
}

impl<'r> ParentCursor<'r> {
    /// Starts at the parent's root tree, or nowhere without a parent.
    pub fn new(trees: &'r dyn ParentTrees, root: Option<TreeId>) -> Result<Self> {
        let root = root.map(|t| trees.load_tree(&t)).transpose()?;
        Ok(ParentCursor {
            trees,
            stack: vec![root],
        })
    }

    /// Notes a tree this backup wrote (see [`ParentTrees::note_tree`]).
    pub fn note_tree(&self, id: &TreeId, encoded: &[u8]) {
        self.trees.note_tree(id, encoded)
    }

    fn find(&self, name: &[u8]) -> Option<&Node> {
        let tree = self.stack.last()?.as_ref()?;
        tree.nodes
            .binary_search_by(|n| n.name.as_slice().cmp(name))
            .ok()
            .map(|i| &tree.nodes[i])
    }

    /// Descends into `name`; a damaged or missing parent subtree just means
    /// no parent (everything below is read afresh).
    pub fn enter(&mut self, name: &[u8]) {
        let sub = match self.find(name).map(|n| &n.kind) {
            Some(NodeKind::Dir { subtree }) => self.trees.load_tree(subtree).ok(),
            _ => None,
        };
        self.stack.push(sub);
    }

    pub fn leave(&mut self) {
        self.stack.pop();
    }

    /// The parent's xattrs for `name` when it is the same inode with the same
    /// ctime (and mtime): an xattr change would have changed the ctime.
    pub fn same_xattrs(&self, name: &[u8], meta: &Meta) -> Option<&[Xattr]> {
        let node = self.find(name)?;
        (node.meta.inode == meta.inode
            && node.meta.ctime == meta.ctime
            && node.meta.mtime == meta.mtime)
            .then_some(node.meta.xattrs.as_slice())
    }

    /// The parent's node for a [`crate::source::Event::Deferred`] file: a
    /// plain file with the same size, times, inode and xattrs.
    pub fn unchanged_deferred(&self, name: &[u8], meta: &Meta, size: u64) -> Option<&NodeKind> {
        let node = self.find(name)?;
        let NodeKind::File { size: s, .. } = node.kind else {
            return None;
        };
        crate::source::same_file((s, &node.meta), (size, meta)).then_some(&node.kind)
    }

    /// Did the parent have an entry of this name (so the file is changed, not new)?
    pub fn has(&self, name: &[u8]) -> bool {
        self.find(name).is_some()
    }

    /// The parent's node for a regular file whose metadata says it is
    /// unchanged, to be recorded again as it is. A database snapshot
    /// (`Sqlite`) is unchanged only when its `-wal` companion is too
    /// (`wal_now`), its check passed and databases are still wanted; a
    /// plain `File` node is reused when `raw_ok` says the file may still be
    /// stored raw (16-database.md, change detection).
    pub fn unchanged_file(
        &self,
        name: &[u8],
        meta: &Meta,
        size: u64,
        db_wanted: bool,
        wal_now: impl FnOnce() -> Option<WalStamp>,
        raw_ok: impl FnOnce() -> bool,
    ) -> Option<&NodeKind> {
        let node = self.find(name)?;
        let (s, _) = node.kind.file_content()?;
        // A snapshot's size is the database's as of its transaction, the
        // -wal's pages included, not the main file's: for a database the
        // main file's times and inode, and the -wal's stamp, decide.
        let is_db = matches!(node.kind, NodeKind::Sqlite { .. });
        let same = (is_db || s == size)
            && node.meta.mtime == meta.mtime
            && node.meta.ctime == meta.ctime
            && node.meta.inode == meta.inode;
        if !same {
            return None;
        }
        match &node.kind {
            NodeKind::Sqlite { check, wal, .. } => {
                let wal_same = match (wal, wal_now()) {
                    (Some(then), Some(now)) => then.same_writes(&now),
                    (None, None) => true,
                    _ => false,
                };
                (db_wanted && check.ok && wal_same).then_some(&node.kind)
            }
            _ => raw_ok().then_some(&node.kind),
        }
    }
}

/// The parent snapshot's regular files by path, for
/// [`crate::source::Source::see_parent`]: directory trees are loaded once
/// each, on first use. A damaged subtree just finds nothing (read afresh).
pub struct ParentFiles<'r> {
    trees: &'r dyn ParentTrees,
    root: TreeId,
    dirs: std::collections::HashMap<Vec<Vec<u8>>, Option<Tree>>,
}

impl<'r> ParentFiles<'r> {
    pub fn new(trees: &'r dyn ParentTrees, root: TreeId) -> Self {
        ParentFiles {
            trees,
            root,
            dirs: Default::default(),
        }
    }

    fn dir(&mut self, path: &[Vec<u8>]) -> Option<&Tree> {
        if !self.dirs.contains_key(path) {
            let tree = match path.split_last() {
                None => self.trees.load_tree(&self.root).ok(),
                Some((name, up)) => {
                    let subtree = self.dir(up).and_then(|t| match &find_in(t, name)?.kind {
                        NodeKind::Dir { subtree } => Some(*subtree),
                        _ => None,
                    });
                    subtree.and_then(|s| self.trees.load_tree(&s).ok())
                }
            };
            self.dirs.insert(path.to_vec(), tree);
        }
        self.dirs.get(path)?.as_ref()
    }

    /// The parent's regular file at `path` (a plain file node; a database
    /// snapshot is compared by its own rules, never here).
    pub fn file(&mut self, path: &[Vec<u8>]) -> Option<crate::source::ParentFile> {
        let (name, dir) = path.split_last()?;
        let node = find_in(self.dir(dir)?, name)?;
        match &node.kind {
            NodeKind::File { size, .. } => Some(crate::source::ParentFile {
                size: *size,
                meta: node.meta.clone(),
            }),
            _ => None,
        }
    }
}

fn find_in<'t>(tree: &'t Tree, name: &[u8]) -> Option<&'t Node> {
    tree.nodes
        .binary_search_by(|n| n.name.as_slice().cmp(name))
        .ok()
        .map(|i| &tree.nodes[i])
}
