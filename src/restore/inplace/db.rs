//! What an in-place restore needs to know about SQLite databases: whether a
//! staged file is one, whether it passes `quick_check`, and removing the
//! `-wal`/`-shm` companions of the database it replaces (a stale `-wal`
//! would be replayed into the new file by the next opener).

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The 16-byte header every SQLite 3 database starts with.
const HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Whether the file at `path` starts with the SQLite header.
pub fn is_database(path: &Path) -> bool {
    let mut head = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == HEADER)
}

/// Runs `PRAGMA quick_check` on the staged database at `path`; the first
/// lines of its report when it fails. Opened read-only, so the file's
/// bytes are not changed (they are verified against the snapshot after).
pub fn quick_check(path: &Path) -> Result<Option<String>> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| check_error(path, e))?;
    let lines: Vec<String> = conn
        .prepare("PRAGMA quick_check")
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, String>(0))?
                .take(10)
                .collect::<rusqlite::Result<_>>()
        })
        .map_err(|e| check_error(path, e))?;
    drop(conn);
    remove_companions(path).map_err(|e| Error::file("staged database", path, e))?;
    Ok((lines != ["ok"]).then(|| lines.join("; ")))
}

fn check_error(path: &Path, e: rusqlite::Error) -> Error {
    Error::file(
        "staged database (quick_check)",
        path,
        std::io::Error::other(e.to_string()),
    )
}

/// Removes `path`-wal and `path`-shm if present; returns what it removed.
pub fn remove_companions(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let p = PathBuf::from(name);
        match std::fs::remove_file(&p) {
            Ok(()) => removed.push(p),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}
