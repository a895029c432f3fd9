//! The local chunk index: a SQLite cache of every index file in the
//! repository, so dedup and restore look up a blob without reading index
//! files. It is only a cache: it is rebuilt from the repository's index files
//! whenever it is missing, damaged or of an older schema, and deleting it
//! loses nothing.
//!
//! Every row remembers which index file it came from (`file`, a small rowid
//! into `index_files`), so the cache follows the repository one file at a
//! time: a new file is added in one transaction (`load.rs`), and a superseded
//! or deleted file's rows are removed without reloading the others. Memory
//! stays bounded by one index file however large the repository grows.

mod load;
mod read;
#[cfg(test)]
pub(super) mod tests;

use std::collections::HashSet;
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::Result;
use crate::format::index::BlobKind;
use crate::ids::{BlobId, IndexId, PackId};

/// Where a blob lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobLocation {
    pub pack: PackId,
    pub kind: BlobKind,
    pub offset: u32,
    pub length: u32,
    pub raw_length: u32,
}

const SCHEMA_VERSION: i64 = 5;

/// How long a connection waits for another's lock before failing.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A connection to the cache database.
pub struct IndexCache {
    pub(super) conn: Connection,
    /// Where `contains`, `lookup` and `pack_size` run (`None` in memory,
    /// where a second connection would be another database).
    reader: Option<read::Reader>,
    /// Bumped by every commit that adds or removes index rows.
    generation: std::cell::Cell<u64>,
}

/// SQLite's page cache for the cache database (KiB, as `cache_size` takes
/// it negative). The default 2 MiB made a sync of millions of entries
/// mostly page reads and writes; this bounds it at 16 MiB.
const PAGE_CACHE_KIB: i64 = 16 * 1024;

fn kind_code(k: BlobKind) -> i64 {
    match k {
        BlobKind::Data => 0,
        BlobKind::Tree => 1,
    }
}

pub(super) fn code_kind(c: i64) -> BlobKind {
    if c == 1 {
        BlobKind::Tree
    } else {
        BlobKind::Data
    }
}

pub(super) fn id_bytes(v: Vec<u8>) -> rusqlite::Result<[u8; 32]> {
    v.try_into().map_err(|_| {
        rusqlite::Error::InvalidColumnType(0, "id".into(), rusqlite::types::Type::Blob)
    })
}

/// Is this SQLite's "another connection holds the lock"?
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}

/// Puts the cache in WAL mode. SQLite answers "busy" to this at once,
/// without waiting on the busy timeout, when another connection is
/// switching the same new file at the same moment; so it is retried here
/// for as long as that timeout.
fn set_wal(conn: &Connection) -> Result<()> {
    let start = std::time::Instant::now();
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(e) if start.elapsed() < BUSY_TIMEOUT && is_busy(&e) => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return Ok(other?),
        }
    }
}

