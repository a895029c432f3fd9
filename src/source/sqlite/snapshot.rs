//! One consistent snapshot of a live database: a read transaction held
//! from [`Snapshot::open`] until the page stream is dropped.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

use super::alongside::{self, PendingCheck};
use super::fallback::{self, TempCopy};
use super::open::{is_hot_journal, open_live, preflight, sql_error};
use super::{check, stream, CheckLevel, CheckResult};
use crate::Result;

/// How long opening waits for a writer's lock before it gives up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings tests change; [`Snapshot::open`] uses the defaults.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub busy_timeout: Duration,
    /// Take the fallback copy even when `sqlite_dbpage` is there.
    pub force_fallback: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            busy_timeout: BUSY_TIMEOUT,
            force_fallback: false,
        }
    }
}

/// An open consistent snapshot: one read transaction held until dropped.
pub struct Snapshot {
    path: PathBuf,
    page_size: u32,
    page_count: u64,
    check: PendingCheck,
    body: Body,
}

enum Body {
    /// The connection whose read transaction is the snapshot.
    Live(Connection),
    /// The fallback: the snapshot copied into a temporary file.
    Copy(TempCopy),
}

impl Snapshot {
    /// Opens `path` read-only (never creating it; in WAL mode SQLite
    /// creates absent `-wal`/`-shm` as for any reader), starts one read
    /// transaction, starts the check at `level` on the same database state
    /// (beside the stream when it can, see `alongside`), and prepares to
    /// stream pages. `temp_dir` holds the fallback copy, if one is needed.
    /// The one write it may cause is SQLite's own rollback of a hot
    /// `-journal` a dead writer left (see `start`).
    pub fn open(path: &Path, level: CheckLevel, temp_dir: &Path) -> Result<Snapshot> {
        Self::open_with(path, level, temp_dir, &Options::default())
    }

    pub(crate) fn open_with(
        path: &Path,
        level: CheckLevel,
        temp_dir: &Path,
        opts: &Options,
    ) -> Result<Snapshot> {
        preflight(path)?;
        let err = |e| sql_error(path, e, opts.busy_timeout);
        let (conn, page_size, page_count) = start(path, opts.busy_timeout)?;
        // Beside the stream when a second reader can join the snapshot,
        // else first, inside this transaction (alongside.rs).
        let check = match alongside::start(&conn, path, level) {
            Some(pending) => pending,
            None => PendingCheck::ready(check::run(&conn, level).map_err(err)?),
        };
        let body = if !opts.force_fallback && dbpage_available(&conn).map_err(err)? {
            Body::Live(conn)
        } else {
            let size = u64::from(page_size) * page_count;
            Body::Copy(fallback::copy(
                &conn,
                path,
                temp_dir,
                size,
                opts.busy_timeout,
            )?)
        };
        Ok(Snapshot {
            path: path.to_path_buf(),
            page_size,
            page_count,
            check,
            body,
        })
    }

    pub fn page_size(&self) -> u32 {
        self.page_size
    }

    /// Exact byte length of the snapshot = page_size * page_count as of
    /// the transaction.
    pub fn size(&self) -> u64 {
        u64::from(self.page_size) * self.page_count
    }

    /// The check's result, waiting for it if it still runs.
    pub fn wait_check(&mut self) -> &CheckResult {
        self.check.resolve()
    }

    /// The page stream and the check running beside it. Wait for the check
    /// only after the stream is read (or dropped): it reads the same
    /// snapshot on its own connection.
    pub fn into_parts(self) -> (Box<dyn Read + Send>, PendingCheck) {
        let Snapshot {
            path,
            page_size,
            page_count,
            check,
            body,
        } = self;
        let reader: Box<dyn Read + Send> = match body {
            Body::Copy(copy) => Box::new(copy.into_reader()),
            Body::Live(conn) => {
                Box::new(stream::PageStream::spawn(conn, path, page_size, page_count))
            }
        };
        (reader, check)
    }

    /// true when the streaming path was not available and the fallback
    /// copy (SQLite's online backup into a temporary file) was used.
    pub fn used_fallback(&self) -> bool {
        matches!(self.body, Body::Copy(_))
    }

    /// The snapshot's bytes, in order, while the read transaction is held.
    /// Pages are read on a thread that owns the connection (a statement
    /// borrows it, so it cannot travel in a `Send` reader) and arrive in
    /// batches over a bounded channel; dropping the reader ends the
    /// transaction.
    pub fn into_reader(self) -> Box<dyn Read + Send> {
        self.into_parts().0
    }
}

/// Opens the database and takes the snapshot. A hot journal is rolled back
/// first through a read-write connection, as the application's next
/// opener would do: the main file holds a dead writer's partial
/// transaction, and the rolled-back database is the last committed state.
fn start(path: &Path, busy: Duration) -> Result<(Connection, u32, u64)> {
    let conn = open_live(path, busy, false)?;
    match begin(&conn) {
        Ok((page_size, page_count)) => return Ok((conn, page_size, page_count)),
        Err(e) if is_hot_journal(&e) => drop(conn),
        Err(e) => return Err(sql_error(path, e, busy)),
    }
    let conn = open_live(path, busy, true)?;
    let (page_size, page_count) = begin(&conn).map_err(|e| sql_error(path, e, busy))?;
    Ok((conn, page_size, page_count))
}

/// Starts the read transaction and takes the snapshot with a first read
/// (until then a deferred transaction has pinned nothing); returns the page
/// size and count as of the snapshot.
fn begin(conn: &Connection) -> rusqlite::Result<(u32, u64)> {
    conn.execute_batch("BEGIN DEFERRED")?;
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))?;
    let page_size: u32 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let page_count: u64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    Ok((page_size, page_count))
}

/// Whether this SQLite has the `sqlite_dbpage` table (built with
/// `SQLITE_ENABLE_DBPAGE_VTAB`).
fn dbpage_available(conn: &Connection) -> rusqlite::Result<bool> {
    match conn.prepare("SELECT data FROM sqlite_dbpage('main') WHERE pgno = 1") {
        Ok(_) => Ok(true),
        Err(e) if e.to_string().contains("no such table") => Ok(false),
        Err(e) => Err(e),
    }
}
