//! Adding and removing index files in the cache, one file per transaction.
//!
//! A file counts as known only once all its rows are in: its `index_files`
//! row commits with them, so a crash mid-load leaves nothing of it and the
//! next sync loads it again. The rows of the files a new file supersedes go
//! in that same transaction, so no reader ever sees an entry that only a
//! superseded file still lists (its pack may already be deleted or cut).

use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};

use super::{id_bytes, kind_code, IndexCache};
use crate::error::Result;
use crate::format::index::IndexFile;
use crate::ids::IndexId;

impl IndexCache {
    /// Adds one index file and drops the rows of the files it supersedes,
    /// in one transaction. Returns `false`, changing nothing, when the file
    /// is already loaded (perhaps by another process sharing the cache) or
    /// superseded.
    pub fn add_index_file(&mut self, id: &IndexId, file: &IndexFile) -> Result<bool> {
        // IMMEDIATE: the known/superseded check and the insert must see the
        // same cache, even with another process syncing the same file.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let skip = tx
            .prepare_cached(
                "SELECT 1 FROM index_files WHERE id = ?1
                 UNION ALL SELECT 1 FROM superseded WHERE id = ?1",
            )?
            .exists(params![&id.0[..]])?;
        if skip {
            return Ok(false);
        }
        let mut dead = Vec::new();
        {
            let mut ins = tx.prepare_cached(
                "INSERT OR IGNORE INTO superseded (id, replacer) VALUES (?1, ?2)",
            )?;
            let mut row = tx.prepare_cached("SELECT rowid FROM index_files WHERE id = ?1")?;
            for old in &file.supersedes {
                ins.execute(params![&old.0[..], &id.0[..]])?;
                if let Some(r) = row
                    .query_row(params![&old.0[..]], |r| r.get(0))
                    .optional()?
                {
                    dead.push(r);
                }
            }
        }
        remove_files(&tx, &dead)?;
        insert_rows(&tx, id, file)?;
        tx.commit()?;
        self.refresh_reads();
        Ok(true)
    }

    /// Adds several index files, each in its own transaction.
    pub fn add_index_files(&mut self, files: &[(IndexId, IndexFile)]) -> Result<()> {
        for (id, file) in files {
            self.add_index_file(id, file)?;
        }
        Ok(())
    }

    /// Drops every row these index files contributed (they were deleted
    /// from the repository, or superseded), in one transaction. Rows that
    /// another loaded file also lists stay. Unknown ids are ignored.
    pub fn forget_index_files(&mut self, ids: &[IndexId]) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut rows = Vec::with_capacity(ids.len());
        {
            let mut row = tx.prepare_cached("SELECT rowid FROM index_files WHERE id = ?1")?;
            for id in ids {
                if let Some(r) = row.query_row(params![&id.0[..]], |r| r.get(0)).optional()? {
                    rows.push(r);
                }
            }
        }
        remove_files(&tx, &rows)?;
        tx.commit()?;
        self.refresh_reads();
        Ok(())
    }
}

