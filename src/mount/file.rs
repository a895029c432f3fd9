//! Random access into one backed-up file. A file node lists its chunk ids;
//! the index gives each chunk's plaintext length, so an open file keeps
//! cumulative offsets and a read binary-searches them and fetches only the
//! chunks that cover the range. Sequential reads start read-ahead of the
//! next chunks on a small thread pool.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::index::BlobKind;
use crate::ids::{BlobId, ChunkId};
use crate::mount::cache::ChunkCache;
use crate::repo::Repository;

/// What every open file shares: the repository, the chunk cache and the
/// read-ahead pool.
pub struct Shared {
    pub repo: Arc<Repository>,
    pub cache: Arc<ChunkCache>,
    /// `None` turns read-ahead off.
    pub pool: Option<rayon::ThreadPool>,
    /// How far ahead of a sequential reader to fetch, in bytes.
    pub readahead: u64,
}

/// Read-ahead fetches are handed to the pool in batches of about this many
/// bytes, so several chunks decrypt in parallel and each batch still reads a
/// run of neighbouring blobs with one request.
const PREFETCH_BATCH: u64 = 2 * 1024 * 1024;

/// A read starting this close to where the previous one ended counts as
/// sequential.
const NEAR: u64 = 1024 * 1024;

/// One open regular file.
pub struct FileReader {
    chunks: Vec<ChunkId>,
    /// `starts[i]` is the offset of chunk `i`; the last element is the size.
    starts: Vec<u64>,
    /// Where the next read starts if the reader is sequential.
    next_offset: AtomicU64,
    /// Chunks before this index have been handed to read-ahead already.
    prefetched: AtomicUsize,
}

impl FileReader {
    /// Looks up every chunk's length. A file whose chunks do not add up to
    /// its recorded size is damaged.
    pub fn open(repo: &Repository, size: u64, content: &[ChunkId]) -> Result<Self> {
        let mut starts = Vec::with_capacity(content.len() + 1);
        let mut pos = 0u64;
        for id in content {
            starts.push(pos);
            let loc = repo
                .locate(BlobKind::Data, &BlobId::from(*id))?
                .ok_or_else(|| Error::corrupt("file", format!("chunk {id} is in no index")))?;
            pos += loc.raw_length as u64;
        }
        starts.push(pos);
        if pos != size {
            return Err(Error::corrupt(
                "file",
                format!("chunks add up to {pos} bytes, the node says {size}"),
            ));
        }
        Ok(FileReader {
            chunks: content.to_vec(),
            starts,
            next_offset: AtomicU64::new(0),
            prefetched: AtomicUsize::new(0),
        })
    }

    pub fn size(&self) -> u64 {
        self.starts.last().copied().unwrap_or(0)
    }

    /// The index of the chunk holding byte `offset` (< size).
    fn chunk_at(&self, offset: u64) -> usize {
        self.starts.partition_point(|&s| s <= offset) - 1
    }

    /// Up to `len` bytes from `offset`; short only at the end of the file.
    pub fn read(self: &Arc<Self>, shared: &Arc<Shared>, offset: u64, len: u32) -> Result<Vec<u8>> {
        let size = self.size();
        if offset >= size || len == 0 {
            return Ok(Vec::new());
        }
        let end = size.min(offset + len as u64);
        let first = self.chunk_at(offset);
        // The kernel sends a sequential reader's requests in parallel, so
        // they arrive a little out of order: near the last one is enough.
        let last = self.next_offset.swap(end, Ordering::Relaxed);
        let sequential = offset.abs_diff(last) <= NEAR;
        if !sequential {
            // A seek: read-ahead starts over from the new place.
            self.prefetched.store(first + 1, Ordering::Relaxed);
        } else if shared.pool.is_some() && shared.readahead > 0 {
            self.read_ahead(shared, first, end);
        }
        let mut out = Vec::with_capacity((end - offset) as usize);
        let mut i = first;
        while (out.len() as u64) < end - offset {
            let plain = shared.cache.get(&shared.repo, self.chunks[i])?;
            let (start, stop) = (self.starts[i], self.starts[i + 1]);
            if plain.len() as u64 != stop - start {
                return Err(Error::corrupt(
                    "chunk",
                    format!("{} is not the length the index says", self.chunks[i]),
                ));
            }
            let from = (offset.max(start) - start) as usize;
            let to = (end.min(stop) - start) as usize;
            out.extend_from_slice(&plain[from..to]);
            i += 1;
        }
        Ok(out)
    }

