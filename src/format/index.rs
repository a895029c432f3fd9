//! Index files: which blob lives in which pack, at which offset and length.
//! Written after the packs they describe, before any snapshot that needs them.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{BlobId, IndexId, PackId};

/// The two kinds of blob, kept in separate packs so trees stay cheap to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BlobKind {
    Data,
    Tree,
}

/// One blob's place in its pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobEntry {
    pub id: BlobId,
    /// Byte offset of the sealed blob in the pack.
    pub offset: u32,
    /// Length of the sealed blob as stored.
    pub length: u32,
    /// Length of the plaintext (before compression and sealing).
    pub raw_length: u32,
}

/// One pack and everything in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackEntry {
    pub id: PackId,
    pub kind: BlobKind,
    /// Size of the pack file in bytes.
    pub size: u64,
    pub blobs: Vec<BlobEntry>,
}

/// The content of one index file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IndexFile {
    /// Index files this one replaces (written by prune and repair); readers
    /// ignore a superseded index file once they have seen this one.
    pub supersedes: Vec<IndexId>,
    pub packs: Vec<PackEntry>,
}

impl IndexFile {
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("postcard encoding to a Vec cannot fail")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        postcard::from_bytes(bytes).map_err(|e| Error::corrupt("index", e))
    }
}
