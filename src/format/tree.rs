//! Trees: one blob per directory, a list of nodes sorted by byte-exact name.
//! Encoded with postcard; the encoding is deterministic, so identical
//! directories produce identical bytes and deduplicate. Ids are computed over
//! the exact bytes written, never over a re-encoding.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{ChunkId, TreeId};

/// A point in time: seconds and nanoseconds since the Unix epoch (UTC).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

/// An extended attribute, name and value byte-exact.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Xattr {
    #[serde(with = "serde_bytes")]
    pub name: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub value: Vec<u8>,
}

/// Metadata common to every node, as read by `lstat`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Meta {
    /// Full `st_mode` including the file type bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Owner and group names where they resolve, for restores on other machines.
    pub user: String,
    pub group: String,
    pub mtime: Timestamp,
    pub ctime: Timestamp,
    /// Inode, device and link count: hardlink detection and change detection.
    pub inode: u64,
    pub device: u64,
    pub links: u64,
    /// Sorted by name.
    pub xattrs: Vec<Xattr>,
}

/// What a node is, with its type-specific payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeKind {
    /// A regular file: its size and the ids of its content chunks in order.
    File {
        size: u64,
        content: Vec<ChunkId>,
    },
    /// A directory and the tree blob listing its children.
    Dir {
        subtree: TreeId,
    },
    /// A symbolic link and its byte-exact target.
    Symlink {
        #[serde(with = "serde_bytes")]
        target: Vec<u8>,
    },
    /// A block device and its `st_rdev`.
    BlockDevice {
        rdev: u64,
    },
    /// A character device and its `st_rdev`.
    CharDevice {
        rdev: u64,
    },
    Fifo,
    Socket,
}

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// The byte-exact file name: never empty, never `.` or `..`, no `/` or NUL.
    #[serde(with = "serde_bytes")]
    pub name: Vec<u8>,
    pub kind: NodeKind,
    pub meta: Meta,
}

/// A directory listing, sorted by `name` with no duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

/// Is `name` safe to join onto a restore target? Restore must refuse others.
pub fn is_safe_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.contains(&b'/') && !name.contains(&0)
}

impl Tree {
    /// Deterministic encoding; the caller sorts nodes first (see [`Tree::sort`]).
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("postcard encoding to a Vec cannot fail")
    }

    /// Decodes and validates ordering and names. A tree that fails here is
    /// treated as corrupt: restore and check refuse it.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let tree: Tree = postcard::from_bytes(bytes).map_err(|e| Error::corrupt("tree", e))?;
        for pair in tree.nodes.windows(2) {
            if pair[0].name >= pair[1].name {
                return Err(Error::corrupt("tree", "nodes not strictly sorted by name"));
            }
        }
        if let Some(bad) = tree.nodes.iter().find(|n| !is_safe_name(&n.name)) {
            return Err(Error::corrupt(
                "tree",
                format!("unsafe node name {:?}", String::from_utf8_lossy(&bad.name)),
            ));
        }
        Ok(tree)
    }

    /// Sorts nodes by byte-exact name, as the encoding requires.
    pub fn sort(&mut self) {
        self.nodes.sort_by(|a, b| a.name.cmp(&b.name));
    }
}
