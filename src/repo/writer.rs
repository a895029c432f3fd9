//! The write path: seal blobs, gather them into packs, upload full packs,
//! and write index files naming only packs whose upload was confirmed.
//!
//! Callers on many threads call [`BlobWriter::add_if_new`]; sealing (zstd and
//! XChaCha20-Poly1305) runs on the calling thread, so it scales with the
//! caller's parallelism. A full pack is committed by the thread that filled
//! it, in the background where the backend can (a bucket): the pack waits in
//! `in_flight` until its upload is confirmed, and only then joins the queue
//! for the next index file. The backend bounds the uploads in flight.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::format::index::{BlobKind, IndexFile, PackEntry};
use crate::format::layout;
use crate::format::pack::{self, PackBuilder, PackSink};
use crate::ids::{BlobId, PackId};
use crate::progress::{NoProgress, Progress};
use crate::repo::Repository;
use crate::storage::{Pending, Staged};

/// Packs named in one index file at most, so a crash loses little index
/// work and the next backup can deduplicate against what was uploaded.
pub(crate) const PACKS_PER_INDEX: usize = 8;
/// Tree packs are flushed at this size: trees are small and read often.
pub(crate) const TREE_PACK_SIZE: usize = 4 * 1024 * 1024;

/// What a writer added to the repository.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WriteStats {
    pub blobs_added: u64,
    pub data_blobs_added: u64,
    pub tree_blobs_added: u64,
    /// Plaintext bytes of new blobs.
    pub bytes_added: u64,
    /// Bytes of new blobs as stored (compressed and sealed).
    pub bytes_stored: u64,
    pub packs_added: u64,
    pub index_files_added: u64,
}

/// Adds blobs to a repository. Call [`BlobWriter::finish`] to flush; blobs
/// of a writer that is dropped unfinished are never indexed.
pub struct BlobWriter<'r> {
    repo: &'r Repository,
    /// The pack being filled, per kind; started on the first blob.
    data: Mutex<Option<Pack<'r>>>,
    tree: Mutex<Option<Pack<'r>>>,
    /// Blobs sealed in this session but not yet in an index file.
    pending: Mutex<HashSet<(BlobKind, BlobId)>>,
    /// Packs whose upload is not confirmed yet.
    in_flight: Mutex<VecDeque<(Pending, PackEntry, TreeCopy)>>,
    /// Uploaded packs waiting for an index file.
    unindexed: Mutex<Vec<PackEntry>>,
    /// Packs holding blobs this writer was asked for: its own, and those it
    /// deduplicated against. A backup checks they all still exist before
    /// its snapshot (format-spec/12-prune.md).
    relied: Mutex<HashSet<PackId>>,
    stats: Mutex<WriteStats>,
    /// Bytes of the packs named in index files written so far.
    indexed_bytes: AtomicU64,
    /// Asked before each blob; once it says stop, the writer takes no more
    /// (see [`BlobWriter::stop_when`]).
    stop: &'r dyn Progress,
}

type Pack<'r> = PackBuilder<StagedSink<'r>>;

/// A staged storage object as the pack builder's sink: pack bytes go
/// straight to the backend's staging (a temporary file for local storage)
/// instead of a 16 MiB buffer per pack in flight. A tree pack's bytes are
/// also copied, for the local tree cache once the upload is confirmed: the
/// next backup's comparison with its parent then reads no tree (4 MiB per
/// tree pack in flight).
pub struct StagedSink<'r>(Box<dyn Staged + 'r>, TreeCopy);

/// The bytes of a tree pack being uploaded, when the tree cache keeps them.
type TreeCopy = Option<Vec<u8>>;

impl PackSink for StagedSink<'_> {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        if let Some(copy) = &mut self.1 {
            copy.extend_from_slice(data);
        }
        Ok(self.0.write(data)?)
    }
}

