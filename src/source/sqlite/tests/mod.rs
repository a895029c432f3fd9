//! Tests on real SQLite files in temporary directories; concurrent writers
//! are separate python3 processes (`concurrent.rs`).

mod alongside;
mod basics;
mod bench;
mod concurrent;
mod crash;
mod hostile;

use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::snapshot::Options;
use super::{CheckLevel, CheckResult, Snapshot};

pub(super) fn tempdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    (dir, path)
}

/// A database with `rows` rows in `t` (with an index), in WAL or
/// rollback-journal mode; the returned connection is still open.
pub(super) fn make_db(path: &Path, wal: bool, rows: u32) -> Connection {
    let conn = Connection::open(path).unwrap();
    let mode: String = conn
        .query_row(
            &format!(
                "PRAGMA journal_mode = {}",
                if wal { "WAL" } else { "DELETE" }
            ),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(mode, if wal { "wal" } else { "delete" });
    conn.execute_batch(
        "PRAGMA wal_autocheckpoint = 0;
         CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL);
         CREATE INDEX t_v ON t(v);",
    )
    .unwrap();
    insert_rows(&conn, 0, rows);
    conn
}

/// Adds `n` rows of ~400 bytes each (an index entry as large): ~800 bytes
/// of pages per row.
pub(super) fn fill(conn: &Connection, from: u32, n: u32) {
    conn.execute(
        "WITH RECURSIVE c(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM c WHERE i < ?2)
         INSERT INTO t(id, v) SELECT i, hex(randomblob(200)) FROM c",
        [from, from + n - 1],
    )
    .unwrap();
}

pub(super) fn insert_rows(conn: &Connection, from: u32, n: u32) {
    conn.execute_batch("BEGIN").unwrap();
    for i in from..from + n {
        conn.execute(
            "INSERT INTO t(id, v) VALUES (?1, printf('row %d %s', ?1, hex(randomblob(40))))",
            [i],
        )
        .unwrap();
    }
    conn.execute_batch("COMMIT").unwrap();
}

/// What a snapshot said about itself, and its whole stream.
pub(super) struct Taken {
    pub page_size: u32,
    pub check: CheckResult,
    pub fallback: bool,
    pub bytes: Vec<u8>,
}

/// Takes a snapshot and reads its whole stream; checks that the stream has
/// the announced size and that a fallback copy is gone afterwards.
pub(super) fn take(path: &Path, level: CheckLevel, opts: &Options) -> Taken {
    let temp = tempfile::tempdir().unwrap();
    let mut snap = Snapshot::open_with(path, level, temp.path(), opts).unwrap();
    let (page_size, size) = (snap.page_size(), snap.size());
    let (check, fallback) = (snap.wait_check().clone(), snap.used_fallback());
    let mut bytes = Vec::new();
    snap.into_reader().read_to_end(&mut bytes).unwrap();
    assert_eq!(
        bytes.len() as u64,
        size,
        "stream length is the snapshot size"
    );
    let left = std::fs::read_dir(temp.path()).unwrap().count();
    assert_eq!(left, 0, "no temporary file left behind");
    Taken {
        page_size,
        check,
        fallback,
        bytes,
    }
}

/// Writes `bytes` as a database file and opens it as SQLite would.
pub(super) fn restore(bytes: &[u8], path: &Path) -> Connection {
    std::fs::write(path, bytes).unwrap();
    Connection::open(path).unwrap()
}

pub(super) fn count(conn: &Connection) -> u32 {
    conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap()
}

pub(super) fn integrity(conn: &Connection) -> String {
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}
