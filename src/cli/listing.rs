//! How `ls` and `find` show a node, as text and as JSON: `drwxr-xr-x`
//! modes, owner names, human sizes, times in the snapshot's own UTC offset
//! (so a listing reads the same on every machine) and `-> target` for
//! symlinks, like `ls -l` and restic.

use std::path::Path;

use cairn::explore::{kind_name, node_size};
use cairn::format::tree::{Node, NodeKind, Timestamp};

use crate::cli::output::bytes;
use crate::cli::table::Align;

/// Columns of a long listing: mode, user, group, size, time, name.
pub const LONG_COLUMNS: [Align; 6] = [
    Align::Left,
    Align::Left,
    Align::Left,
    Align::Right,
    Align::Left,
    Align::Left,
];

/// The `ls -l` type letter of a node type as [`kind_name`] names it.
pub fn type_char(kind: &str) -> char {
    match kind {
        "dir" => 'd',
        "symlink" => 'l',
        "blockdev" => 'b',
        "chardev" => 'c',
        "fifo" => 'p',
        "socket" => 's',
        _ => '-',
    }
}

/// `drwxr-xr-x`: the type letter, then permissions with setuid, setgid
/// and sticky bits shown as `s`/`S` and `t`/`T`, as `ls -l` does.
pub fn permissions(kind: &str, mode: u32) -> String {
    let mut s = String::with_capacity(10);
    s.push(type_char(kind));
    let special = [(0o4000, 's', 'S'), (0o2000, 's', 'S'), (0o1000, 't', 'T')];
    for (i, (bit, lower, upper)) in special.iter().enumerate() {
        let shift = 6 - 3 * i;
        let rwx = (mode >> shift) & 7;
        s.push(if rwx & 4 != 0 { 'r' } else { '-' });
        s.push(if rwx & 2 != 0 { 'w' } else { '-' });
        s.push(match (rwx & 1 != 0, mode & bit != 0) {
            (true, true) => *lower,
            (false, true) => *upper,
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// A name with ` -> target` appended for symlinks.
pub fn name_with_target(path: &Path, target: Option<&[u8]>) -> String {
    match target {
        Some(t) => format!("{} -> {}", path.display(), String::from_utf8_lossy(t)),
        None => path.display().to_string(),
    }
}

/// The size column: human bytes for files, `major, minor` for devices,
/// nothing for the rest.
fn size_cell(node: &Node) -> String {
    match &node.kind {
        NodeKind::File { size, .. } | NodeKind::Sqlite { size, .. } => bytes(*size),
        NodeKind::BlockDevice { rdev } | NodeKind::CharDevice { rdev } => {
            let (major, minor) = (libc::major(*rdev), libc::minor(*rdev));
            format!("{major}, {minor}")
        }
        _ => String::new(),
    }
}

fn symlink_target(node: &Node) -> Option<&[u8]> {
    match &node.kind {
        NodeKind::Symlink { target } => Some(target),
        _ => None,
    }
}

/// The cells of one `ls -l` row (see [`LONG_COLUMNS`]).
pub fn long_row(path: &Path, node: &Node, utc_offset_secs: i32) -> Vec<String> {
    let m = &node.meta;
    let name_or_id = |name: &str, id: u32| {
        if name.is_empty() {
            id.to_string()
        } else {
            name.to_string()
        }
    };
    vec![
        permissions(kind_name(&node.kind), m.mode),
        name_or_id(&m.user, m.uid),
        name_or_id(&m.group, m.gid),
        size_cell(node),
        time_cell(m.mtime, utc_offset_secs),
        name_with_target(path, symlink_target(node)),
    ]
}

/// A time as listings print it: in the snapshot's offset.
pub fn time_cell(t: Timestamp, utc_offset_secs: i32) -> String {
    cairn::time::format_in_offset(t, utc_offset_secs)
}

/// One `ls --json` line (see docs/json.md).
pub fn node_json(path: &Path, node: &Node, utc_offset_secs: i32) -> serde_json::Value {
    let m = &node.meta;
    serde_json::json!({
        "message_type": "node",
        "path": path.to_string_lossy(),
        "type": kind_name(&node.kind),
        "size": node_size(node),
        "mode": m.mode,
        "permissions": permissions(kind_name(&node.kind), m.mode),
        "uid": m.uid,
        "gid": m.gid,
        "user": m.user,
        "group": m.group,
        "mtime": cairn::time::rfc3339(m.mtime, utc_offset_secs),
        "link_target": symlink_target(node).map(|t| String::from_utf8_lossy(t).into_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_read_like_ls() {
        assert_eq!(permissions("dir", 0o40755), "drwxr-xr-x");
        assert_eq!(permissions("file", 0o100644), "-rw-r--r--");
        assert_eq!(permissions("symlink", 0o120777), "lrwxrwxrwx");
        assert_eq!(permissions("file", 0o104755), "-rwsr-xr-x");
        assert_eq!(permissions("file", 0o102644), "-rw-r-Sr--");
        assert_eq!(permissions("dir", 0o41777), "drwxrwxrwt");
        assert_eq!(permissions("dir", 0o41776), "drwxrwxrwT");
        assert_eq!(permissions("chardev", 0o20600), "crw-------");
        assert_eq!(permissions("fifo", 0o10600), "prw-------");
    }

    #[test]
    fn long_rows_show_owner_human_size_offset_time_and_target() {
        let mut node = Node {
            name: b"f".to_vec(),
            kind: NodeKind::File {
                size: 4_404_019,
                content: vec![],
            },
            meta: Default::default(),
        };
        node.meta.mode = 0o100640;
        node.meta.uid = 1000;
        node.meta.group = "staff".into();
        node.meta.mtime = Timestamp {
            secs: 1_793_534_400,
            nanos: 0,
        };
        let row = long_row(Path::new("/a/f"), &node, 3600);
        assert_eq!(
            row,
            [
                "-rw-r-----",
                "1000",
                "staff",
                "4.2 MiB",
                "2026-11-01 13:00:00",
                "/a/f"
            ]
        );
        node.kind = NodeKind::Symlink {
            target: b"../b".to_vec(),
        };
        node.meta.mode = 0o120777;
        let row = long_row(Path::new("/a/f"), &node, 0);
        assert_eq!(row[0], "lrwxrwxrwx");
        assert_eq!(row[3], "");
        assert_eq!(row[5], "/a/f -> ../b");
    }
}
