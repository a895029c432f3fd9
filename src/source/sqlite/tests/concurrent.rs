//! Snapshots taken while a separate python3 process commits transfers
//! between accounts as fast as it can: every snapshot must be a database
//! that passes `integrity_check` with the sum of balances unchanged.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

const ACCOUNTS: i64 = 100;
const START_BALANCE: i64 = 1000;

/// The writer: transfers between random accounts, each with a log row
/// (with a blob, so the database keeps allocating pages, and an index);
/// every 300 commits it deletes filler rows and runs VACUUM, which
/// rewrites and shrinks the whole file. Runs until `stop` exists.
const WRITER: &str = r#"
import os, random, sqlite3, sys
path, stop = sys.argv[1], sys.argv[2]
c = sqlite3.connect(path, timeout=60, isolation_level=None)
c.execute("PRAGMA synchronous = OFF")
rnd = random.Random(7)
n = 0
while not os.path.exists(stop):
    a, b, amt = rnd.randrange(100), rnd.randrange(100), rnd.randrange(1, 50)
    c.execute("BEGIN IMMEDIATE")
    c.execute("UPDATE acct SET bal = bal - ? WHERE id = ?", (amt, a))
    c.execute("INSERT INTO log(a, b, amt, pad) VALUES (?, ?, ?, randomblob(300))", (a, b, amt))
    c.execute("UPDATE acct SET bal = bal + ? WHERE id = ?", (amt, b))
    c.execute("COMMIT")
    n += 1
    if n % 300 == 0:
        c.execute("DELETE FROM log WHERE id IN (SELECT id FROM log WHERE a = -1 LIMIT 500)")
        c.execute("VACUUM")
"#;

/// The writer process, stopped (by its stop file, else killed) on drop.
struct Writer {
    child: Child,
    stop: std::path::PathBuf,
}

impl Writer {
    fn start(db: &Path, stop: &Path) -> Writer {
        let child = Command::new("python3")
            .args(["-c", WRITER])
            .arg(db)
            .arg(stop)
            .stdin(Stdio::null())
            .spawn()
            .expect("python3 runs");
        Writer {
            child,
            stop: stop.to_path_buf(),
        }
    }

    /// Stops the writer and says whether it had run without failing.
    fn finish(mut self) -> bool {
        std::fs::write(&self.stop, b"").unwrap();
        self.child.wait().unwrap().success()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Accounts with ~1 KiB rows, each followed by ~100 KiB of log rows: the
/// balances lie on pages all over a ~10 MiB file, so a copy that is not
/// one transaction tears the sum.
fn create_bank(db: &Path, mode: &str) {
    let c = Connection::open(db).unwrap();
    let _: String = c
        .query_row(&format!("PRAGMA journal_mode = {mode}"), [], |r| r.get(0))
        .unwrap();
    c.execute_batch(
        "CREATE TABLE acct(id INTEGER PRIMARY KEY, bal INTEGER NOT NULL, pad BLOB);
         CREATE TABLE log(id INTEGER PRIMARY KEY, a INT, b INT, amt INT, pad BLOB);
         CREATE INDEX log_a ON log(a);",
    )
    .unwrap();
    let tx = c.unchecked_transaction().unwrap();
    for id in 0..ACCOUNTS {
        tx.execute(
            "INSERT INTO acct VALUES (?1, ?2, randomblob(1000))",
            [id, START_BALANCE],
        )
        .unwrap();
        tx.execute(
            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 300)
             INSERT INTO log(a, b, amt, pad) SELECT -1, -1, 0, randomblob(300) FROM c",
            [],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

/// Commits the writer has made so far, read through a fresh connection.
fn commits(db: &Path) -> i64 {
    let c = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    c.busy_timeout(Duration::from_secs(60)).unwrap();
    c.query_row("SELECT count(*) FROM log WHERE a >= 0", [], |r| r.get(0))
        .unwrap()
}

/// Waits (bounded, so a dead writer fails the test instead of hanging it)
/// until the writer has committed past `seen`.
fn wait_for_commits(db: &Path, seen: i64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while commits(db) <= seen {
        assert!(Instant::now() < deadline, "the writer made no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn snapshots_under_a_writer(mode: &str, level: CheckLevel) {
    let (_d, dir) = tempdir();
    let db = dir.join("bank.db");
    create_bank(&db, mode);
    let writer = Writer::start(&db, &dir.join("stop"));
    let mut seen = 0;
    for i in 0..24 {
        // 50 commits apart: the 24 snapshots span several VACUUMs.
        wait_for_commits(&db, seen + 50);
        let taken = take(&db, level, &Options::default());
        assert!(taken.check.ok, "snapshot {i}: {}", taken.check.report);
        let out = dir.join(format!("snap-{i}.db"));
        let restored = restore(&taken.bytes, &out);
        assert_eq!(integrity(&restored), "ok", "snapshot {i}");
        let (sum, n): (i64, i64) = restored
            .query_row(
                "SELECT (SELECT sum(bal) FROM acct), (SELECT count(*) FROM log WHERE a >= 0)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(
            sum,
            ACCOUNTS * START_BALANCE,
            "snapshot {i}: money appeared or vanished"
        );
        assert!(n >= seen, "snapshot {i} went back in time");
        seen = n;
        drop(restored);
        std::fs::remove_file(&out).unwrap();
        let _ = super::super::remove_stale_companions(&out);
    }
    assert!(seen > 24 * 50, "every snapshot saw new commits");
    assert!(
        writer.finish(),
        "the writer failed (a commit stayed busy for 60 s?)"
    );
}

#[test]
fn wal_mode_snapshots_under_a_writer_process() {
    snapshots_under_a_writer("WAL", CheckLevel::Quick);
}

#[test]
fn rollback_mode_snapshots_under_a_writer_process() {
    snapshots_under_a_writer("DELETE", CheckLevel::Full);
}
