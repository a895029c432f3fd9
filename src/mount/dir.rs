//! Directories of the mount: the virtual listings from the layout and the
//! snapshots' trees, decoded once and kept in a bounded cache.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use fuser::{Errno, FileType, INodeNo, ReplyDirectory};

use crate::format::tree::{NodeKind, Tree};
use crate::ids::TreeId;
use crate::mount::attr;
use crate::mount::fs::{errno, lock, CairnFs};
use crate::mount::inode::{child_ino, Entry, Kind};
use crate::mount::layout::Item;

impl CairnFs {
    pub(super) fn tree(&self, id: &TreeId) -> Result<Arc<Tree>, Errno> {
        if let Some(t) = lock(&self.trees).get(id) {
            return Ok(t);
        }
        let tree = Arc::new(
            self.shared
                .repo
                .load_tree(id)
                .map_err(|e| errno("reading a directory", &e))?,
        );
        let weight = 64 + tree.nodes.iter().map(|n| 160 + n.name.len()).sum::<usize>();
        lock(&self.trees).insert(*id, tree.clone(), weight as u64);
        Ok(tree)
    }

    /// What `name` in the directory `parent` is, if anything.
    pub(super) fn child(&self, parent: &Entry, name: &[u8]) -> Result<Option<Kind>, Errno> {
        match &parent.kind {
            Kind::Virtual(dir) => {
                let Ok(name) = std::str::from_utf8(name) else {
                    return Ok(None);
                };
                Ok(self.view().find(dir, name).map(item_kind))
            }
            Kind::Node(n) => match &n.kind {
                NodeKind::Dir { subtree } => {
                    let tree = self.tree(subtree)?;
                    Ok(tree
                        .nodes
                        .binary_search_by(|c| c.name.as_slice().cmp(name))
                        .ok()
                        .map(|i| Kind::Node(Arc::new(tree.nodes[i].clone()))))
                }
                _ => Err(Errno::ENOTDIR),
            },
            Kind::Latest(_) => Err(Errno::ENOTDIR),
        }
    }

    /// Adds the entries of a directory from position `offset` on until the
    /// reply is full: `.` and `..`, then the listing. Only the entries sent
    /// are visited, so reading a huge directory in pieces stays linear.
    pub(super) fn fill_dir(
        &self,
        ino: u64,
        e: &Entry,
        offset: u64,
        reply: &mut ReplyDirectory,
    ) -> Result<(), Errno> {
        let mut add = |pos: usize, child: u64, kind: FileType, name: &[u8]| {
            reply.add(
                INodeNo(child),
                pos as u64 + 1,
                kind,
                OsStr::from_bytes(name),
            )
        };
        let dots: [(u64, &[u8]); 2] = [(ino, b"."), (e.parent, b"..")];
        let start = offset as usize;
        for (pos, (child, name)) in dots.iter().enumerate().skip(start) {
            if add(pos, *child, FileType::Directory, name) {
                return Ok(());
            }
        }
        let skip = start.saturating_sub(2);
        match &e.kind {
            Kind::Virtual(dir) => {
                let items = self.view().list(dir).ok_or(Errno::ENOENT)?;
                for (pos, (name, item)) in items.iter().enumerate().skip(skip) {
                    let kind = match item {
                        Item::Latest(_) => FileType::Symlink,
                        _ => FileType::Directory,
                    };
                    let name = name.as_bytes();
                    if add(pos + 2, child_ino(ino, name), kind, name) {
                        break;
                    }
                }
            }
            Kind::Node(n) => {
                let NodeKind::Dir { subtree } = &n.kind else {
                    return Err(Errno::ENOTDIR);
                };
                let tree = self.tree(subtree)?;
                if offset == 0 {
                    // A listing is usually followed by lookups of its
                    // subdirectories: read their trees ahead, in parallel.
                    let below: Vec<TreeId> = tree
                        .nodes
                        .iter()
                        .filter_map(|c| match c.kind {
                            NodeKind::Dir { subtree } => Some(subtree),
                            _ => None,
                        })
                        .collect();
                    self.shared.repo.prefetch_trees(&below);
                }
                for (pos, c) in tree.nodes.iter().enumerate().skip(skip) {
                    let kind = attr::file_type(&c.kind);
                    if add(pos + 2, child_ino(ino, &c.name), kind, &c.name) {
                        break;
                    }
                }
            }
            Kind::Latest(_) => return Err(Errno::ENOTDIR),
        }
        Ok(())
    }
}

fn item_kind(item: Item) -> Kind {
    match item {
        Item::Dir(d) => Kind::Virtual(d),
        Item::Snapshot(n) => Kind::Node(n),
        Item::Latest(t) => Kind::Latest(t.into_bytes()),
    }
}
