//! Packs: `blob_0 || … || blob_n || sealed header || trailer`. The header
//! lists every blob (id, offset, length, plaintext length) so indexes can be
//! rebuilt from packs alone; the fixed trailer says how long the header is.
//!
//! Trailer (12 bytes): `header_length: u32 LE || "CAIRNPK1"`.

use serde::{Deserialize, Serialize};

use crate::crypto::Keys;
use crate::error::{Error, Result};
use crate::format::envelope::{self, ObjectType};
use crate::format::index::{BlobEntry, BlobKind, PackEntry};
use crate::ids::{content_hash, BlobId, PackId};

pub const TRAILER_MAGIC: &[u8; 8] = b"CAIRNPK1";
pub const TRAILER_LEN: usize = 12;
/// No pack may exceed this, so offsets fit in `u32`.
pub const MAX_PACK_SIZE: u64 = u32::MAX as u64;

/// The decoded header of a pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackHeader {
    pub kind: BlobKind,
    pub blobs: Vec<BlobEntry>,
}

/// Assembles one pack in memory. Pure: the caller decides when it is full
/// and where the finished bytes go.
pub struct PackBuilder {
    kind: BlobKind,
    buf: Vec<u8>,
    blobs: Vec<BlobEntry>,
}

impl PackBuilder {
    pub fn new(kind: BlobKind, capacity: usize) -> Self {
        PackBuilder {
            kind,
            buf: Vec::with_capacity(capacity),
            blobs: Vec::new(),
        }
    }

    pub fn kind(&self) -> BlobKind {
        self.kind
    }

    /// Appends one sealed blob.
    pub fn add(&mut self, id: BlobId, sealed: &[u8], raw_length: u32) {
        self.blobs.push(BlobEntry {
            id,
            offset: self.buf.len() as u32,
            length: sealed.len() as u32,
            raw_length,
        });
        self.buf.extend_from_slice(sealed);
    }

    /// Bytes of blob data so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    pub fn blob_count(&self) -> usize {
        self.blobs.len()
    }

    /// Seals the header, appends it and the trailer, and names the pack by
    /// the BLAKE3 of its bytes.
    pub fn finish(self, keys: &Keys) -> (Vec<u8>, PackEntry) {
        let header = PackHeader {
            kind: self.kind,
            blobs: self.blobs,
        };
        let plain = postcard::to_allocvec(&header).expect("postcard encoding to a Vec cannot fail");
        let sealed = envelope::seal(keys, ObjectType::PackHeader, None, &plain, Some(1));
        let mut buf = self.buf;
        buf.extend_from_slice(&sealed);
        buf.extend_from_slice(&(sealed.len() as u32).to_le_bytes());
        buf.extend_from_slice(TRAILER_MAGIC);
        let entry = PackEntry {
            id: PackId(content_hash(&buf)),
            kind: header.kind,
            size: buf.len() as u64,
            blobs: header.blobs,
        };
        (buf, entry)
    }
}

/// Reads the trailer (the last [`TRAILER_LEN`] bytes of a pack of `pack_size`
/// bytes) and returns the header's length, checked against the pack size.
pub fn header_length(trailer: &[u8], pack_size: u64) -> Result<u32> {
    if trailer.len() != TRAILER_LEN || &trailer[4..] != TRAILER_MAGIC {
        return Err(Error::corrupt("pack trailer", "bad magic"));
    }
    let len = u32::from_le_bytes(trailer[..4].try_into().expect("4 bytes"));
    if len as u64 + TRAILER_LEN as u64 > pack_size {
        return Err(Error::corrupt(
            "pack trailer",
            "header longer than the pack",
        ));
    }
    Ok(len)
}

/// Opens a sealed header and checks every entry lies inside the blob area
/// (`data_len` = pack size − header − trailer) without overlapping.
pub fn decode_header(keys: &Keys, sealed: &[u8], data_len: u64) -> Result<PackHeader> {
    let plain = envelope::open(keys, ObjectType::PackHeader, None, sealed, None)?;
    let header: PackHeader =
        postcard::from_bytes(&plain).map_err(|e| Error::corrupt("pack header", e))?;
    let mut end = 0u64;
    for b in &header.blobs {
        let start = b.offset as u64;
        if start < end || start + b.length as u64 > data_len {
            return Err(Error::corrupt(
                "pack header",
                "blob outside the pack or overlapping",
            ));
        }
        end = start + b.length as u64;
    }
    Ok(header)
}

/// Parses a whole pack held in memory.
pub fn parse(keys: &Keys, pack: &[u8]) -> Result<PackHeader> {
    let size = pack.len() as u64;
    if pack.len() < TRAILER_LEN {
        return Err(Error::corrupt("pack", "shorter than its trailer"));
    }
    let hlen = header_length(&pack[pack.len() - TRAILER_LEN..], size)? as usize;
    let data_len = pack.len() - TRAILER_LEN - hlen;
    decode_header(
        keys,
        &pack[data_len..pack.len() - TRAILER_LEN],
        data_len as u64,
    )
}

/// Opens one blob of a pack.
pub fn open_blob(keys: &Keys, kind: BlobKind, entry: &BlobEntry, sealed: &[u8]) -> Result<Vec<u8>> {
    let ty = match kind {
        BlobKind::Data => ObjectType::DataBlob,
        BlobKind::Tree => ObjectType::TreeBlob,
    };
    envelope::open(
        keys,
        ty,
        Some(entry.id.as_bytes()),
        sealed,
        Some(entry.raw_length as usize),
    )
}

/// Seals one blob for a pack of `kind`.
pub fn seal_blob(
    keys: &Keys,
    kind: BlobKind,
    id: &BlobId,
    plain: &[u8],
    level: Option<i32>,
) -> Vec<u8> {
    let ty = match kind {
        BlobKind::Data => ObjectType::DataBlob,
        BlobKind::Tree => ObjectType::TreeBlob,
    };
    envelope::seal(keys, ty, Some(id.as_bytes()), plain, level)
}
