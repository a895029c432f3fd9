//! Writing packs of blobs copied out of other packs (prune's repack). Unlike
//! [`crate::repo::BlobWriter`] it never asks the index whether a blob is
//! known (the copies are there precisely because their old packs are going
//! away), and it writes no index files: prune names the new packs in the
//! index that replaces the old one.

use bytes::Bytes;

use crate::error::Result;
use crate::format::index::{BlobKind, PackEntry};
use crate::format::layout;
use crate::format::pack::{self, PackBuilder};
use crate::ids::BlobId;
use crate::repo::Repository;

/// Tree packs close at this size, as in the backup writer.
const TREE_PACK_SIZE: usize = 4 * 1024 * 1024;

/// Gathers copied blobs into new packs and stores each full pack at once.
pub struct Repacker<'r> {
    repo: &'r Repository,
    data: Option<PackBuilder>,
    tree: Option<PackBuilder>,
    written: Vec<PackEntry>,
    sealed: Vec<u8>,
    /// Bytes of packs stored so far.
    pub bytes_written: u64,
}

impl<'r> Repacker<'r> {
    pub fn new(repo: &'r Repository) -> Self {
        Repacker {
            repo,
            data: None,
            tree: None,
            written: Vec::new(),
            sealed: Vec::new(),
            bytes_written: 0,
        }
    }

    /// Seals `plain` (already verified against `id` by the reader) into the
    /// current pack of its kind; stores the pack when it is full.
    pub fn add(&mut self, kind: BlobKind, id: BlobId, plain: &[u8]) -> Result<()> {
        let level = self.repo.config().compression;
        pack::seal_blob_into(self.repo.keys(), kind, &id, plain, level, &mut self.sealed);
        let limit = match kind {
            BlobKind::Data => self.repo.config().pack_size as usize,
            BlobKind::Tree => TREE_PACK_SIZE,
        };
        let slot = match kind {
            BlobKind::Data => &mut self.data,
            BlobKind::Tree => &mut self.tree,
        };
        let builder = slot.get_or_insert_with(|| PackBuilder::new(kind, limit + limit / 8));
        builder.add(id, &self.sealed, plain.len() as u32)?;
        if builder.len() >= limit {
            if let Some(full) = slot.take() {
                self.store(full)?;
            }
        }
        Ok(())
    }

    fn store(&mut self, builder: PackBuilder) -> Result<()> {
        if builder.is_empty() {
            return Ok(());
        }
        let (bytes, entry) = builder.finish(self.repo.keys())?;
        self.bytes_written += bytes.len() as u64;
        self.repo
            .storage()
            .put(&layout::pack(&entry.id), Bytes::from(bytes))?;
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
        Ok((self.written, self.bytes_written))
    }
}
