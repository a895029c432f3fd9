//! The fallback when `sqlite_dbpage` is not compiled in: SQLite's online
//! backup, run inside the snapshot's read transaction (so it copies the
//! same pages the check saw), into a temporary file that is read and then
//! deleted (on drop too).
//!
//! The copy's pages equal the streamed ones except four header fields the
//! backup rewrites as a writer: the change counter (offset 24), the schema
//! cookie (40), version-valid-for (92) and the SQLite version (96).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Take};
use std::path::Path;
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use tempfile::NamedTempFile;

use super::db_error;
use super::open::sql_error;
use crate::{Error, Result};

/// The copied snapshot; the file is deleted when this (or its reader) drops.
pub(super) struct TempCopy {
    file: NamedTempFile,
    size: u64,
}

/// Copies the database behind `src` (in its open read transaction) into a
/// new temporary file in `temp_dir` and checks it has `size` bytes.
pub(super) fn copy(
    src: &Connection,
    path: &Path,
    temp_dir: &Path,
    size: u64,
    busy: Duration,
) -> Result<TempCopy> {
    let temp_err = |e| Error::file("temporary copy of SQLite database in", temp_dir, e);
    let file = tempfile::Builder::new()
        .prefix("sqlite-snapshot-")
        .suffix(".tmp")
        .tempfile_in(temp_dir)
        .map_err(temp_err)?;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut dst = Connection::open_with_flags(file.path(), flags)
        .map_err(|e| sql_error(file.path(), e, busy))?;
    // No rollback journal beside the temporary file: it is thrown away on
    // any failure anyway.
    dst.execute_batch("PRAGMA journal_mode = OFF")
        .map_err(|e| sql_error(file.path(), e, busy))?;
    let step = Backup::new(src, &mut dst).and_then(|b| b.step(-1));
    match step {
        Ok(StepResult::Done) => {}
        Ok(other) => {
            return Err(db_error(
                path,
                io::Error::other(format!("online backup did not finish: {other:?}")),
            ))
        }
        Err(e) => return Err(sql_error(path, e, busy)),
    }
    drop(dst);
    let len = file.as_file().metadata().map_err(temp_err)?.len();
    if len != size {
        return Err(db_error(
            path,
            io::Error::other(format!(
                "online backup wrote {len} bytes to {}, the snapshot has {size}",
                file.path().display()
            )),
        ));
    }
    Ok(TempCopy { file, size })
}

impl TempCopy {
    pub(super) fn into_reader(self) -> CopyReader {
        CopyReader {
            inner: None,
            copy: self,
        }
    }
}

/// Reads the copy from its start; keeps the temporary file alive.
pub(super) struct CopyReader {
    inner: Option<Take<File>>,
    copy: TempCopy,
}

impl Read for CopyReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.inner.is_none() {
            let mut f = self.copy.file.reopen()?;
            f.seek(SeekFrom::Start(0))?;
            self.inner = Some(f.take(self.copy.size));
        }
        match self.inner.as_mut() {
            Some(r) => r.read(out),
            None => Ok(0),
        }
    }
}