impl IndexCache {
    /// Every supersession record: (superseded file, the file that said so).
    pub fn supersessions(&self) -> Result<Vec<(IndexId, IndexId)>> {
        let mut stmt = self.conn.prepare("SELECT id, replacer FROM superseded")?;
        let rows = stmt.query_map([], |r| {
            Ok((IndexId(id_bytes(r.get(0)?)?), IndexId(id_bytes(r.get(1)?)?)))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Drops every supersession record these files made, so the files they
    /// superseded load again if the repository lists them.
    pub fn forget_supersessions_by(&mut self, replacers: &[IndexId]) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut del = tx.prepare_cached("DELETE FROM superseded WHERE replacer = ?1")?;
            for b in replacers {
                del.execute(params![&b.0[..]])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

/// Inserts one file's rows under a new `index_files` row.
fn insert_rows(tx: &Transaction<'_>, id: &IndexId, file: &IndexFile) -> Result<()> {
    let file_row: i64 = tx
        .prepare_cached("INSERT INTO index_files (id) VALUES (?1) RETURNING rowid")?
        .query_row(params![&id.0[..]], |r| r.get(0))?;
    let mut ins_condemned = tx.prepare_cached(
        "INSERT INTO condemned (pack, file, since) VALUES (?1, ?2, ?3)
         ON CONFLICT(pack, file) DO UPDATE SET since = max(since, excluded.since)",
    )?;
    for c in &file.condemned {
        ins_condemned.execute(params![&c.id.0[..], file_row, c.since])?;
    }
    // The latest file to list a pack sets its kind and size; removing that
    // file hands them back to an earlier one (see `remove_files`).
    let mut ins_pack = tx.prepare_cached(
        "INSERT INTO packs (id, kind, size) VALUES (?1, ?2, ?3)
         ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, size = excluded.size
         RETURNING rowid",
    )?;
    let mut ins_pack_file = tx.prepare_cached(
        "INSERT OR REPLACE INTO pack_files (file, pack, kind, size) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut ins_blob = tx.prepare_cached(
        "INSERT OR IGNORE INTO blobs (id, pack, file, offset, length, raw_length)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut rows = Vec::with_capacity(file.packs.iter().map(|p| p.blobs.len()).sum());
    for pack in &file.packs {
        let (kind, size) = (kind_code(pack.kind), pack.size as i64);
        let pack_row: i64 =
            ins_pack.query_row(params![&pack.id.0[..], kind, size], |r| r.get(0))?;
        ins_pack_file.execute(params![file_row, pack_row, kind, size])?;
        rows.extend(pack.blobs.iter().map(|b| (pack_row, b)));
    }
    // In key order, each page of `blobs` is read and written once per file
    // instead of once per entry: random ids would miss SQLite's small page
    // cache on nearly every insert once the table outgrows it.
    rows.sort_unstable_by_key(|a| a.1.id.0);
    for (pack_row, b) in rows {
        ins_blob.execute(params![
            &b.id.0[..],
            pack_row,
            file_row,
            b.offset,
            b.length,
            b.raw_length
        ])?;
    }
    Ok(())
}

/// Deletes the rows of the files with these `index_files` rowids. Blob rows
/// are found by one scan of `blobs` for all of them (it has no index by
/// file: that would double the cache for the sake of prune and repair, which
/// read every blob row anyway); packs no remaining file lists go too.
fn remove_files(tx: &Transaction<'_>, files: &[i64]) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS sync_dead (file INTEGER PRIMARY KEY);
         CREATE TEMP TABLE IF NOT EXISTS sync_touched (pack INTEGER PRIMARY KEY);
         DELETE FROM temp.sync_dead; DELETE FROM temp.sync_touched;",
    )?;
    {
        let mut ins =
            tx.prepare_cached("INSERT OR IGNORE INTO temp.sync_dead (file) VALUES (?1)")?;
        for f in files {
            ins.execute(params![f])?;
        }
    }
    let has_packs = tx
        .prepare_cached(
            "SELECT 1 FROM pack_files WHERE file IN (SELECT file FROM temp.sync_dead) LIMIT 1",
        )?
        .exists([])?;
    if has_packs {
        tx.execute(
            "DELETE FROM blobs WHERE file IN (SELECT file FROM temp.sync_dead)",
            [],
        )?;
    }
    tx.execute_batch(
        "INSERT OR IGNORE INTO temp.sync_touched
             SELECT pack FROM pack_files WHERE file IN (SELECT file FROM temp.sync_dead);
         DELETE FROM pack_files WHERE file IN (SELECT file FROM temp.sync_dead);
         DELETE FROM packs WHERE rowid IN (SELECT pack FROM temp.sync_touched)
             AND NOT EXISTS (SELECT 1 FROM pack_files pf WHERE pf.pack = packs.rowid);
         UPDATE packs SET (kind, size) = (SELECT pf.kind, pf.size FROM pack_files pf
                 WHERE pf.pack = packs.rowid ORDER BY pf.file DESC LIMIT 1)
             WHERE rowid IN (SELECT pack FROM temp.sync_touched);
         DELETE FROM condemned WHERE file IN (SELECT file FROM temp.sync_dead);
         DELETE FROM index_files WHERE rowid IN (SELECT file FROM temp.sync_dead);
         DELETE FROM temp.sync_dead; DELETE FROM temp.sync_touched;",
    )?;
    Ok(())
}
