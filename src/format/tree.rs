//! Trees: one blob per directory, a list of nodes sorted by byte-exact name.
//! Encoded with postcard; the encoding is deterministic, so identical
//! directories produce identical bytes and deduplicate. Ids are computed over
//! the exact bytes written, never over a re-encoding.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
pub use crate::format::database::{DbCheck, WalStamp};
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
    /// Format version 2: a regular file that is a consistent snapshot of a
    /// SQLite database, cut into fixed, page-aligned chunks
    /// (16-database.md). Every reader that only needs the bytes treats it
    /// as a `File` (see [`NodeKind::file_content`]).
    Sqlite {
        size: u64,
        content: Vec<ChunkId>,
        /// The database's page size in bytes (512 to 65536, a power of two).
        page_size: u32,
        /// The fixed chunk length the snapshot was cut into (the last chunk
        /// may be shorter); informational, restore does not need it.
        chunk_size: u32,
        /// The check run inside the snapshot's read transaction.
        check: DbCheck,
        /// The `-wal` companion as seen at backup time, for change detection.
        wal: Option<WalStamp>,
    },
}

impl NodeKind {
    /// Size and chunk list of a node whose content is a regular file's
    /// bytes (`File` and `Sqlite`), or `None` for every other kind.
    pub fn file_content(&self) -> Option<(u64, &[ChunkId])> {
        match self {
            NodeKind::File { size, content } | NodeKind::Sqlite { size, content, .. } => {
                Some((*size, content))
            }
            _ => None,
        }
    }

    /// Mutable access to the chunk list, for repairs that rewrite it.
    pub fn file_content_mut(&mut self) -> Option<(&mut u64, &mut Vec<ChunkId>)> {
        match self {
            NodeKind::File { size, content } | NodeKind::Sqlite { size, content, .. } => {
                Some((size, content))
            }
            _ => None,
        }
    }
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
        let tree: Tree = crate::format::decode_exact(bytes, "tree")?;
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts() -> impl Strategy<Value = Timestamp> {
        (any::<i64>(), 0u32..1_000_000_000).prop_map(|(secs, nanos)| Timestamp { secs, nanos })
    }

    fn meta() -> impl Strategy<Value = Meta> {
        let xattrs = prop::collection::btree_map(
            prop::collection::vec(1u8.., 1..8),
            prop::collection::vec(any::<u8>(), 0..16),
            0..3,
        );
        (
            (any::<u32>(), any::<u32>(), any::<u32>(), ".{0,8}", ".{0,8}"),
            (ts(), ts(), any::<u64>(), any::<u64>(), any::<u64>(), xattrs),
        )
            .prop_map(
                |((mode, uid, gid, user, group), (mtime, ctime, inode, device, links, x))| Meta {
                    mode,
                    uid,
                    gid,
                    user,
                    group,
                    mtime,
                    ctime,
                    inode,
                    device,
                    links,
                    xattrs: x
                        .into_iter()
                        .map(|(name, value)| Xattr { name, value })
                        .collect(),
                },
            )
    }

    fn kind() -> impl Strategy<Value = NodeKind> {
        let id = any::<[u8; 32]>();
        prop_oneof![
            (any::<u64>(), prop::collection::vec(id, 0..4)).prop_map(|(size, c)| NodeKind::File {
                size,
                content: c.into_iter().map(ChunkId).collect()
            }),
            id.prop_map(|t| NodeKind::Dir { subtree: TreeId(t) }),
            prop::collection::vec(any::<u8>(), 0..40)
                .prop_map(|target| NodeKind::Symlink { target }),
            any::<u64>().prop_map(|rdev| NodeKind::BlockDevice { rdev }),
            any::<u64>().prop_map(|rdev| NodeKind::CharDevice { rdev }),
            Just(NodeKind::Fifo),
            Just(NodeKind::Socket),
            (
                any::<u64>(),
                prop::collection::vec(id, 0..4),
                any::<u32>(),
                ".{0,8}"
            )
                .prop_map(|(size, c, page_size, report)| NodeKind::Sqlite {
                    size,
                    content: c.into_iter().map(ChunkId).collect(),
                    page_size,
                    chunk_size: page_size.wrapping_mul(16),
                    check: DbCheck {
                        level: (page_size % 3) as u8,
                        ok: size % 2 == 0,
                        report,
                    },
                    wal: (size % 3 == 0).then_some(WalStamp {
                        size,
                        inode: size / 7,
                        ..Default::default()
                    }),
                }),
        ]
    }

