//! The read path: look a blob up in the index, fetch just its bytes with a
//! ranged read, open the envelope, and check the keyed id of the plaintext.

use crate::error::{Error, Result};
use crate::format::index::{BlobEntry, BlobKind};
use crate::format::layout;
use crate::format::pack;
use crate::format::tree::Tree;
use crate::ids::{BlobId, PackId, TreeId};
use crate::repo::{BlobLocation, Repository};

/// One blob to read from a pack, and where it sits.
#[derive(Debug, Clone, Copy)]
pub struct PackRead {
    pub id: BlobId,
    pub offset: u32,
    pub length: u32,
    pub raw_length: u32,
}

/// Ranges closer than this are fetched with one read: a request costs more
/// than a few hundred KiB of transfer.
const MERGE_GAP: u64 = 256 * 1024;
/// Merged reads stop growing here (a single larger blob is still read
/// whole), so parallel readers hold a few MiB each, not whole packs.
pub(crate) const MAX_MERGED_READ: u64 = 4 * 1024 * 1024;

/// Does the blob at `offset..blob_end` join the read of `start..end` (one
/// request), or start a new one? The rule [`Repository::read_pack_blobs`]
/// reads by, and the restore cuts its work by.
pub(crate) fn joins_read(start: u64, end: u64, offset: u64, blob_end: u64) -> bool {
    offset <= end + MERGE_GAP && blob_end - start <= MAX_MERGED_READ
}

impl Repository {
    /// Where a blob lives, if the index knows it.
    pub fn locate(&self, kind: BlobKind, id: &BlobId) -> Result<Option<BlobLocation>> {
        self.cache().lookup(kind, id)
    }

    /// Reads, opens and verifies one blob.
    pub fn read_blob(&self, kind: BlobKind, id: &BlobId) -> Result<Vec<u8>> {
        self.read_blob_via(kind, id, self.local_copies_allowed())
    }

    /// Reads, opens and verifies one blob from the repository itself, never
    /// from the local tree cache: for commands that verify the repository.
    pub fn read_blob_from_repository(&self, kind: BlobKind, id: &BlobId) -> Result<Vec<u8>> {
        self.read_blob_via(kind, id, false)
    }

    fn read_blob_via(&self, kind: BlobKind, id: &BlobId, disk_ok: bool) -> Result<Vec<u8>> {
        let loc = self
            .locate(kind, id)?
            .ok_or_else(|| Error::corrupt("repository", format!("blob {id} is in no index")))?;
        let key = layout::pack(&loc.pack);
        let end = loc.offset as u64 + loc.length as u64;
        let fetched = if loc.kind == BlobKind::Tree {
            self.tree_sealed(&key, &loc, disk_ok)
        } else {
            self.storage()
                .get_range(&key, loc.offset as u64, loc.length as u64)
                .map(|b| (b, false))
        };
        let (sealed, cached) = match fetched {
            Ok(s) => s,
            Err(e) if e.is_not_found() => {
                return Err(Error::corrupt("pack", format!("{} is missing", loc.pack)))
            }
            Err(e) => return Err(self.classify_read_error(&key, end, &e)),
        };
        match self.open_blob(loc.kind, &entry(id, &loc), &sealed) {
            // Damage in the local cache is not the repository's: drop the
            // block and read it again from the repository.
            Err(_) if cached => {
                self.drop_tree_block(&loc);
                self.read_blob_via(kind, id, false)
            }
            opened => opened,
        }
    }

    /// Opens a sealed blob read from a pack and checks its id.
    pub fn open_blob(&self, kind: BlobKind, e: &BlobEntry, sealed: &[u8]) -> Result<Vec<u8>> {
        let plain = pack::open_blob(self.keys(), kind, e, sealed)?;
        if self.keys().blob_id(&plain) != e.id.0 {
            return Err(Error::corrupt(
                "blob",
                format!("{} does not match its content", e.id),
            ));
        }
        Ok(plain)
    }

