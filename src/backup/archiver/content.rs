//! Reading a file's content into chunks: content-defined for files, fixed
//! and page-aligned for database snapshots (10-chunking.md); or not reading
//! it, when the parent snapshot has it unchanged.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::Archiver;
use crate::chunker::chunk_fixed;
use crate::error::Result;
use crate::format::index::BlobKind;
use crate::format::tree::NodeKind;
use crate::ids::{BlobId, ChunkId};
use crate::source::content as src_content;
use crate::source::Entry;

impl Archiver<'_, '_> {
    /// The parent's node when the file is unchanged and all its chunks are
    /// still known: recorded again without reading.
    pub(super) fn reuse_unchanged(
        &mut self,
        e: &Entry,
        size: u64,
        wanted: bool,
    ) -> Result<Option<NodeKind>> {
        // A version-1 repository records databases as plain files, so a
        // commit that only reached the `-wal` shows in nothing but the -wal.
        let v1 = self.repo.config().version < 2;
        let Some(kind) = self.parent.unchanged_file(
            &e.name,
            &e.meta,
            size,
            wanted,
            || src_content::wal_stamp(&e.path),
            || !(wanted && v1 && src_content::wal_stamp(&e.path).is_some()),
        ) else {
            return Ok(None);
        };
        let kind = kind.clone();
        let (_, content) = kind.file_content().unwrap_or_default();
        Ok(self.all_known(content)?.then_some(kind))
    }

    /// Chunks a file: the bytes [`crate::backup::open::read_small`] read, or
    /// streamed.
    pub(super) fn content(
        &mut self,
        file: Option<&File>,
        head: Option<Vec<u8>>,
    ) -> Result<(u64, Vec<ChunkId>)> {
        match (head, file) {
            (Some(data), _) => {
                self.summary.bytes_read += data.len() as u64;
                self.progress.bytes(data.len() as u64);
                self.chunk_buffer(data)
            }
            (None, Some(mut file)) => self.stream_content(&mut file),
            (None, None) => Err(crate::Error::Internal("no file to stream".into())),
        }
    }

    /// Chunks a buffer that holds a whole file; a single-chunk file is
    /// handed to the workers without a copy.
    fn chunk_buffer(&mut self, data: Vec<u8>) -> Result<(u64, Vec<ChunkId>)> {
        let len = data.len() as u64;
        let cuts: Vec<std::ops::Range<usize>> = self.chunker.cuts(&data).collect();
        let mut content = Vec::with_capacity(cuts.len());
        if cuts.len() == 1 {
            let id = BlobId(self.repo.keys().blob_id(&data));
            content.push(ChunkId(id.0));
            self.store(BlobKind::Data, id, data)?;
        } else {
            for r in cuts {
                let chunk = &data[r];
                let id = BlobId(self.repo.keys().blob_id(chunk));
                content.push(ChunkId(id.0));
                self.store(BlobKind::Data, id, chunk.to_vec())?;
            }
        }
        Ok((len, content))
    }

    pub(super) fn stream_content(&mut self, reader: &mut dyn Read) -> Result<(u64, Vec<ChunkId>)> {
        let mut content = Vec::new();
        let mut buf = std::mem::take(&mut self.buf);
        let chunker = self.chunker;
        let result =
            chunker.chunk_reader(reader, &mut buf, |chunk| self.chunk(chunk, &mut content));
        self.buf = buf;
        Ok((result?, content))
    }

    /// One chunk of a file's content: named, counted, stored unless known.
    fn chunk(&mut self, chunk: &[u8], content: &mut Vec<ChunkId>) -> Result<()> {
        let id = BlobId(self.repo.keys().blob_id(chunk));
        content.push(ChunkId(id.0));
        self.summary.bytes_read += chunk.len() as u64;
        self.progress.bytes(chunk.len() as u64);
        self.store(BlobKind::Data, id, chunk.to_vec())
    }

    /// Cuts a stream into chunks of exactly `chunk_size` bytes (the last
    /// may be shorter): a database snapshot, whose pages then map to the
    /// same chunks from one snapshot to the next.
    pub(super) fn fixed_content(
        &mut self,
        reader: &mut dyn Read,
        path: &Path,
        chunk_size: u32,
    ) -> Result<(u64, Vec<ChunkId>)> {
        let mut content = Vec::new();
        let mut buf = std::mem::take(&mut self.buf);
        let result = chunk_fixed(reader, path, chunk_size as usize, &mut buf, |chunk| {
            self.chunk(chunk, &mut content)
        });
        self.buf = buf;
        Ok((result?, content))
    }
}
