//! Writing packs of sealed blobs copied out of other packs (prune's repack). Unlike
//! [`crate::repo::BlobWriter`] it never asks the index whether a blob is
//! known (the copies are there precisely because their old packs are going
//! away), and it writes no index files: prune names the new packs in the
//! index that replaces the old one.

use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::format::index::{BlobKind, PackEntry};
use crate::format::layout;
use crate::format::pack::{PackBuilder, PackSink};
use crate::ids::BlobId;
use crate::repo::Repository;
use crate::storage::PackBuf;

/// Tree packs close at this size, as in the backup writer.
const TREE_PACK_SIZE: usize = 4 * 1024 * 1024;

/// Gathers copied blobs into new packs and stores each full pack in the
/// background.
pub struct Repacker<'r> {
    repo: &'r Repository,
    data: Option<PackBuilder<PackBuf>>,
    tree: Option<PackBuilder<PackBuf>>,
    written: Vec<PackEntry>,
    /// Bytes of packs stored so far.
    pub bytes_written: u64,
    store: Option<Storer>,
}

/// Packs are built in [`PackBuf`]s: built here, freed on the store thread.
impl PackSink for PackBuf {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        self.extend(data)
            .map_err(|e| Error::Internal(format!("cannot map memory for a pack: {e}")))
    }
}

/// Stores finished packs on a thread of its own, one at a time, so the
/// next pack is read and verified while the last one is written (and, on
/// local disk, synced). At most one pack waits in the queue.
struct Storer {
    queue: SyncSender<(String, Bytes)>,
    thread: JoinHandle<crate::storage::StorageResult<()>>,
}

impl Storer {
    fn start(repo: &Repository) -> Result<Storer> {
        let storage = repo.storage().clone();
        let (queue, packs) = sync_channel::<(String, Bytes)>(1);
        let thread = std::thread::Builder::new()
            .name("cairn-repack-store".into())
            .spawn(move || {
                for (key, bytes) in packs {
                    storage.put(&key, bytes)?;
                }
                Ok(())
            })
            .map_err(|e| Error::Internal(format!("cannot start the repack store thread: {e}")))?;
        Ok(Storer { queue, thread })
    }

    /// Waits for every queued pack; the first failure, if any.
    fn join(self) -> Result<()> {
        drop(self.queue);
        match self.thread.join() {
            Ok(result) => Ok(result?),
            Err(_) => Err(Error::Internal("the repack store thread panicked".into())),
        }
    }
}

impl<'r> Repacker<'r> {
    pub fn new(repo: &'r Repository) -> Self {
        Repacker {
            repo,
            data: None,
            tree: None,
            written: Vec::new(),
            bytes_written: 0,
            store: None,
        }
    }

    /// Adds a blob already sealed for `kind` and `id` (copied from another
    /// pack after the reader verified it).
    pub fn add_sealed(
        &mut self,
        kind: BlobKind,
        id: BlobId,
        sealed: &[u8],
        raw_length: u32,
    ) -> Result<()> {
        let limit = match kind {
            BlobKind::Data => self.repo.config().pack_size as usize,
            BlobKind::Tree => TREE_PACK_SIZE,
        };
        let slot = match kind {
            BlobKind::Data => &mut self.data,
            BlobKind::Tree => &mut self.tree,
        };
        let builder = slot.get_or_insert_with(|| PackBuilder::with_sink(kind, PackBuf::default()));
        builder.add(id, sealed, raw_length)?;
        if builder.len() >= limit {
            if let Some(full) = slot.take() {
                self.store(full)?;
            }
        }
        Ok(())
    }

    fn store(&mut self, builder: PackBuilder<PackBuf>) -> Result<()> {
        if builder.is_empty() {
            return Ok(());
        }
        let (bytes, entry) = builder.finish(self.repo.keys())?;
        self.bytes_written += bytes.len() as u64;
        let store = match self.store.take() {
            Some(s) => s,
            None => Storer::start(self.repo)?,
        };
        let key = layout::pack(&entry.id);
        if store.queue.send((key, bytes.freeze())).is_err() {
            // The thread stopped at a failed store: that is the error.
            store.join()?;
            return Err(Error::Internal("the repack store thread stopped".into()));
        }
        self.store = Some(store);
        // Listed now, but returned by `finish` only once stored.
        self.written.push(entry);
        Ok(())
    }

    /// Stores the partial packs; returns every pack written, all stored.
    pub fn finish(mut self) -> Result<(Vec<PackEntry>, u64)> {
        for kind in [BlobKind::Data, BlobKind::Tree] {
            let slot = match kind {
                BlobKind::Data => self.data.take(),
                BlobKind::Tree => self.tree.take(),
            };
            if let Some(b) = slot {
                self.store(b)?;
            }
        }
        if let Some(store) = self.store.take() {
            store.join()?;
        }
        Ok((self.written, self.bytes_written))
    }
}