    /// Hands the chunks after the one being read, up to the read-ahead
    /// window, to the pool; each chunk at most once per sequential pass.
    fn read_ahead(self: &Arc<Self>, shared: &Arc<Shared>, current: usize, end: u64) {
        let Some(pool) = &shared.pool else { return };
        let window_end = end.saturating_add(shared.readahead).min(self.size());
        let last = if window_end == 0 {
            0
        } else {
            self.chunk_at(window_end - 1) + 1
        };
        let seen = self.prefetched.load(Ordering::Relaxed);
        let from = seen.max(current + 1);
        if from >= last {
            return;
        }
        // Of two readers of one handle racing here, one moves the mark and
        // schedules; the other skips (claims would deduplicate anyway).
        if self
            .prefetched
            .compare_exchange(seen, last, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let mut batch_start = from;
        while batch_start < last {
            let mut batch_end = batch_start + 1;
            while batch_end < last
                && self.starts[batch_end + 1] - self.starts[batch_start] <= PREFETCH_BATCH
            {
                batch_end += 1;
            }
            let (me, sh) = (self.clone(), shared.clone());
            let range = batch_start..batch_end;
            pool.spawn(move || {
                let claim = sh.cache.claim(&me.chunks[range]);
                if !claim.is_empty() {
                    sh.cache.prefetch(&sh.repo, claim);
                }
            });
            batch_start = batch_end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KdfParams;
    use crate::repo::{BlobWriter, InitOptions, OpenOptions};
    use crate::storage::memory::MemoryStorage;
    use crate::storage::stats::{StatsHandle, StatsStorage};

    /// A repository holding a file of `n` distinct chunks of `len` bytes.
    fn setup(
        dir: &std::path::Path,
        n: usize,
        len: usize,
    ) -> (Arc<Repository>, Vec<ChunkId>, Vec<u8>, StatsHandle) {
        let storage = Arc::new(StatsStorage::new(MemoryStorage::new()));
        let stats = storage.handle();
        let init = InitOptions {
            kdf: Some(KdfParams::insecure_for_tests()),
            ..Default::default()
        };
        let open = OpenOptions {
            cache_dir: Some(dir.to_path_buf()),
            ..Default::default()
        };
        let repo = Repository::init(storage, b"pw", init, open).unwrap();
        let mut ids = Vec::new();
        let mut all = Vec::new();
        let w = BlobWriter::new(&repo);
        for i in 0..n {
            let data: Vec<u8> = (0..len).map(|j| (i * 7 + j * 13 % 251) as u8).collect();
            let id = ChunkId(repo.keys().blob_id(&data));
            w.add_if_new(BlobKind::Data, BlobId::from(id), &data)
                .unwrap();
            ids.push(id);
            all.extend_from_slice(&data);
        }
        w.finish().unwrap();
        (Arc::new(repo), ids, all, stats)
    }

    fn shared(repo: &Arc<Repository>, pool: bool) -> Arc<Shared> {
        Arc::new(Shared {
            repo: repo.clone(),
            cache: Arc::new(ChunkCache::new(1 << 30)),
            pool: pool.then(|| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(2)
                    .build()
                    .unwrap()
            }),
            readahead: 3 * 1000,
        })
    }

    #[test]
    fn reads_fetch_only_the_chunks_that_cover_the_range() {
        let dir = tempfile::tempdir().unwrap();
        let (repo, ids, all, stats) = setup(dir.path(), 50, 1000);
        let sh = shared(&repo, false);
        let f = Arc::new(FileReader::open(&repo, all.len() as u64, &ids).unwrap());
        let before = stats.snapshot().gets;
        // Inside chunk 37 only.
        assert_eq!(f.read(&sh, 37_100, 200).unwrap(), &all[37_100..37_300]);
        assert_eq!(stats.snapshot().gets - before, 1);
        assert_eq!(sh.cache.fetched(), 1);
        // Across chunks 10..=12: three fetches, then served from the cache.
        assert_eq!(f.read(&sh, 10_999, 1002).unwrap(), &all[10_999..12_001]);
        assert_eq!(sh.cache.fetched(), 4);
        assert_eq!(f.read(&sh, 11_000, 1000).unwrap(), &all[11_000..12_000]);
        assert_eq!(sh.cache.fetched(), 4);
        // The end of the file is short; past it is empty.
        assert_eq!(f.read(&sh, 49_900, 4096).unwrap(), &all[49_900..]);
        assert!(f.read(&sh, 50_000, 10).unwrap().is_empty());
        assert!(f.read(&sh, 1 << 40, 10).unwrap().is_empty());
    }

    #[test]
    fn sequential_reads_prefetch_ahead_and_return_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (repo, ids, all, _) = setup(dir.path(), 40, 1000);
        let sh = shared(&repo, true);
        let f = Arc::new(FileReader::open(&repo, all.len() as u64, &ids).unwrap());
        let mut got = Vec::new();
        while got.len() < all.len() {
            got.extend(f.read(&sh, got.len() as u64, 700).unwrap());
        }
        assert!(got == all);
        // Every chunk fetched once, whether by the reader or ahead of it.
        assert_eq!(sh.cache.fetched(), 40);
    }

    #[test]
    fn a_size_that_does_not_match_the_chunks_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let (repo, ids, all, _) = setup(dir.path(), 3, 100);
        let err = FileReader::open(&repo, all.len() as u64 + 1, &ids)
            .err()
            .unwrap();
        assert_eq!(err.kind(), crate::ErrorKind::Corrupt);
        let missing = [ChunkId([9; 32])];
        assert!(FileReader::open(&repo, 0, &missing).is_err());
    }
}
