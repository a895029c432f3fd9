//! The database record of a version-2 `Sqlite` tree node
//! (format-spec/16-database.md): the result of the check run inside the
//! snapshot's read transaction, and the `-wal` companion's stamp that change
//! detection compares. Encoded as fields of the node, postcard as everywhere.

use serde::{Deserialize, Serialize};

use crate::format::tree::Timestamp;

/// How a database snapshot was verified when it was taken.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DbCheck {
    /// 0 = not checked, 1 = `PRAGMA quick_check`, 2 = `PRAGMA integrity_check`.
    pub level: u8,
    /// The check passed (always true when `level` is 0).
    pub ok: bool,
    /// The check's first lines when it failed (at most 10 lines, 1 KiB); empty otherwise.
    pub report: String,
}

/// The `-wal` companion's `lstat` at backup time. A writer can commit into
/// the WAL without touching the main file's size, mtime or ctime, so a
/// database is unchanged only if this matches too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WalStamp {
    pub size: u64,
    pub mtime: Timestamp,
    pub ctime: Timestamp,
    pub inode: u64,
}

impl WalStamp {
    /// Has nothing been written to the `-wal` between the two stamps? Size,
    /// mtime and inode, not ctime: every reader that opens a WAL database
    /// changes the `-wal`'s ctime (measured: SQLite 3.4x, Linux), so the
    /// snapshot itself would make every database look changed.
    pub fn same_writes(&self, now: &WalStamp) -> bool {
        self.size == now.size && self.mtime == now.mtime && self.inode == now.inode
    }
}

impl DbCheck {
    /// The stored level's name, for listings and messages.
    pub fn level_name(&self) -> &'static str {
        match self.level {
            0 => "none",
            1 => "quick",
            2 => "full",
            _ => "unknown",
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::format::tree::{tests::symlink_tree, Node, NodeKind, Tree};
    use crate::ids::ChunkId;

    /// The worked example in `format-spec/06-tree.md` and 16-database.md.
    pub(crate) fn sqlite_kind() -> NodeKind {
        NodeKind::Sqlite {
            size: 8192,
            content: vec![ChunkId([0xcc; 32])],
            page_size: 4096,
            chunk_size: 65536,
            check: DbCheck {
                level: 1,
                ok: false,
                report: "bad".into(),
            },
            wal: Some(WalStamp {
                size: 32,
                mtime: Timestamp { secs: 1, nanos: 2 },
                ctime: Timestamp { secs: 3, nanos: 4 },
                inode: 5,
            }),
        }
    }

    pub(crate) fn sqlite_kind_hex() -> String {
        format!(
            "07804001{}802080800401000362616401200202060405",
            "cc".repeat(32)
        )
    }

    #[test]
    fn golden_sqlite_node_kind() {
        let bytes = postcard::to_allocvec(&sqlite_kind()).unwrap();
        assert_eq!(hex::encode(&bytes), sqlite_kind_hex());
        let no_wal = NodeKind::Sqlite {
            size: 0,
            content: vec![],
            page_size: 512,
            chunk_size: 512,
            check: DbCheck {
                level: 0,
                ok: true,
                report: String::new(),
            },
            wal: None,
        };
        assert_eq!(
            hex::encode(postcard::to_allocvec(&no_wal).unwrap()),
            "070000800480040001 00 00".replace(' ', "")
        );
        let mut t = symlink_tree();
        t.nodes.push(Node {
            name: b"z.db".to_vec(),
            kind: sqlite_kind(),
            meta: t.nodes[0].meta.clone(),
        });
        assert_eq!(Tree::decode(&t.encode()).unwrap(), t);
    }

    #[test]
    fn file_content_treats_sqlite_as_a_file() {
        let k = sqlite_kind();
        assert_eq!(k.file_content(), Some((8192, &[ChunkId([0xcc; 32])][..])));
        assert_eq!(NodeKind::Fifo.file_content(), None);
        assert_eq!(DbCheck::default().level_name(), "none");
    }
}