    /// Loads and decodes a tree.
    pub fn load_tree(&self, id: &TreeId) -> Result<Tree> {
        if let Some(t) = self
            .trees_ahead
            .take(id)
            .filter(|_| self.local_copies_allowed())
        {
            return Ok(t);
        }
        let bytes = self.read_blob(BlobKind::Tree, &BlobId::from(*id))?;
        Tree::decode(&bytes)
    }

    /// Loads and decodes a tree read from the repository, not from the
    /// local tree cache (`check` verifies what is stored).
    pub fn load_tree_from_repository(&self, id: &TreeId) -> Result<Tree> {
        let bytes = self.read_blob_from_repository(BlobKind::Tree, &BlobId::from(*id))?;
        Tree::decode(&bytes)
    }

    /// Reads several blobs of one pack with as few ranged reads as the gaps
    /// allow, calling `f` with each opened blob (or why it could not be
    /// read) in offset order, so one damaged blob costs only itself.
    pub fn read_pack_blobs(
        &self,
        pack: &PackId,
        kind: BlobKind,
        blobs: &mut [PackRead],
        mut f: impl FnMut(&PackRead, Result<Vec<u8>>) -> Result<()>,
    ) -> Result<()> {
        self.read_pack_blobs_sealed(pack, kind, blobs, |b, opened| {
            f(b, opened.map(|(_, plain)| plain))
        })
    }

    /// Like [`Repository::read_pack_blobs`], but each verified blob comes
    /// with its sealed bytes as stored, for callers that copy blobs between
    /// packs without sealing them again.
    pub fn read_pack_blobs_sealed(
        &self,
        pack: &PackId,
        kind: BlobKind,
        blobs: &mut [PackRead],
        mut f: impl FnMut(&PackRead, Result<(&[u8], Vec<u8>)>) -> Result<()>,
    ) -> Result<()> {
        blobs.sort_by_key(|b| b.offset);
        let key = layout::pack(pack);
        let mut i = 0;
        while i < blobs.len() {
            let start = blobs[i].offset as u64;
            let mut end = start + blobs[i].length as u64;
            let mut j = i + 1;
            while j < blobs.len() {
                let (offset, blob_end) = (
                    blobs[j].offset as u64,
                    blobs[j].offset as u64 + blobs[j].length as u64,
                );
                if !joins_read(start, end, offset, blob_end) {
                    break;
                }
                end = end.max(blob_end);
                j += 1;
            }
            let buf = self.storage().get_range(&key, start, end - start);
            for b in &blobs[i..j] {
                let from = (b.offset as u64 - start) as usize;
                let opened = match &buf {
                    Ok(buf) => match buf.get(from..from + b.length as usize) {
                        Some(sealed) => {
                            let e = BlobEntry {
                                id: b.id,
                                offset: b.offset,
                                length: b.length,
                                raw_length: b.raw_length,
                            };
                            self.open_blob(kind, &e, sealed)
                                .map(|plain| (sealed, plain))
                        }
                        None => Err(Error::corrupt(
                            "pack",
                            format!("{pack} shorter than its index says"),
                        )),
                    },
                    Err(e) if e.is_not_found() => {
                        Err(Error::corrupt("pack", format!("{pack} is missing")))
                    }
                    Err(e) => Err(self.classify_read_error(&key, end, e)),
                };
                f(b, opened)?;
            }
            i = j;
        }
        Ok(())
    }
}

impl Repository {
    /// A failed ranged read of a pack that is shorter than its index says is
    /// damage, not a storage fault: look at the object's real size to tell.
    fn classify_read_error(&self, key: &str, end: u64, e: &crate::storage::StorageError) -> Error {
        let size = self
            .storage()
            .list(key)
            .ok()
            .and_then(|l| l.into_iter().find(|o| o.key == key).map(|o| o.size));
        match size {
            Some(size) if size < end => Error::corrupt(
                "pack",
                format!("{key} is {size} bytes, shorter than its index says ({end})"),
            ),
            _ => Error::Storage(e.clone()),
        }
    }
}

fn entry(id: &BlobId, loc: &BlobLocation) -> BlobEntry {
    BlobEntry {
        id: *id,
        offset: loc.offset,
        length: loc.length,
        raw_length: loc.raw_length,
    }
}
