//! File attributes as `stat` shows them: from a tree node's metadata for
//! backed-up entries, made up for the virtual directories and links.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{FileAttr, FileType, INodeNo};

use crate::format::tree::{Meta, Node, NodeKind, Timestamp};

/// `st_blksize`: large, so that `cp` and friends read in big pieces.
const BLOCK_SIZE: u32 = 128 * 1024;

pub fn system_time(t: Timestamp) -> SystemTime {
    let nanos = Duration::from_nanos(t.nanos.min(999_999_999) as u64);
    if t.secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(t.secs as u64) + nanos
    } else {
        UNIX_EPOCH - Duration::from_secs(t.secs.unsigned_abs()) + nanos
    }
}

pub fn file_type(kind: &NodeKind) -> FileType {
    match kind {
        NodeKind::File { .. } | NodeKind::Sqlite { .. } => FileType::RegularFile,
        NodeKind::Dir { .. } => FileType::Directory,
        NodeKind::Symlink { .. } => FileType::Symlink,
        NodeKind::BlockDevice { .. } => FileType::BlockDevice,
        NodeKind::CharDevice { .. } => FileType::CharDevice,
        NodeKind::Fifo => FileType::NamedPipe,
        NodeKind::Socket => FileType::Socket,
    }
}

/// Attributes of a backed-up node. Hard links show as separate files with
/// the same content, so every non-directory has one link.
pub fn node_attr(ino: u64, node: &Node) -> FileAttr {
    let (size, rdev) = match &node.kind {
        NodeKind::File { size, .. } | NodeKind::Sqlite { size, .. } => (*size, 0),
        NodeKind::Symlink { target } => (target.len() as u64, 0),
        NodeKind::BlockDevice { rdev } | NodeKind::CharDevice { rdev } => (0, *rdev),
        _ => (0, 0),
    };
    let kind = file_type(&node.kind);
    meta_attr(ino, kind, size, rdev, &node.meta)
}

/// Attributes of a `latest` symlink.
pub fn symlink_attr(ino: u64, target_len: usize, meta: &Meta) -> FileAttr {
    let mut a = meta_attr(ino, FileType::Symlink, target_len as u64, 0, meta);
    a.perm = 0o777;
    a.nlink = 1;
    a
}

pub fn meta_attr(ino: u64, kind: FileType, size: u64, rdev: u64, m: &Meta) -> FileAttr {
    let mtime = system_time(m.mtime);
    FileAttr {
        ino: INodeNo(ino),
        size,
        blocks: size.div_ceil(512),
        atime: mtime,
        mtime,
        ctime: system_time(m.ctime),
        crtime: mtime,
        kind,
        perm: (m.mode & 0o7777) as u16,
        nlink: if kind == FileType::Directory { 2 } else { 1 },
        uid: m.uid,
        gid: m.gid,
        // The kernel's 32-bit encoding: major and minor below 2^12 and 2^20.
        rdev: rdev as u32,
        blksize: BLOCK_SIZE,
        flags: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_before_and_after_the_epoch() {
        let t = system_time(Timestamp {
            secs: 1_700_000_000,
            nanos: 5,
        });
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap(),
            Duration::new(1_700_000_000, 5)
        );
        let t = system_time(Timestamp {
            secs: -2,
            nanos: 500_000_000,
        });
        assert_eq!(
            UNIX_EPOCH.duration_since(t).unwrap(),
            Duration::from_millis(1500)
        );
    }
}
