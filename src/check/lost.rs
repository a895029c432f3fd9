//! The set of blobs a check found lost or unreadable. It holds only damage,
//! so it stays small however large the repository; everything else is
//! looked up in the index cache on demand.

use std::collections::HashSet;

use crate::error::Result;
use crate::format::index::{BlobKind, PackEntry};
use crate::ids::{BlobId, ChunkId, TreeId};
use crate::repo::Repository;

/// Blobs known lost, by kind (a blob's identity is its kind and id).
#[derive(Debug, Default, Clone)]
pub struct LostBlobs {
    set: HashSet<(BlobKind, BlobId)>,
}

impl LostBlobs {
    pub fn add(&mut self, kind: BlobKind, id: BlobId) {
        self.set.insert((kind, id));
    }

    /// Marks the blobs of `entry` that do not lie wholly within the first
    /// `present` bytes of the pack (0: the pack is gone).
    pub fn add_pack(&mut self, entry: &PackEntry, present: u64) {
        for b in &entry.blobs {
            if b.offset as u64 + b.length as u64 > present {
                self.add(entry.kind, b.id);
            }
        }
    }

    /// Adds every blob `other` holds.
    pub fn merge(&mut self, other: LostBlobs) {
        self.set.extend(other.set);
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether a chunk can no longer be read: found lost, or in no index.
    pub fn chunk_lost(&self, repo: &Repository, c: &ChunkId) -> Result<bool> {
        let id = BlobId::from(*c);
        Ok(self.set.contains(&(BlobKind::Data, id)) || repo.locate(BlobKind::Data, &id)?.is_none())
    }

    /// Whether the chunk is already in the set (so it is reported once).
    pub(crate) fn chunk_known_lost(&self, c: &ChunkId) -> bool {
        self.set.contains(&(BlobKind::Data, BlobId::from(*c)))
    }

    /// Whether a tree is known lost (a tree that fails to load is lost too;
    /// callers find that out by loading it).
    pub fn tree_lost(&self, t: &TreeId) -> bool {
        self.set.contains(&(BlobKind::Tree, BlobId::from(*t)))
    }
}
