//! The check, run beside the page stream instead of before it. A second
//! connection joins the snapshot's read transaction state and runs
//! `quick_check`/`integrity_check` on its own thread while the first one
//! streams the pages, so a changed database costs the slower of the two
//! reads, not their sum (the check is about half of a snapshot's time).
//!
//! The second connection must see exactly the snapshot's database:
//! - **WAL mode**: SQLite's snapshot API (`sqlite3_snapshot_get` on the
//!   first connection, `sqlite3_snapshot_open` on the second; the bundled
//!   SQLite is built with `SQLITE_ENABLE_SNAPSHOT`). The first
//!   connection's read mark keeps a checkpoint from overwriting the pages
//!   either reads until both transactions end.
//! - **Rollback-journal mode**: the first connection holds a SHARED lock,
//!   so no writer can change the file until it ends; any reader that gets
//!   its own SHARED lock meanwhile reads the same bytes. (SQLite keeps the
//!   POSIX locks of two connections in one process together, so closing
//!   the second does not drop the first's lock.)
//!
//! When the second reader cannot join (a writer waiting for its exclusive
//! lock refuses new readers, the snapshot API says no), the check runs on
//! the first connection before the stream starts, as SQLite's own
//! transaction guarantees.

use std::ffi::CStr;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{ffi, Connection};

use super::check;
use super::open::open_live;
use super::{CheckLevel, CheckResult};

/// How long the second reader waits for its lock before the check runs on
/// the first connection instead.
const JOIN_WAIT: Duration = Duration::from_millis(200);

/// A check result, ready or still being computed beside the stream.
pub struct PendingCheck(Inner);

enum Inner {
    Ready(CheckResult),
    Running(JoinHandle<CheckResult>),
}

impl PendingCheck {
    pub(super) fn ready(result: CheckResult) -> PendingCheck {
        PendingCheck(Inner::Ready(result))
    }

    /// Waits for the result and keeps it (for callers that look before they
    /// stream).
    pub fn resolve(&mut self) -> &CheckResult {
        if let Inner::Running(_) = self.0 {
            let running = std::mem::replace(&mut self.0, Inner::Ready(placeholder()));
            self.0 = Inner::Ready(PendingCheck(running).wait());
        }
        match &self.0 {
            Inner::Ready(r) => r,
            Inner::Running(_) => unreachable!("resolved above"),
        }
    }

    /// The result, waiting for the check to end. A check that could not
    /// run to its end is a failed check saying why: the database is then
    /// stored marked, never silently unchecked.
    pub fn wait(self) -> CheckResult {
        match self.0 {
            Inner::Ready(r) => r,
            Inner::Running(h) => h.join().unwrap_or_else(|_| CheckResult {
                level: CheckLevel::Quick,
                ok: false,
                report: "the check stopped unexpectedly (a panic in its thread)".into(),
            }),
        }
    }
}

fn placeholder() -> CheckResult {
    CheckResult {
        level: CheckLevel::None,
        ok: true,
        report: String::new(),
    }
}

/// Starts the check at `level` on a second connection that reads what
/// `first` (inside its read transaction) reads; `None` when it cannot join.
pub(super) fn start(first: &Connection, path: &Path, level: CheckLevel) -> Option<PendingCheck> {
    if level == CheckLevel::None {
        return Some(PendingCheck::ready(check::run(first, level).ok()?));
    }
    let second = join(first, path)?;
    let thread = std::thread::Builder::new()
        .name("sqlite-check".into())
        .spawn(move || match check::run(&second, level) {
            Ok(result) => result,
            Err(e) => CheckResult {
                level,
                ok: false,
                report: format!("the check could not run to its end: {e}"),
            },
        })
        .ok()?;
    Some(PendingCheck(Inner::Running(thread)))
}

/// Opens a second read-only connection inside a read transaction on the
/// same database state as `first`'s, or `None`.
pub(crate) fn join(first: &Connection, path: &Path) -> Option<Connection> {
    let wal = first
        .query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))
        .ok()?
        .eq_ignore_ascii_case("wal");
    let second = open_live(path, JOIN_WAIT, false).ok()?;
    if wal {
        // The schema is read once outside a transaction: snapshot_open
        // needs a connection that knows the database is in WAL mode.
        second
            .query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
            .ok()?;
        second.execute_batch("BEGIN DEFERRED").ok()?;
        share_wal_snapshot(first, &second)?;
    } else {
        second.execute_batch("BEGIN DEFERRED").ok()?;
    }
    // The first read takes the snapshot (WAL) or the SHARED lock (rollback).
    second
        .query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
        .ok()?;
    Some(second)
}

/// Makes `second`'s open transaction read `first`'s WAL snapshot.
fn share_wal_snapshot(first: &Connection, second: &Connection) -> Option<()> {
    let main: &CStr = c"main";
    let mut snap: *mut ffi::sqlite3_snapshot = std::ptr::null_mut();
    // SAFETY: both handles are live connections owned by this thread for
    // the duration of the calls; `snap` is freed exactly once below.
    unsafe {
        if ffi::sqlite3_snapshot_get(first.handle(), main.as_ptr(), &mut snap) != ffi::SQLITE_OK {
            return None;
        }
        let rc = ffi::sqlite3_snapshot_open(second.handle(), main.as_ptr(), snap);
        ffi::sqlite3_snapshot_free(snap);
        (rc == ffi::SQLITE_OK).then_some(())
    }
}
