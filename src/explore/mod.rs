//! Looking across snapshots without restoring them: [`find`] searches many
//! snapshots for names, [`diff`] compares two. Both lean on the Merkle
//! property of trees: a subtree with the same id has the same content, so
//! it is searched once (find) or skipped (diff).
//!
//! [`resolve`] turns a `/`-separated path inside a snapshot into its node;
//! the CLI's `ls`, `dump`, `diff` and `export` share it.

pub mod diff;
pub mod find;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::format::tree::{Node, NodeKind};
use crate::ids::TreeId;
use crate::repo::Repository;

/// The node standing for a snapshot's root directory: it has no name or
/// metadata of its own, only the root tree.
pub fn root_node(tree: TreeId) -> Node {
    Node {
        name: b"/".to_vec(),
        kind: NodeKind::Dir { subtree: tree },
        meta: Default::default(),
    }
}

/// Follows `sub` (a `/`-separated path; empty or `/` is the root) down from
/// the root tree. Returns the absolute path inside the snapshot and the node
/// there (a synthetic [`root_node`] for the root).
pub fn resolve(repo: &Repository, root: TreeId, sub: &str) -> Result<(PathBuf, Node)> {
    let mut node = root_node(root);
    let mut path = PathBuf::from("/");
    for part in sub.split('/').filter(|p| !p.is_empty() && *p != ".") {
        let NodeKind::Dir { subtree } = &node.kind else {
            return Err(Error::Usage(format!(
                "{} is not a directory",
                path.display()
            )));
        };
        node = repo
            .load_tree(subtree)?
            .nodes
            .into_iter()
            .find(|n| n.name == part.as_bytes())
            .ok_or_else(|| Error::Usage(format!("{part:?} not found in {}", path.display())))?;
        path.push(OsStr::from_bytes(&node.name));
    }
    Ok((path, node))
}

/// Short name of a node's type, as the CLI and JSON print it.
pub fn kind_name(k: &NodeKind) -> &'static str {
    match k {
        // A database snapshot is a regular file to every reader.
        NodeKind::File { .. } | NodeKind::Sqlite { .. } => "file",
        NodeKind::Dir { .. } => "dir",
        NodeKind::Symlink { .. } => "symlink",
        NodeKind::BlockDevice { .. } => "blockdev",
        NodeKind::CharDevice { .. } => "chardev",
        NodeKind::Fifo => "fifo",
        NodeKind::Socket => "socket",
    }
}

/// A file's size; 0 for everything else.
pub fn node_size(n: &Node) -> u64 {
    n.kind.file_content().map_or(0, |(size, _)| size)
}
