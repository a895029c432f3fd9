//! Prune's working set in the index cache: which blobs snapshots use, and
//! per pack how much of it is used. Everything lives in TEMP tables of the
//! cache's SQLite connection (spilled to a temporary file by SQLite), so
//! prune's memory does not grow with the number of blobs.
//!
//! Prune first takes a consistent copy of the index (`prune_packs`,
//! `prune_bp`, `prune_condemned`), so another process rebuilding the
//! shared cache meanwhile cannot shift what the plan sees.

use rusqlite::params;

use crate::error::Result;
use crate::format::index::{BlobEntry, BlobKind, CondemnedPack, PackEntry};
use crate::ids::{BlobId, ChunkId, PackId, TreeId};
use crate::repo::cache::{code_kind, id_bytes};
use crate::repo::{IndexCache, Repository};

impl Repository {
    /// The packs condemned by the index files loaded so far.
    pub fn condemned_packs(&self) -> Result<Vec<CondemnedPack>> {
        self.cache().condemned()
    }
}

/// How much of one indexed pack the snapshots use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackUsage {
    pub id: PackId,
    pub kind: BlobKind,
    pub size: u64,
    /// When it was condemned, if it is.
    pub condemned_since: Option<i64>,
    /// Whether the pack is in storage (an indexed pack can be missing).
    pub present: bool,
    /// Stored bytes of all its blobs (the pack minus header and trailer).
    pub blob_bytes: u64,
    /// Used blobs for which this pack holds the copy prune keeps.
    pub used_blobs: u64,
    /// Stored bytes of those blobs.
    pub used_bytes: u64,
}

/// A stored pack no index names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnindexedPack {
    pub id: PackId,
    pub size: u64,
    pub condemned_since: Option<i64>,
}

