//! The write path: seal blobs, gather them into packs, upload full packs,
//! and write index files naming only packs whose upload was confirmed.
//!
//! Callers on many threads call [`BlobWriter::add_if_new`]; sealing (zstd and
//! XChaCha20-Poly1305) runs on the calling thread, so it scales with the
//! caller's parallelism, and a full pack is uploaded by the thread that
//! filled it, which bounds the packs in flight to the number of writers.

use std::collections::HashSet;
use std::sync::Mutex;

use bytes::Bytes;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::format::index::{BlobKind, IndexFile, PackEntry};
use crate::format::layout;
use crate::format::pack::{self, PackBuilder};
use crate::ids::BlobId;
use crate::repo::Repository;

/// Packs named in one index file at most, so a crash loses little index
/// work and the next backup can deduplicate against what was uploaded.
const PACKS_PER_INDEX: usize = 8;
/// Tree packs are flushed at this size: trees are small and read often.
const TREE_PACK_SIZE: usize = 4 * 1024 * 1024;

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
    data: Mutex<PackBuilder>,
    tree: Mutex<PackBuilder>,
    /// Blobs sealed in this session but not yet in an index file.
    pending: Mutex<HashSet<(BlobKind, BlobId)>>,
    /// Uploaded packs waiting for an index file.
    unindexed: Mutex<Vec<PackEntry>>,
    stats: Mutex<WriteStats>,
    /// Buffers of uploaded packs, reused for the next ones: allocating a
    /// fresh 16 MiB buffer per pack leaves freed ones stranded in malloc's
    /// arenas and doubles peak memory.
    spare: Mutex<Vec<Vec<u8>>>,
}

/// Packs whose buffers are kept for reuse: one filling, one uploading.
const SPARE_BUFFERS: usize = 2;

thread_local! {
    /// Each sealing thread's reusable output buffer.
    static SEAL_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl<'r> BlobWriter<'r> {
    pub fn new(repo: &'r Repository) -> Self {
        let size = repo.config().pack_size as usize;
        BlobWriter {
            repo,
            data: Mutex::new(PackBuilder::new(BlobKind::Data, size + size / 8)),
            tree: Mutex::new(PackBuilder::new(BlobKind::Tree, TREE_PACK_SIZE)),
            pending: Mutex::new(HashSet::new()),
            unindexed: Mutex::new(Vec::new()),
            stats: Mutex::new(WriteStats::default()),
            spare: Mutex::new(Vec::new()),
        }
    }

    /// Is the blob stored already, or being stored by this writer?
    pub fn is_known(&self, kind: BlobKind, id: &BlobId) -> Result<bool> {
        if lock(&self.pending).contains(&(kind, *id)) {
            return Ok(true);
        }
        self.repo.cache().contains(kind, id)
    }

    /// Stores the blob unless it is known; returns whether it was new.
    /// Two threads adding the same id at once store it once.
    pub fn add_if_new(&self, kind: BlobKind, id: BlobId, plain: &[u8]) -> Result<bool> {
        if self.repo.cache().contains(kind, &id)? || !lock(&self.pending).insert((kind, id)) {
            return Ok(false);
        }
        let level = self.repo.config().compression;
        let (builder, limit) = match kind {
            BlobKind::Data => (&self.data, self.repo.config().pack_size as usize),
            BlobKind::Tree => (&self.tree, TREE_PACK_SIZE),
        };
        let (stored, full) = SEAL_BUF.with(|cell| {
            let mut sealed = cell.borrow_mut();
            pack::seal_blob_into(self.repo.keys(), kind, &id, plain, level, &mut sealed);
            let mut b = lock(builder);
            b.add(id, &sealed, plain.len() as u32);
            let full = (b.len() >= limit).then(|| {
                let next = PackBuilder::with_buffer(kind, self.spare_buffer(limit));
                std::mem::replace(&mut *b, next)
            });
            (sealed.len() as u64, full)
        });
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

    /// Finishes a pack, uploads it, and queues it for the next index file.
    fn upload(&self, builder: PackBuilder) -> Result<()> {
        if builder.is_empty() {
            return Ok(());
        }
        let (bytes, entry) = builder.finish(self.repo.keys());
        if bytes.len() as u64 > pack::MAX_PACK_SIZE {
            return Err(Error::Internal("pack exceeds 4 GiB".into()));
        }
        let bytes = Bytes::from(bytes);
        self.repo
            .storage()
            .put(&layout::pack(&entry.id), bytes.clone())?;
        // Storage keeps no reference once put returns (unless it is an
        // in-memory store), so the buffer can usually be reused.
        if let Ok(buf) = bytes.try_into_mut() {
            let mut spare = lock(&self.spare);
            if spare.len() < SPARE_BUFFERS {
                spare.push(Vec::from(buf));
            }
        }
        lock(&self.stats).packs_added += 1;
        let batch = {
            let mut q = lock(&self.unindexed);
            q.push(entry);
            (q.len() >= PACKS_PER_INDEX).then(|| std::mem::take(&mut *q))
        };
        match batch {
            Some(batch) => self.write_index(batch),
            None => Ok(()),
        }
    }

    /// A buffer for the next pack: a reused one, or a new one with room for
    /// a full pack plus one more blob and the header.
    fn spare_buffer(&self, limit: usize) -> Vec<u8> {
        lock(&self.spare)
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(limit + limit / 8))
    }

    fn write_index(&self, packs: Vec<PackEntry>) -> Result<()> {
        if packs.is_empty() {
            return Ok(());
        }
        let done: Vec<(BlobKind, BlobId)> = packs
            .iter()
            .flat_map(|p| p.blobs.iter().map(move |b| (p.kind, b.id)))
            .collect();
        self.repo.save_index_file(IndexFile {
            supersedes: Vec::new(),
            packs,
        })?;
        lock(&self.stats).index_files_added += 1;
        // The cache now answers for these; keep `pending` small.
        let mut pending = lock(&self.pending);
        for id in done {
            pending.remove(&id);
        }
        Ok(())
    }

    /// Uploads the partial packs and writes the last index file. Only after
    /// this returns may a snapshot reference the blobs added.
    pub fn finish(self) -> Result<WriteStats> {
        let data = std::mem::replace(&mut *lock(&self.data), PackBuilder::new(BlobKind::Data, 0));
        self.upload(data)?;
        let tree = std::mem::replace(&mut *lock(&self.tree), PackBuilder::new(BlobKind::Tree, 0));
        self.upload(tree)?;
        let rest = std::mem::take(&mut *lock(&self.unindexed));
        self.write_index(rest)?;
        Ok(lock(&self.stats).clone())
    }

    /// Statistics so far.
    pub fn stats(&self) -> WriteStats {
        lock(&self.stats).clone()
    }
}

/// Locks a mutex; a poisoned one is still consistent here because every
/// critical section only pushes, swaps or counts.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
