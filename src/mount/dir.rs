//! Directories of the mount: the virtual listings from the layout and the
//! snapshots' trees, decoded once and kept in a bounded cache.

use std::sync::Arc;

use fuser::{Errno, FileType};

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

    /// Every entry of a directory as (inode, type, name), `.` and `..` first.
    pub(super) fn listing(
        &self,
        ino: u64,
        e: &Entry,
    ) -> Result<Vec<(u64, FileType, Vec<u8>)>, Errno> {
        let mut out = vec![
            (ino, FileType::Directory, b".".to_vec()),
            (e.parent, FileType::Directory, b"..".to_vec()),
        ];
        match &e.kind {
            Kind::Virtual(dir) => {
                let items = self.view().list(dir).ok_or(Errno::ENOENT)?;
                for (name, item) in items {
                    let kind = match item {
                        Item::Latest(_) => FileType::Symlink,
                        _ => FileType::Directory,
                    };
                    out.push((child_ino(ino, name.as_bytes()), kind, name.into_bytes()));
                }
            }
            Kind::Node(n) => {
                let NodeKind::Dir { subtree } = &n.kind else {
                    return Err(Errno::ENOTDIR);
                };
                let tree = self.tree(subtree)?;
                for c in &tree.nodes {
                    let kind = attr::file_type(&c.kind);
                    out.push((child_ino(ino, &c.name), kind, c.name.clone()));
                }
            }
            Kind::Latest(_) => return Err(Errno::ENOTDIR),
        }
        Ok(out)
    }
}

fn item_kind(item: Item) -> Kind {
    match item {
        Item::Dir(d) => Kind::Virtual(d),
        Item::Snapshot(n) => Kind::Node(n),
        Item::Latest(t) => Kind::Latest(t.into_bytes()),
    }
}