thread_local! {
    /// Each sealing thread's reusable output buffer.
    static SEAL_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl<'r> BlobWriter<'r> {
    pub fn new(repo: &'r Repository) -> Self {
        BlobWriter {
            repo,
            data: Mutex::new(None),
            tree: Mutex::new(None),
            pending: Mutex::new(HashSet::new()),
            in_flight: Mutex::new(VecDeque::new()),
            unindexed: Mutex::new(Vec::new()),
            relied: Mutex::new(HashSet::new()),
            stats: Mutex::new(WriteStats::default()),
            indexed_bytes: AtomicU64::new(0),
            stop: &NoProgress,
        }
    }

    /// Makes every later [`BlobWriter::is_known`] and
    /// [`BlobWriter::add_if_new`] fail with [`Error::Interrupted`] once
    /// `progress` is cancelled: the write path is where a backup spends its
    /// time, so it is where it notices a stop request, per chunk and per
    /// directory. Then call [`BlobWriter::abandon`].
    pub fn stop_when(mut self, progress: &'r dyn Progress) -> Self {
        self.stop = progress;
        self
    }

    fn check_stop(&self) -> Result<()> {
        if self.stop.cancelled() {
            return Err(Error::Interrupted(
                "stopped before every blob was stored".into(),
            ));
        }
        Ok(())
    }

    /// Is the blob stored already, or being stored by this writer?
    pub fn is_known(&self, kind: BlobKind, id: &BlobId) -> Result<bool> {
        self.check_stop()?;
        if lock(&self.pending).contains(&(kind, *id)) {
            return Ok(true);
        }
        self.in_live_pack(kind, id)
    }

    /// Is the blob in a live pack? Records the pack as relied on.
    fn in_live_pack(&self, kind: BlobKind, id: &BlobId) -> Result<bool> {
        let pack = self.repo.cache().live_pack(kind, id)?;
        if let Some(pack) = pack {
            lock(&self.relied).insert(pack);
        }
        Ok(pack.is_some())
    }

    /// Stores the blob unless it is known; returns whether it was new.
    /// Two threads adding the same id at once store it once.
    pub fn add_if_new(&self, kind: BlobKind, id: BlobId, plain: &[u8]) -> Result<bool> {
        self.check_stop()?;
        if self.in_live_pack(kind, &id)? || !lock(&self.pending).insert((kind, id)) {
            return Ok(false);
        }
        let level = self.repo.config().compression;
        let (slot, limit) = match kind {
            BlobKind::Data => (&self.data, self.repo.config().pack_size as usize),
            BlobKind::Tree => (&self.tree, TREE_PACK_SIZE),
        };
        let (stored, full) = SEAL_BUF.with(|cell| -> Result<_> {
            let mut sealed = cell.borrow_mut();
            pack::seal_blob_into(self.repo.keys(), kind, &id, plain, level, &mut sealed);
            let mut slot = lock(slot);
            let builder = match slot.as_mut() {
                Some(b) => b,
                None => slot.insert(PackBuilder::with_sink(
                    kind,
                    StagedSink(
                        self.repo.storage().stage()?,
                        (kind == BlobKind::Tree && self.repo.keeps_tree_packs()).then(Vec::new),
                    ),
                )),
            };
            builder.add(id, &sealed, plain.len() as u32)?;
            let full = if builder.len() >= limit {
                slot.take()
            } else {
                None
            };
            Ok((sealed.len() as u64, full))
        })?;
        {
            let mut s = lock(&self.stats);
            s.blobs_added += 1;
            match kind {
                BlobKind::Data => s.data_blobs_added += 1,
                BlobKind::Tree => s.tree_blobs_added += 1,
            }
            s.bytes_added += plain.len() as u64;
            s.bytes_stored += stored;
        }
        if let Some(full) = full {
            self.upload(full)?;
        }
        Ok(true)
    }

    /// Finishes a pack and starts storing it; see [`BlobWriter::settle`].
    fn upload(&self, builder: Pack<'r>) -> Result<()> {
        if builder.is_empty() {
            return Ok(());
        }
        let (StagedSink(staged, copy), entry) = builder.finish(self.repo.keys())?;
        let pending = staged.commit_background(&layout::pack(&entry.id))?;
        lock(&self.in_flight).push_back((pending, entry, copy));
        self.settle(false)
    }

    /// Queues packs whose upload is confirmed for the next index file (and
    /// writes it when full); with `all`, first waits for every upload. A
    /// failed upload fails the writer: its pack is never indexed.
    fn settle(&self, all: bool) -> Result<()> {
        loop {
            let mut done = Vec::new();
            let mut wait = None;
            {
                let mut q = lock(&self.in_flight);
                let mut i = 0;
                while i < q.len() {
                    match q[i].0.try_finish() {
                        Some(result) => {
                            let (_, entry, copy) = q.remove(i).expect("index is in bounds");
                            done.push((result, entry, copy));
                        }
                        None => i += 1,
                    }
                }
                if all && done.is_empty() {
                    wait = q.pop_front();
                }
            }
            if let Some((pending, entry, copy)) = wait {
                done.push((pending.wait(), entry, copy));
            }
            if done.is_empty() {
                return Ok(());
            }
            // Confirmed packs are indexed even when another upload failed.
            let mut failed = None;
            for (result, entry, copy) in done {
                if let Err(e) = result {
                    failed.get_or_insert(e);
                    continue;
                }
                if let Some(bytes) = copy {
                    self.repo.keep_tree_pack(&entry.id, &bytes);
                }
                lock(&self.stats).packs_added += 1;
                lock(&self.relied).insert(entry.id);
                let batch = {
                    let mut q = lock(&self.unindexed);
                    q.push(entry);
                    (q.len() >= PACKS_PER_INDEX).then(|| std::mem::take(&mut *q))
                };
                if let Some(batch) = batch {
                    self.write_index(batch)?;
                }
            }
            if let Some(e) = failed {
                return Err(e.into());
            }
            if !all {
                return Ok(());
            }
        }
    }

    fn write_index(&self, packs: Vec<PackEntry>) -> Result<()> {
        if packs.is_empty() {
            return Ok(());
        }
        let done: Vec<(BlobKind, BlobId)> = packs
            .iter()
            .flat_map(|p| p.blobs.iter().map(move |b| (p.kind, b.id)))
            .collect();
        let size: u64 = packs.iter().map(|p| p.size).sum();
        self.repo.save_index_file(IndexFile {
            packs,
            ..Default::default()
        })?;
        lock(&self.stats).index_files_added += 1;
        self.indexed_bytes.fetch_add(size, Ordering::Relaxed);
        // The cache now answers for these; keep `pending` small.
        let mut pending = lock(&self.pending);
        for id in done {
            pending.remove(&id);
        }
        Ok(())
    }

    /// Stores the partial packs and writes the last index file. Only after
    /// this returns may a snapshot reference the blobs added.
    pub fn finish(self) -> Result<WriteStats> {
        self.finish_relied().map(|(stats, _)| stats)
    }

    /// [`BlobWriter::finish`], also returning every pack the blobs asked
    /// for are in: the packs this writer stored and the live packs it
    /// deduplicated against.
    pub fn finish_relied(self) -> Result<(WriteStats, HashSet<PackId>)> {
        for slot in [&self.data, &self.tree] {
            let pack = lock(slot).take();
            if let Some(pack) = pack {
                self.upload(pack)?;
            }
        }
        self.settle(true)?;
        let rest = std::mem::take(&mut *lock(&self.unindexed));
        self.write_index(rest)?;
        let relied = std::mem::take(&mut *lock(&self.relied));
        Ok((lock(&self.stats).clone(), relied))
    }

    /// Gives up on an interrupted run: discards the packs being filled
    /// (their staged bytes and temporary files with them), waits for the
    /// uploads already started and indexes them, so the next backup reuses
    /// them. Returns the bytes of all packs this writer indexed.
    pub fn abandon(self) -> Result<u64> {
        for slot in [&self.data, &self.tree] {
            drop(lock(slot).take());
        }
        self.settle(true)?;
        let rest = std::mem::take(&mut *lock(&self.unindexed));
        self.write_index(rest)?;
        Ok(self.indexed_bytes.load(Ordering::Relaxed))
    }

    /// Statistics so far.
    pub fn stats(&self) -> WriteStats {
        lock(&self.stats).clone()
    }
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;

/// Locks a mutex; a poisoned one is still consistent here because every
/// critical section only pushes, swaps or counts.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
