//! The check's second connection reads exactly the snapshot's database
//! state, though a writer commits in between (WAL), and a writer cannot
//! commit while it reads (rollback journal).

use std::time::Duration;

use rusqlite::Connection;

use super::{make_db, tempdir};
use crate::source::sqlite::alongside::join;
use crate::source::sqlite::open::open_live;

fn count(c: &Connection) -> i64 {
    c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap()
}

/// The snapshot's connection, inside a read transaction that has read.
fn snapshot_conn(path: &std::path::Path) -> Connection {
    let first = open_live(path, Duration::from_secs(5), false).unwrap();
    first.execute_batch("BEGIN DEFERRED").unwrap();
    count(&first);
    first
}

#[test]
fn in_wal_mode_the_second_reader_sees_the_snapshot_not_later_commits() {
    let (_dir, dir) = tempdir();
    let db = dir.join("w.db");
    let writer = make_db(&db, true, 100);
    let first = snapshot_conn(&db);
    // Commits after the snapshot: a plain new reader would see them.
    super::insert_rows(&writer, 1000, 50);
    let plain = open_live(&db, Duration::from_secs(5), false).unwrap();
    assert_eq!(count(&plain), 150);
    let second = join(&first, &db).expect("joins the WAL snapshot");
    assert_eq!((count(&first), count(&second)), (100, 100));
}

#[test]
fn in_rollback_mode_no_commit_lands_while_the_second_reader_reads() {
    let (_dir, dir) = tempdir();
    let db = dir.join("r.db");
    let writer = make_db(&db, false, 100);
    let first = snapshot_conn(&db);
    let second = join(&first, &db).expect("joins under the shared lock");
    drop(first);
    // The second reader's own SHARED lock still keeps writers out.
    writer.busy_timeout(Duration::from_millis(50)).unwrap();
    let err = writer
        .execute("INSERT INTO t(id, v) VALUES (5000, 'late')", [])
        .unwrap_err();
    assert!(err.to_string().contains("locked"), "{err}");
    assert_eq!(count(&second), 100);
    drop(second);
    writer
        .execute("INSERT INTO t(id, v) VALUES (5000, 'late')", [])
        .unwrap();
}
