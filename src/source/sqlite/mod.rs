//! Live SQLite databases as sources: a **consistent snapshot** taken through
//! SQLite itself instead of the file's raw bytes.
//!
//! Copying a live database file byte by byte stores it torn (a writer
//! commits halfway through the copy) and loses every row still in its
//! `-wal` companion. [`Snapshot::open`] instead holds one read transaction
//! and streams the database's pages, as of that transaction, through the
//! `sqlite_dbpage` virtual table: what a reader sees, the `-wal` content
//! included, with no temporary copy on disk. Only when that table is not
//! compiled in does it fall back to SQLite's online backup into a temporary
//! file (and says so, [`Snapshot::used_fallback`]).
//!
//! Costs for the application are those of any reader: in WAL mode the open
//! transaction pins the WAL read mark (writers keep committing; a checkpoint
//! cannot pass the snapshot, so the `-wal` grows until it ends); in
//! rollback-journal mode the transaction holds a SHARED lock, so a writer
//! can prepare a transaction but not commit it until the snapshot ends.
//! The snapshot ends as soon as the last page is read (the reading thread
//! runs a few MiB ahead of the consumer) or the reader is dropped; the
//! fallback ends it once its copy is written. The one change a snapshot
//! may make to the database is SQLite's own rollback of a hot `-journal` a
//! writer that died mid-transaction left, as its next opener would.
//!
//! The module knows nothing of the repository: the archiver turns a
//! snapshot into a stream of page-aligned chunks, restore writes the bytes
//! and calls [`check_file`] and [`remove_stale_companions`].

mod alongside;
mod check;
mod fallback;
mod open;
mod snapshot;
mod stream;

#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub use alongside::PendingCheck;
pub use snapshot::Snapshot;

/// The 16-byte header every SQLite 3 database starts with.
pub const HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Whether a file's first bytes are an SQLite 3 database header.
pub fn has_header(first_bytes: &[u8]) -> bool {
    first_bytes.starts_with(HEADER)
}

/// Companion files that hold part of a live database's state: "-wal",
/// "-shm", "-journal". Their content is in the database's snapshot, so a
/// backup that snapshots the database leaves them out.
pub const COMPANIONS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// For a file name, the database name it is a companion of
/// ("x.db-wal" -> "x.db"), if any. A bare "-wal" is no companion.
pub fn companion_of(name: &[u8]) -> Option<&[u8]> {
    COMPANIONS.iter().find_map(|suffix| {
        name.strip_suffix(suffix.as_bytes())
            .filter(|base| !base.is_empty())
    })
}

/// How thoroughly to verify a database: `Quick` = `PRAGMA quick_check`
/// (default: it reads every page but skips the index-to-table cross
/// check), `Full` = `PRAGMA integrity_check`, `None` = no check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CheckLevel {
    None,
    #[default]
    Quick,
    Full,
}

/// The result of verifying a database: the level used, whether it passed,
/// and when it did not, the check's first lines (at most 10 lines and
/// 1 KiB) for the message that reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckResult {
    pub level: CheckLevel,
    pub ok: bool,
    pub report: String,
}

/// What change detection compares beyond the main file's lstat: a commit
/// in WAL mode changes only the `-wal` companion, so a database whose main
/// file looks unchanged has changed when this did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalStamp {
    pub size: u64,
    pub mtime: (i64, u32),
    pub ctime: (i64, u32),
    pub inode: u64,
}

/// The `-wal` companion's stamp, or `None` when there is no such regular
/// file next to `db_path`.
pub fn wal_stamp(db_path: &Path) -> Option<WalStamp> {
    let meta = std::fs::symlink_metadata(companion_path(db_path, "-wal")).ok()?;
    if !meta.file_type().is_file() {
        return None;
    }
    Some(WalStamp {
        size: meta.size(),
        mtime: (meta.mtime(), nanos(meta.mtime_nsec())),
        ctime: (meta.ctime(), nanos(meta.ctime_nsec())),
        inode: meta.ino(),
    })
}

fn nanos(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

/// Runs the check on a database file at rest (restore runs it on what it
/// wrote). The file is opened immutable: exactly its bytes are checked, no
/// `-wal` is replayed into them and no companion file is created.
pub fn check_file(path: &Path, level: CheckLevel) -> crate::Result<CheckResult> {
    check::check_file(path, level)
}

/// A check report's first three lines on one line, for messages.
pub fn report_summary(report: &str) -> String {
    report.lines().take(3).collect::<Vec<_>>().join("; ")
}

/// Removes the `-wal`, `-shm` and `-journal` companions left next to a
/// restored or replaced database: the next opener would replay a stale
/// `-wal` (or roll back a stale hot `-journal`) into the new file and
/// corrupt it. Returns the paths removed.
pub fn remove_stale_companions(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for suffix in COMPANIONS {
        let companion = companion_path(path, suffix);
        match std::fs::remove_file(&companion) {
            Ok(()) => removed.push(companion),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// `path` with `suffix` (one of [`COMPANIONS`]) appended to its last
/// component, byte-exact.
pub fn companion_path(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// A typed error naming the database and what went wrong with it.
fn db_error(path: &Path, source: std::io::Error) -> crate::Error {
    crate::Error::file("SQLite database", path, source)
}
