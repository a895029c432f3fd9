//! Opening a database for a snapshot or a check: a look at the file before
//! SQLite touches it (a fifo would block `open(2)` forever, a directory or a
//! garbage header deserves a clear message), and the mapping of SQLite's
//! errors to typed errors that name the database.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::{db_error, has_header};
use crate::Result;

/// Checks that `path` is a regular file starting with a database header
/// SQLite can read, without blocking on a fifo or a device.
pub(super) fn preflight(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| db_error(path, e))?;
    if !meta.file_type().is_file() {
        return Err(invalid(
            path,
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut first = [0u8; 100];
    let mut file = File::open(path).map_err(|e| db_error(path, e))?;
    let n = read_up_to(&mut file, &mut first).map_err(|e| db_error(path, e))?;
    if n < first.len() || !has_header(&first) {
        return Err(invalid(
            path,
            io::ErrorKind::InvalidData,
            "not an SQLite 3 database (no complete \"SQLite format 3\" header)",
        ));
    }
    let raw = u16::from_be_bytes([first[16], first[17]]);
    let page_size = if raw == 1 { 65536 } else { u32::from(raw) };
    if !page_size.is_power_of_two() || !(512..=65536).contains(&page_size) {
        return Err(invalid(
            path,
            io::ErrorKind::InvalidData,
            &format!(
                "header names page size {raw}, which no SQLite database has (damaged or encrypted)"
            ),
        ));
    }
    if first[18] > 2 || first[19] > 2 {
        return Err(invalid(
            path,
            io::ErrorKind::InvalidData,
            &format!(
                "header names file format versions {}/{}, which this SQLite cannot read",
                first[18], first[19]
            ),
        ));
    }
    Ok(())
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn invalid(path: &Path, kind: io::ErrorKind, msg: &str) -> crate::Error {
    db_error(path, io::Error::new(kind, msg.to_string()))
}

/// Opens a live database read-only (never creating the main file), with a
/// busy timeout so that a writer holding a lock cannot make us wait
/// forever. In WAL mode SQLite itself creates `-wal`/`-shm` when they are
/// absent, as it does for any reader. `write` opens it read-write instead
/// (still never creating it), for [`is_hot_journal`].
pub(super) fn open_live(path: &Path, busy: Duration, write: bool) -> Result<Connection> {
    let mode = if write {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    };
    let flags = mode | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| sql_error(path, e, busy))?;
    conn.busy_timeout(busy)
        .map_err(|e| sql_error(path, e, busy))?;
    Ok(conn)
}

/// Whether a read failed because of a hot `-journal`: a writer died in the
/// middle of a transaction in rollback-journal mode, the main file holds
/// part of it, and SQLite rolls it back before anyone can read, which a
/// read-only connection cannot do.
pub(super) fn is_hot_journal(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_READONLY_ROLLBACK)
}

/// Opens a database at rest as immutable: SQLite reads exactly the file's
/// bytes, takes no locks, ignores and creates no companions.
pub(super) fn open_at_rest(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let uri = format!("file:{}?immutable=1", uri_path(path));
    Connection::open_with_flags(&uri, flags).map_err(|e| sql_error(path, e, Duration::ZERO))
}

/// A path as the path part of an SQLite URI: every byte but unreserved
/// ASCII percent-encoded (SQLite decodes them back, so non-UTF-8 names work).
fn uri_path(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/._-~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An SQLite error as a typed error naming the database. A busy or locked
/// database says for how long it waited.
pub(super) fn sql_error(path: &Path, e: rusqlite::Error, busy: Duration) -> crate::Error {
    db_error(path, sql_io_error(e, busy))
}

/// An SQLite error as an `io::Error` of a matching kind.
pub(super) fn sql_io_error(e: rusqlite::Error, busy: Duration) -> io::Error {
    if is_hot_journal(&e) {
        return io::Error::new(
            io::ErrorKind::PermissionDenied,
            "a writer died mid-transaction and left a hot -journal; SQLite must roll it \
             back before the database can be read, which needs write access to it",
        );
    }
    let code = e.sqlite_error_code();
    let kind = match code {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            return io::Error::new(
                io::ErrorKind::ResourceBusy,
                format!(
                    "database is locked: a writer held its lock for more than {} s",
                    busy.as_secs()
                ),
            );
        }
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => io::ErrorKind::InvalidData,
        Some(ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => io::ErrorKind::PermissionDenied,
        Some(ErrorCode::CannotOpen) => io::ErrorKind::NotFound,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e.to_string())
}

/// Whether an SQLite error means the database's bytes are damaged.
pub(super) fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}
