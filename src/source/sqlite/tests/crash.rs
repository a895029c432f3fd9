//! A writer process that dies mid-transaction in rollback-journal mode
//! leaves a hot `-journal` and part of its transaction in the main file.

use std::process::Command;

use super::*;

/// Commits 20000 rows with v = 1, then (a second process) updates every
/// row with a tiny page cache, so changed pages spill into the main file,
/// and exits without committing or rolling back.
const CRASHER: &str = r#"
import os, sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("PRAGMA cache_size = 10")
c.execute("BEGIN")
c.execute("UPDATE t SET v = v + 1, pad = randomblob(200)")
os._exit(0)
"#;

#[test]
fn a_hot_journal_is_rolled_back_and_the_committed_state_snapshotted() {
    let (_d, dir) = tempdir();
    let db = dir.join("hot.db");
    let c = Connection::open(&db).unwrap();
    c.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v INT NOT NULL, pad BLOB);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
         INSERT INTO t SELECT i, 1, randomblob(200) FROM n;",
    )
    .unwrap();
    drop(c);
    let status = Command::new("python3")
        .args(["-c", CRASHER])
        .arg(&db)
        .status()
        .unwrap();
    assert!(status.success());
    let journal = dir.join("hot.db-journal");
    assert!(
        std::fs::metadata(&journal).unwrap().len() > 0,
        "a hot journal"
    );
    // The main file alone holds part of the dead transaction.
    let raw = std::fs::read(&db).unwrap();
    let torn = dir.join("torn.db");
    std::fs::write(&torn, &raw).unwrap();
    let torn_sum = Connection::open(&torn)
        .and_then(|c| c.query_row("SELECT sum(v) FROM t", [], |r| r.get::<_, i64>(0)));
    assert!(
        !matches!(torn_sum, Ok(20000)),
        "the crash left the main file changed"
    );

    let taken = take(&db, CheckLevel::Full, &Options::default());
    assert!(taken.check.ok, "{}", taken.check.report);
    let restored = restore(&taken.bytes, &dir.join("restored.db"));
    let sum: i64 = restored
        .query_row("SELECT sum(v) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sum, 20000, "the last committed state");
    assert!(!journal.exists(), "SQLite rolled the journal back");
}