impl IndexCache {
    /// Starts a prune: drops old working tables and copies the index as it
    /// is now. `present` is every pack in storage with its size.
    pub fn prune_begin(&mut self, present: &[(PackId, u64)]) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute_batch(
            "DROP TABLE IF EXISTS temp.prune_used; DROP TABLE IF EXISTS temp.prune_present;
             DROP TABLE IF EXISTS temp.prune_packs; DROP TABLE IF EXISTS temp.prune_bp;
             DROP TABLE IF EXISTS temp.prune_condemned; DROP TABLE IF EXISTS temp.prune_keep;
             CREATE TEMP TABLE prune_used (kind INTEGER NOT NULL, id BLOB NOT NULL,
                 PRIMARY KEY (kind, id)) WITHOUT ROWID;
             CREATE TEMP TABLE prune_present (pack BLOB PRIMARY KEY, size INTEGER NOT NULL)
                 WITHOUT ROWID;
             CREATE TEMP TABLE prune_condemned (pack BLOB PRIMARY KEY, since INTEGER NOT NULL)
                 WITHOUT ROWID;
             INSERT INTO prune_condemned SELECT pack, max(since) FROM condemned GROUP BY pack;
             CREATE TEMP TABLE prune_packs (pack BLOB PRIMARY KEY, kind INTEGER NOT NULL,
                 size INTEGER NOT NULL) WITHOUT ROWID;
             INSERT INTO prune_packs SELECT id, kind, size FROM packs;
             CREATE TEMP TABLE prune_bp (pack BLOB NOT NULL, kind INTEGER NOT NULL,
                 id BLOB NOT NULL, offset INTEGER NOT NULL, length INTEGER NOT NULL,
                 raw_length INTEGER NOT NULL, PRIMARY KEY (pack, id)) WITHOUT ROWID;
             INSERT OR IGNORE INTO prune_bp SELECT p.id, p.kind, b.id, b.offset, b.length,
                 b.raw_length FROM blobs b JOIN packs p ON p.rowid = b.pack;
             CREATE INDEX temp.prune_bp_id ON prune_bp (id);",
        )?;
        {
            let mut ins = tx.prepare("INSERT OR IGNORE INTO prune_present VALUES (?1, ?2)")?;
            for (id, size) in present {
                ins.execute(params![&id.0[..], *size as i64])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Opens the transaction that the marking of used blobs runs in. One
    /// transaction for the whole walk, not one per tree: autocommitted
    /// inserts cost a journal write and lock round trip each, which was most
    /// of a prune's time. [`IndexCache::prune_mark_end`] closes it.
    pub fn prune_mark_begin(&mut self) -> Result<()> {
        self.conn.execute_batch("BEGIN")?;
        Ok(())
    }

    /// Commits the marks, or rolls them back after a failed walk.
    pub fn prune_mark_end(&mut self, commit: bool) -> Result<()> {
        self.conn
            .execute_batch(if commit { "COMMIT" } else { "ROLLBACK" })?;
        Ok(())
    }

    /// Marks a tree used; `false` if it already was (its subtrees too).
    pub fn prune_mark_tree(&mut self, id: &TreeId) -> Result<bool> {
        let mut stmt = self
            .conn
            .prepare_cached("INSERT OR IGNORE INTO prune_used (kind, id) VALUES (1, ?1)")?;
        Ok(stmt.execute(params![&id.0[..]])? == 1)
    }

    /// Marks file content chunks used, in one transaction (a savepoint
    /// inside the marking transaction).
    pub fn prune_mark_chunks(&mut self, ids: &[ChunkId]) -> Result<()> {
        let tx = self.conn.savepoint()?;
        {
            let mut ins =
                tx.prepare_cached("INSERT OR IGNORE INTO prune_used (kind, id) VALUES (0, ?1)")?;
            for id in ids {
                ins.execute(params![&id.0[..]])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Picks, for every used blob, the one copy prune keeps: in a stored
    /// pack, preferring live packs over condemned ones. Returns the number
    /// of used blobs and up to 10 used blobs with no stored copy at all.
    pub fn prune_choose_keepers(&mut self) -> Result<(u64, Vec<(BlobKind, BlobId)>)> {
        self.conn.execute_batch(
            "CREATE TEMP TABLE prune_keep (kind INTEGER NOT NULL, id BLOB NOT NULL, pack BLOB);
             INSERT INTO prune_keep SELECT u.kind, u.id,
                 (SELECT bp.pack FROM prune_bp bp
                  WHERE bp.id = u.id AND bp.kind = u.kind
                    AND EXISTS (SELECT 1 FROM prune_present s WHERE s.pack = bp.pack)
                  ORDER BY EXISTS (SELECT 1 FROM prune_condemned c WHERE c.pack = bp.pack),
                           bp.pack
                  LIMIT 1)
                 FROM prune_used u;
             CREATE INDEX temp.prune_keep_pack ON prune_keep (pack);",
        )?;
        let used: i64 = self
            .conn
            .query_row("SELECT count(*) FROM prune_used", [], |r| r.get(0))?;
        let mut stmt = self
            .conn
            .prepare("SELECT kind, id FROM prune_keep WHERE pack IS NULL LIMIT 10")?;
        let missing = stmt
            .query_map([], |r| {
                Ok((code_kind(r.get(0)?), BlobId(id_bytes(r.get(1)?)?)))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok((used as u64, missing))
    }

    /// Usage of every indexed pack.
    pub fn prune_pack_usage(&self) -> Result<Vec<PackUsage>> {
        let mut stmt = self.conn.prepare(
            "SELECT pp.pack, pp.kind, pp.size,
                 (SELECT since FROM prune_condemned c WHERE c.pack = pp.pack),
                 EXISTS (SELECT 1 FROM prune_present s WHERE s.pack = pp.pack),
                 (SELECT coalesce(sum(length), 0) FROM prune_bp bp WHERE bp.pack = pp.pack),
                 (SELECT count(*) FROM prune_keep k WHERE k.pack = pp.pack),
                 (SELECT coalesce(sum(bp.length), 0) FROM prune_keep k
                  JOIN prune_bp bp ON bp.pack = k.pack AND bp.id = k.id WHERE k.pack = pp.pack)
             FROM prune_packs pp ORDER BY pp.pack",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(PackUsage {
                id: PackId(id_bytes(r.get(0)?)?),
                kind: code_kind(r.get(1)?),
                size: r.get::<_, i64>(2)? as u64,
                condemned_since: r.get(3)?,
                present: r.get(4)?,
                blob_bytes: r.get::<_, i64>(5)? as u64,
                used_blobs: r.get::<_, i64>(6)? as u64,
                used_bytes: r.get::<_, i64>(7)? as u64,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Stored packs no index names, with their condemnation if any.
    pub fn prune_unindexed(&self) -> Result<Vec<UnindexedPack>> {
        let mut stmt = self.conn.prepare(
            "SELECT s.pack, s.size, (SELECT since FROM prune_condemned c WHERE c.pack = s.pack)
             FROM prune_present s
             WHERE NOT EXISTS (SELECT 1 FROM prune_packs pp WHERE pp.pack = s.pack)
             ORDER BY s.pack",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(UnindexedPack {
                id: PackId(id_bytes(r.get(0)?)?),
                size: r.get::<_, i64>(1)? as u64,
                condemned_since: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The blobs whose kept copy is in `pack`, in pack order: what a
    /// repack must copy out of it.
    pub fn prune_keepers_in(&self, pack: &PackId) -> Result<Vec<BlobEntry>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT bp.id, bp.offset, bp.length, bp.raw_length FROM prune_keep k
             JOIN prune_bp bp ON bp.pack = k.pack AND bp.id = k.id
             WHERE k.pack = ?1 ORDER BY bp.offset",
        )?;
        let rows = stmt.query_map(params![&pack.0[..]], blob_entry)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A pack's index entry as prune copied it, for the new index file.
    pub fn prune_pack_entry(&self, pack: &PackId) -> Result<Option<PackEntry>> {
        let head: Option<(i64, i64)> = {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT kind, size FROM prune_packs WHERE pack = ?1")?;
            let mut rows = stmt.query(params![&pack.0[..]])?;
            match rows.next()? {
                Some(r) => Some((r.get(0)?, r.get(1)?)),
                None => None,
            }
        };
        let Some((kind, size)) = head else {
            return Ok(None);
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, offset, length, raw_length FROM prune_bp WHERE pack = ?1 ORDER BY offset",
        )?;
        let blobs = stmt
            .query_map(params![&pack.0[..]], blob_entry)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Some(PackEntry {
            id: *pack,
            kind: code_kind(kind),
            size: size as u64,
            blobs,
        }))
    }

    /// Condemnation records currently in force, for tests and reports. Several
    /// live records for one pack: the latest time wins, the conservative
    /// choice (the pack waits longer before deletion).
    pub fn condemned(&self) -> Result<Vec<CondemnedPack>> {
        let mut stmt = self
            .conn
            .prepare("SELECT pack, max(since) FROM condemned GROUP BY pack ORDER BY pack")?;
        let rows = stmt.query_map([], |r| {
            Ok(CondemnedPack {
                id: PackId(id_bytes(r.get(0)?)?),
                since: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Drops the working tables.
    pub fn prune_end(&mut self) -> Result<()> {
        self.conn.execute_batch(
            "DROP TABLE IF EXISTS temp.prune_used; DROP TABLE IF EXISTS temp.prune_present;
             DROP TABLE IF EXISTS temp.prune_packs; DROP TABLE IF EXISTS temp.prune_bp;
             DROP TABLE IF EXISTS temp.prune_condemned; DROP TABLE IF EXISTS temp.prune_keep;",
        )?;
        Ok(())
    }
}

fn blob_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<BlobEntry> {
    Ok(BlobEntry {
        id: BlobId(id_bytes(r.get(0)?)?),
        offset: r.get(1)?,
        length: r.get(2)?,
        raw_length: r.get(3)?,
    })
}