    /// Valid trees: unique safe names, sorted.
    pub(crate) fn tree() -> impl Strategy<Value = Tree> {
        let name =
            prop::collection::vec(any::<u8>(), 1..12).prop_filter("safe", |n| is_safe_name(n));
        prop::collection::btree_set(name, 0..8)
            .prop_flat_map(|names| {
                let n = names.len();
                (Just(names), prop::collection::vec((kind(), meta()), n..=n))
            })
            .prop_map(|(names, rest)| Tree {
                nodes: names
                    .into_iter()
                    .zip(rest)
                    .map(|(name, (kind, meta))| Node { name, kind, meta })
                    .collect(),
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn encode_decode_round_trip(t in tree()) {
            let bytes = t.encode();
            prop_assert_eq!(Tree::decode(&bytes).unwrap(), t);
        }
    }

    /// The worked example in `format-spec/06-tree.md`.
    pub(crate) fn symlink_tree() -> Tree {
        Tree {
            nodes: vec![Node {
                name: b"link".to_vec(),
                kind: NodeKind::Symlink {
                    target: b"target".to_vec(),
                },
                meta: Meta {
                    mode: 0o120777,
                    uid: 1000,
                    gid: 1000,
                    user: "alice".into(),
                    group: "users".into(),
                    mtime: Timestamp {
                        secs: 1_700_000_000,
                        nanos: 5,
                    },
                    ctime: Timestamp { secs: -1, nanos: 0 },
                    inode: 42,
                    device: 2049,
                    links: 1,
                    xattrs: vec![],
                },
            }],
        }
    }

    pub(crate) const SYMLINK_TREE_HEX: &str =
        "01046c696e6b0206746172676574ffc302e807e80705616c69636505\
         757365727380c49fd50c0501002a81100100";

    #[test]
    fn golden_symlink_tree() {
        let t = symlink_tree();
        assert_eq!(hex::encode(t.encode()), SYMLINK_TREE_HEX);
        assert_eq!(
            Tree::decode(&hex::decode(SYMLINK_TREE_HEX).unwrap()).unwrap(),
            t
        );
        assert_eq!(Tree::default().encode(), [0]);
    }

    #[test]
    fn golden_every_node_kind() {
        let mut t = symlink_tree();
        let base = t.nodes[0].clone();
        let kinds = [
            NodeKind::File {
                size: 3,
                content: vec![ChunkId([0xcc; 32])],
            },
            NodeKind::Dir {
                subtree: TreeId([0xdd; 32]),
            },
            NodeKind::BlockDevice { rdev: 259 },
            NodeKind::CharDevice { rdev: 1 },
            NodeKind::Fifo,
            NodeKind::Socket,
        ];
        let mut expect = Vec::new();
        for (i, kind) in kinds.into_iter().enumerate() {
            let bytes = postcard::to_allocvec(&kind).unwrap();
            expect.push(hex::encode(&bytes));
            t.nodes.push(Node {
                name: vec![b'a' + i as u8],
                kind,
                meta: base.meta.clone(),
            });
        }
        let cc = "cc".repeat(32);
        let dd = "dd".repeat(32);
        assert_eq!(
            expect,
            [
                format!("000301{cc}"),
                format!("01{dd}"),
                "038302".to_string(),
                "0401".to_string(),
                "05".to_string(),
                "06".to_string(),
            ]
        );
        let x = Xattr {
            name: b"user.a".to_vec(),
            value: vec![1, 2],
        };
        assert_eq!(
            hex::encode(postcard::to_allocvec(&x).unwrap()),
            "06757365722e61020102"
        );
        t.sort();
        assert_eq!(Tree::decode(&t.encode()).unwrap(), t);
    }

    fn node(name: &[u8]) -> Node {
        Node {
            name: name.to_vec(),
            kind: NodeKind::Fifo,
            meta: Meta::default(),
        }
    }

    #[test]
    fn decode_refuses_bad_order_and_names() {
        let enc = |names: &[&[u8]]| {
            Tree {
                nodes: names.iter().map(|n| node(n)).collect(),
            }
            .encode()
        };
        assert!(Tree::decode(&enc(&[b"a", b"b", b"c"])).is_ok());
        // Byte order, not locale: "B" (0x42) sorts before "a" (0x61).
        assert!(Tree::decode(&enc(&[b"B", b"a"])).is_ok());
        assert!(Tree::decode(&enc(&[b"a", b"B"])).is_err());
        assert!(Tree::decode(&enc(&[b"b", b"a"])).is_err(), "unsorted");
        assert!(Tree::decode(&enc(&[b"a", b"a"])).is_err(), "duplicate");
        assert!(
            Tree::decode(&enc(&[b"a", b"b", b"b"])).is_err(),
            "duplicate"
        );
        for bad in [&b"."[..], b"..", b"a/b", b"/", b"", b"a\0b", b"\0"] {
            assert!(Tree::decode(&enc(&[bad])).is_err(), "{bad:?}");
        }
        assert!(Tree::decode(&enc(&[b"...", b".a", b"a\\b"])).is_ok());
    }

    #[test]
    fn decode_refuses_trailing_and_overlong_bytes() {
        let good = hex::decode(SYMLINK_TREE_HEX).unwrap();
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(Tree::decode(&trailing).is_err());
        // Node count 1 spelled as the over-long varint 0x81 0x00.
        let mut overlong = vec![0x81, 0x00];
        overlong.extend_from_slice(&good[1..]);
        assert!(Tree::decode(&overlong).is_err());
        assert!(Tree::decode(&[]).is_err());
    }

    #[test]
    fn sort_orders_by_bytes() {
        let mut t = Tree {
            nodes: vec![node(b"b"), node(b"B"), node(b"a")],
        };
        t.sort();
        let names: Vec<_> = t.nodes.iter().map(|n| n.name.clone()).collect();
        assert_eq!(names, [b"B".to_vec(), b"a".to_vec(), b"b".to_vec()]);
    }
}
