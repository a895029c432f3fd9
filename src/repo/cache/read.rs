//! Blob lookups on a second, read-only connection that keeps one read
//! transaction open across many lookups.
//!
//! Every statement outside a transaction makes SQLite take and release its
//! WAL read locks: four `fcntl` calls, which were a third of an unchanged
//! re-backup's CPU (one dedup lookup per chunk of every unchanged file). A
//! snapshot held for a few thousand lookups costs that once. It is renewed
//! after [`LOOKUPS_PER_SNAPSHOT`] lookups, so other processes' index entries
//! show up and WAL checkpoints are not held back for long, and as soon as
//! this process's own connection has committed new index rows, so a blob
//! this process just indexed is never looked up in an older snapshot.

use std::cell::Cell;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::error::Result;

/// How many lookups one read snapshot serves before it is renewed.
const LOOKUPS_PER_SNAPSHOT: u32 = 4096;

/// The read connection's page cache (KiB): lookups land on random pages of
/// the blob index, which the default 2 MiB re-read from the OS constantly.
const READ_CACHE_KIB: i64 = 8 * 1024;

pub(super) struct Reader {
    conn: Connection,
    /// Lookups served by the open read transaction; 0 when none is open.
    served: Cell<u32>,
    /// The writer generation the open transaction started after.
    seen: Cell<u64>,
}

impl Reader {
    pub(super) fn release_memory(&self) -> Result<()> {
        Ok(self.conn.release_memory()?)
    }

    pub fn open(path: &Path) -> Result<Reader> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(super::BUSY_TIMEOUT)?;
        conn.pragma_update(None, "cache_size", -READ_CACHE_KIB)?;
        Ok(Reader {
            conn,
            served: Cell::new(0),
            seen: Cell::new(0),
        })
    }

    /// Runs one lookup in a read snapshot that has seen every commit of
    /// this process's writer up to `generation`.
    pub fn with<T>(&self, generation: u64, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        if self.conn.is_autocommit() {
            self.served.set(0);
        } else if self.served.get() >= LOOKUPS_PER_SNAPSHOT || self.seen.get() != generation {
            self.conn.execute_batch("COMMIT")?;
            self.served.set(0);
        }
        if self.served.get() == 0 {
            self.conn.execute_batch("BEGIN")?;
            self.seen.set(generation);
        }
        self.served.set(self.served.get() + 1);
        f(&self.conn)
    }
}