impl IndexCache {
    /// The cache directory of the repository with this id at this location,
    /// under `root`. Keyed by location as well as id: a copy of a repository
    /// (e.g. by `rclone sync`) has the same id, and must never share the
    /// original's cache. A local path is made canonical first, so
    /// `./repo` and `/home/me/repo` share one cache. The cache of an older
    /// version (`root/ID/index.sqlite`, by id alone) is removed.
    pub fn dir_for(root: &Path, repo_id: &[u8], location: &str) -> std::path::PathBuf {
        let by_id = root.join(hex::encode(repo_id));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(by_id.join(format!("index.sqlite{suffix}")));
        }
        by_id.join(Self::location_tag(location))
    }

    /// 16 hex digits naming `location` (a local path made canonical).
    pub(crate) fn location_tag(location: &str) -> String {
        let place = std::fs::canonicalize(location)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| location.to_string());
        blake3::hash(place.as_bytes()).to_hex()[..16].to_string()
    }

    /// Opens (creating if needed) the cache at `path`; a file that is not a
    /// usable cache is deleted and started afresh.
    ///
    /// A cache that is only busy (another process holding its write lock
    /// past the 30 s timeout) is an error, never deleted: that process is
    /// using it.
    pub fn open(path: &Path) -> Result<Self> {
        match Self::try_open(path) {
            Ok(c) => Ok(c),
            Err(crate::error::Error::Cache(e)) if is_busy(&e) => Err(e.into()),
            Err(_) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.as_os_str().to_owned();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
                Self::try_open(path)
            }
        }
    }

    /// An in-memory cache, for tests and one-shot tools.
    pub fn in_memory() -> Result<Self> {
        let conn = Connection::open_in_memory()?;
        Self::init_schema(&conn)?;
        Ok(IndexCache {
            conn,
            reader: None,
            generation: Default::default(),
        })
    }

    fn try_open(path: &Path) -> Result<Self> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        set_wal(&conn)?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "cache_size", -PAGE_CACHE_KIB)?;
        // The version is read, and an old schema dropped, in the same
        // write transaction: read outside it, another process's new
        // schema could be committed (and filled) between the read and
        // the drop, which then dropped a live cache under it.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version != SCHEMA_VERSION {
            tx.execute_batch(
                "DROP TABLE IF EXISTS blobs; DROP TABLE IF EXISTS packs;
                 DROP TABLE IF EXISTS pack_files; DROP TABLE IF EXISTS index_files;
                 DROP TABLE IF EXISTS superseded; DROP TABLE IF EXISTS condemned;",
            )?;
        }
        // Also at the current version: a table lost (by an older build's
        // drop and create, which were not one transaction) is made again.
        Self::init_schema(&tx)?;
        tx.commit()?;
        // Touch the tables so a damaged file fails here, not mid-backup.
        conn.query_row("SELECT count(*) FROM index_files", [], |r| {
            r.get::<_, i64>(0)
        })?;
        Ok(IndexCache {
            conn,
            reader: Some(read::Reader::open(path)?),
            generation: Default::default(),
        })
    }

    /// The tables. `file` columns name the `index_files` row the record came
    /// from; a pack listed by several files has one `packs` row (what lookups
    /// join) and one `pack_files` row per file (what removal consults).
    /// `superseded` records which file (`replacer`) superseded which: a
    /// superseded file must never be loaded, even after its replacer is
    /// itself replaced, but only while the repository still backs the
    /// record (`sync.rs` drops records whose replacer is gone: a copy of
    /// the repository sharing this cache may have written them).
    fn init_schema(conn: &Connection) -> Result<()> {
        conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS index_files (
                 rowid INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE);
             CREATE TABLE IF NOT EXISTS superseded (
                 id BLOB NOT NULL, replacer BLOB NOT NULL, PRIMARY KEY (id, replacer)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS packs (
                 rowid INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE, kind INTEGER NOT NULL,
                 size INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS pack_files (
                 file INTEGER NOT NULL, pack INTEGER NOT NULL, kind INTEGER NOT NULL,
                 size INTEGER NOT NULL, PRIMARY KEY (file, pack)) WITHOUT ROWID;
             CREATE INDEX IF NOT EXISTS pack_files_pack ON pack_files (pack);
             CREATE TABLE IF NOT EXISTS blobs (
                 id BLOB NOT NULL, pack INTEGER NOT NULL, file INTEGER NOT NULL,
                 offset INTEGER NOT NULL, length INTEGER NOT NULL, raw_length INTEGER NOT NULL,
                 PRIMARY KEY (id, pack, file)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS condemned (
                 pack BLOB NOT NULL, file INTEGER NOT NULL, since INTEGER NOT NULL,
                 PRIMARY KEY (pack, file)) WITHOUT ROWID;
             PRAGMA user_version = {SCHEMA_VERSION};"
        ))?;
        Ok(())
    }

    /// Index files already loaded.
    pub fn known_index_files(&self) -> Result<HashSet<IndexId>> {
        let mut stmt = self.conn.prepare("SELECT id FROM index_files")?;
        let rows = stmt.query_map([], |r| Ok(IndexId(id_bytes(r.get(0)?)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every pack the cache has rows for.
    pub fn pack_ids(&self) -> Result<Vec<PackId>> {
        let mut stmt = self.conn.prepare("SELECT id FROM packs")?;
        let rows = stmt.query_map([], |r| Ok(PackId(id_bytes(r.get(0)?)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every pack of tree blobs the cache has rows for.
    pub fn tree_pack_ids(&self) -> Result<HashSet<PackId>> {
        let mut stmt = self.conn.prepare("SELECT id FROM packs WHERE kind = ?1")?;
        let rows = stmt.query_map([kind_code(BlobKind::Tree)], |r| {
            Ok(PackId(id_bytes(r.get(0)?)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Index files some loaded index file supersedes: never to be loaded.
    pub fn superseded(&self) -> Result<HashSet<IndexId>> {
        let mut stmt = self.conn.prepare("SELECT DISTINCT id FROM superseded")?;
        let rows = stmt.query_map([], |r| Ok(IndexId(id_bytes(r.get(0)?)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Is the blob in an indexed pack of its kind that is not condemned?
    /// This is the writer's dedup question: a blob only in condemned packs
    /// must be stored again, or a later prune could delete its only copy.
    /// A blob's identity is (kind, id): a file chunk whose bytes equal an
    /// encoded tree is a different blob from that tree.
    pub fn contains(&self, kind: BlobKind, id: &BlobId) -> Result<bool> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT 1 FROM blobs b JOIN packs p ON p.rowid = b.pack
                 WHERE b.id = ?1 AND p.kind = ?2
                   AND NOT EXISTS (SELECT 1 FROM condemned c WHERE c.pack = p.id) LIMIT 1",
            )?;
            Ok(stmt.exists(params![&id.0[..], kind_code(kind)])?)
        })
    }

    /// Like [`IndexCache::contains`], answering with the live pack holding
    /// the blob: a backup records the packs it relies on, to check before
    /// its snapshot that none of them vanished.
    pub fn live_pack(&self, kind: BlobKind, id: &BlobId) -> Result<Option<PackId>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT p.id FROM blobs b JOIN packs p ON p.rowid = b.pack
                 WHERE b.id = ?1 AND p.kind = ?2
                   AND NOT EXISTS (SELECT 1 FROM condemned c WHERE c.pack = p.id) LIMIT 1",
            )?;
            Ok(stmt
                .query_row(params![&id.0[..], kind_code(kind)], |r| {
                    Ok(PackId(id_bytes(r.get(0)?)?))
                })
                .optional()?)
        })
    }

    /// Drops every row of packs found missing from storage, so nothing
    /// deduplicates against them any more (their index files stay known:
    /// the packs are gone whatever those files say).
    pub fn forget_packs(&mut self, packs: &[PackId]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for p in packs {
            tx.execute(
                "DELETE FROM blobs WHERE pack IN (SELECT rowid FROM packs WHERE id = ?1)",
                params![&p.0[..]],
            )?;
            tx.execute(
                "DELETE FROM pack_files WHERE pack IN (SELECT rowid FROM packs WHERE id = ?1)",
                params![&p.0[..]],
            )?;
            tx.execute("DELETE FROM packs WHERE id = ?1", params![&p.0[..]])?;
        }
        tx.commit()?;
        self.refresh_reads();
        Ok(())
    }

    /// Where to read the blob from: a copy in a live pack if there is one,
    /// else one in a condemned pack (a snapshot written before the
    /// condemnation may need it, and it is still stored).
    ///
    /// The copies (almost always one) are chosen here rather than with an
    /// `ORDER BY` in SQL: that built a sorter per lookup and made every
    /// lookup of a restore or check twice as slow.
    pub fn lookup(&self, kind: BlobKind, id: &BlobId) -> Result<Option<BlobLocation>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT p.id, p.kind, b.offset, b.length, b.raw_length,
                        EXISTS (SELECT 1 FROM condemned c WHERE c.pack = p.id)
                 FROM blobs b JOIN packs p ON p.rowid = b.pack
                 WHERE b.id = ?1 AND p.kind = ?2",
            )?;
            let mut rows = stmt.query(params![&id.0[..], kind_code(kind)])?;
            let mut condemned = None;
            while let Some(r) = rows.next()? {
                let loc = BlobLocation {
                    pack: PackId(id_bytes(r.get(0)?)?),
                    kind: code_kind(r.get(1)?),
                    offset: r.get(2)?,
                    length: r.get(3)?,
                    raw_length: r.get(4)?,
                };
                if !r.get::<_, bool>(5)? {
                    return Ok(Some(loc));
                }
                condemned.get_or_insert(loc);
            }
            Ok(condemned)
        })
    }

    /// The size of a pack as its index says.
    pub fn pack_size(&self, pack: &PackId) -> Result<Option<u64>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT size FROM packs WHERE id = ?1")?;
            Ok(stmt
                .query_row(params![&pack.0[..]], |r| r.get::<_, i64>(0))
                .optional()?
                .map(|s| s as u64))
        })
    }

    /// Runs a lookup on the read connection, or on the main one in memory.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        match &self.reader {
            Some(r) => r.with(self.generation.get(), f),
            None => f(&self.conn),
        }
    }

    /// Called after every commit that changes index rows, and by every
    /// sync: the next lookup starts a new read snapshot.
    pub(crate) fn refresh_reads(&self) {
        self.generation.set(self.generation.get().wrapping_add(1));
    }

    /// Gives back the page caches' memory (up to 24 MiB between the two
    /// connections); they refill from the file as lookups need them. For a
    /// long-running process between operations.
    pub fn release_memory(&self) -> Result<()> {
        self.conn.release_memory()?;
        if let Some(r) = &self.reader {
            r.release_memory()?;
        }
        Ok(())
    }

    /// Number of distinct blobs and packs indexed.
    pub fn counts(&self) -> Result<(u64, u64)> {
        let blobs = self
            .conn
            .query_row("SELECT count(DISTINCT id) FROM blobs", [], |r| {
                r.get::<_, i64>(0)
            })?;
        let packs = self
            .conn
            .query_row("SELECT count(*) FROM packs", [], |r| r.get::<_, i64>(0))?;
        Ok((blobs as u64, packs as u64))
    }
}
