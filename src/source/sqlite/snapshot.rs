//! One consistent snapshot of a live database: a read transaction held
//! from [`Snapshot::open`] until the page stream is dropped.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Sender};
use rusqlite::Connection;

use super::fallback::{self, TempCopy};
use super::open::{open_live, preflight, sql_error, sql_io_error};
use super::{check, CheckLevel, CheckResult};
use crate::Result;

/// How long opening waits for a writer's lock before it gives up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Pages travel from the reading thread in batches of about this size ...
const BATCH_BYTES: usize = 1 << 20;
/// ... and at most this many batches wait in the channel (a few MiB).
const BATCHES_IN_FLIGHT: usize = 4;

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
    check: CheckResult,
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
    /// transaction, runs the check at `level` inside it, and prepares to
    /// stream pages. `temp_dir` holds the fallback copy, if one is needed.
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
        let conn = open_live(path, opts.busy_timeout)?;
        let (page_size, page_count) = begin(&conn).map_err(err)?;
        let check = check::run(&conn, level).map_err(err)?;
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

    pub fn check(&self) -> &CheckResult {
        &self.check
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
        match self.body {
            Body::Copy(copy) => Box::new(copy.into_reader()),
            Body::Live(conn) => Box::new(PageStream::spawn(
                conn,
                self.path,
                self.page_size,
                self.page_count,
            )),
        }
    }
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

/// What the reading thread sends.
enum Msg {
    Pages(Vec<u8>),
    /// Every page was sent; anything else before the channel closes is a
    /// failure (a thread that died says nothing).
    Done,
    Failed(io::Error),
}

/// The reader half of the page stream.
struct PageStream {
    rx: Option<Receiver<Msg>>,
    buf: Vec<u8>,
    pos: usize,
    done: bool,
    worker: Option<JoinHandle<()>>,
}

impl PageStream {
    fn spawn(conn: Connection, path: PathBuf, page_size: u32, page_count: u64) -> PageStream {
        let (tx, rx) = bounded(BATCHES_IN_FLIGHT);
        let worker = std::thread::Builder::new()
            .name("sqlite-snapshot".into())
            .spawn(move || {
                let msg = match send_pages(&conn, page_size, page_count, &tx) {
                    Ok(()) => Msg::Done,
                    Err(e) => Msg::Failed(io::Error::new(
                        e.kind(),
                        format!("SQLite snapshot of {}: {e}", path.display()),
                    )),
                };
                let _ = tx.send(msg);
            });
        match worker {
            Ok(worker) => PageStream {
                rx: Some(rx),
                buf: Vec::new(),
                pos: 0,
                done: false,
                worker: Some(worker),
            },
            // No thread: the reader fails on its first read (the channel's
            // sender is gone without `Done`).
            Err(_) => PageStream {
                rx: Some(rx),
                buf: Vec::new(),
                pos: 0,
                done: false,
                worker: None,
            },
        }
    }
}

/// Reads every page in order inside the connection's read transaction and
/// sends them in batches; stops quietly when the reader is gone.
fn send_pages(
    conn: &Connection,
    page_size: u32,
    page_count: u64,
    tx: &Sender<Msg>,
) -> io::Result<()> {
    let sql_err = |e| sql_io_error(e, Duration::ZERO);
    let mut stmt = conn
        .prepare("SELECT pgno, data FROM sqlite_dbpage('main') ORDER BY pgno")
        .map_err(sql_err)?;
    let mut rows = stmt.query([]).map_err(sql_err)?;
    let mut batch = Vec::with_capacity(BATCH_BYTES);
    let mut next = 1u64;
    while let Some(row) = rows.next().map_err(sql_err)? {
        let pgno: u64 = row.get(0).map_err(sql_err)?;
        let data = row
            .get_ref(1)
            .and_then(|v| Ok(v.as_blob()?))
            .map_err(sql_err)?;
        if pgno != next || data.len() != page_size as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "page {pgno} ({} bytes) where page {next} ({page_size} bytes) was due",
                    data.len()
                ),
            ));
        }
        batch.extend_from_slice(data);
        next += 1;
        if batch.len() >= BATCH_BYTES {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_BYTES));
            if tx.send(Msg::Pages(full)).is_err() {
                return Ok(());
            }
        }
    }
    if next - 1 != page_count {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("read {} pages of {page_count}", next - 1),
        ));
    }
    if !batch.is_empty() {
        let _ = tx.send(Msg::Pages(batch));
    }
    Ok(())
}

impl Read for PageStream {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.buf.len() {
                let n = out.len().min(self.buf.len() - self.pos);
                out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.done || out.is_empty() {
                return Ok(0);
            }
            let msg = self.rx.as_ref().and_then(|rx| rx.recv().ok());
            match msg {
                Some(Msg::Pages(pages)) => {
                    self.buf = pages;
                    self.pos = 0;
                }
                Some(Msg::Done) => self.done = true,
                Some(Msg::Failed(e)) => return Err(e),
                None => {
                    return Err(io::Error::other(
                        "SQLite snapshot: the page reading thread stopped early",
                    ))
                }
            }
        }
    }
}

impl Drop for PageStream {
    /// Closes the channel first so a thread blocked on a send stops, then
    /// waits for it: the read transaction ends before the drop returns.
    fn drop(&mut self) {
        self.rx.take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}
