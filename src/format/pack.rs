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
use crate::ids::{BlobId, PackId};

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

/// Where a pack's bytes go as they are produced: a `Vec` in tests and
/// tools, a staged storage object in the writer. One method, so the format
/// stays free of I/O.
pub trait PackSink {
    fn write(&mut self, data: &[u8]) -> Result<()>;
}

impl PackSink for Vec<u8> {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        self.extend_from_slice(data);
        Ok(())
    }
}

/// Assembles one pack, streaming blobs to a sink and hashing as it goes, so
/// the pack's id is known at the end without holding or re-reading it.
/// Pure: the caller decides when it is full and where the bytes go.
pub struct PackBuilder<S = Vec<u8>> {
    kind: BlobKind,
    sink: S,
    hasher: blake3::Hasher,
    len: u64,
    blobs: Vec<BlobEntry>,
}

impl PackBuilder<Vec<u8>> {
    /// A pack assembled in memory.
    pub fn new(kind: BlobKind, capacity: usize) -> Self {
        Self::with_sink(kind, Vec::with_capacity(capacity))
    }
}

impl<S: PackSink> PackBuilder<S> {
    pub fn with_sink(kind: BlobKind, sink: S) -> Self {
        PackBuilder {
            kind,
            sink,
            hasher: blake3::Hasher::new(),
            len: 0,
            blobs: Vec::new(),
        }
    }

    pub fn kind(&self) -> BlobKind {
        self.kind
    }

    fn emit(&mut self, data: &[u8]) -> Result<()> {
        self.sink.write(data)?;
        self.hasher.update(data);
        self.len += data.len() as u64;
        Ok(())
    }

    /// Appends one sealed blob.
    pub fn add(&mut self, id: BlobId, sealed: &[u8], raw_length: u32) -> Result<()> {
        let end = self.len + sealed.len() as u64;
        if end > MAX_PACK_SIZE {
            return Err(Error::Internal("pack would exceed 4 GiB".into()));
        }
        self.blobs.push(BlobEntry {
            id,
            offset: self.len as u32,
            length: sealed.len() as u32,
            raw_length,
        });
        self.emit(sealed)
    }

    /// Bytes of blob data so far.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    pub fn blob_count(&self) -> usize {
        self.blobs.len()
    }

    /// Seals the header, appends it and the trailer, and names the pack by
    /// the BLAKE3 of its bytes. Returns the sink and the pack's index entry.
    pub fn finish(mut self, keys: &Keys) -> Result<(S, PackEntry)> {
        let header = PackHeader {
            kind: self.kind,
            blobs: std::mem::take(&mut self.blobs),
        };
        let plain = postcard::to_allocvec(&header).expect("postcard encoding to a Vec cannot fail");
        let sealed = envelope::seal(keys, ObjectType::PackHeader, None, &plain, Some(1));
        self.emit(&sealed)?;
        self.emit(&(sealed.len() as u32).to_le_bytes())?;
        self.emit(TRAILER_MAGIC)?;
        if self.len > MAX_PACK_SIZE {
            return Err(Error::Internal("pack exceeds 4 GiB".into()));
        }
        let entry = PackEntry {
            id: PackId(*self.hasher.finalize().as_bytes()),
            kind: header.kind,
            size: self.len,
            blobs: header.blobs,
        };
        Ok((self.sink, entry))
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
    let header: PackHeader = crate::format::decode_exact(&plain, "pack header")?;
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

/// Whether the header's blobs tile the blob area of `pack` exactly, with no
/// byte before, between or after them. With the header opened and every
/// blob opened, every byte of such a pack is then authenticated (by a tag,
/// or as the checked trailer), which proves as much as hashing it to its
/// name: the data check skips that hash for such packs (14-audit.md).
pub fn tiles_blob_area(header: &PackHeader, pack: &[u8]) -> bool {
    let Some(t) = pack.len().checked_sub(TRAILER_LEN) else {
        return false;
    };
    let Ok(hlen) = header_length(&pack[t..], pack.len() as u64) else {
        return false;
    };
    let mut end = 0u64;
    for b in &header.blobs {
        if b.offset as u64 != end {
            return false;
        }
        end += b.length as u64;
    }
    end == (t - hlen as usize) as u64
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

/// Seals one blob for a pack of `kind` into `buf` (cleared first).
pub fn seal_blob_into(
    keys: &Keys,
    kind: BlobKind,
    id: &BlobId,
    plain: &[u8],
    level: Option<i32>,
    buf: &mut Vec<u8>,
) {
    let ty = match kind {
        BlobKind::Data => ObjectType::DataBlob,
        BlobKind::Tree => ObjectType::TreeBlob,
    };
    envelope::seal_into(keys, ty, Some(id.as_bytes()), plain, level, buf)
}

/// Seals one blob for a pack of `kind`.
pub fn seal_blob(
    keys: &Keys,
    kind: BlobKind,
    id: &BlobId,
    plain: &[u8],
    level: Option<i32>,
) -> Vec<u8> {
    let mut buf = Vec::new();
    seal_blob_into(keys, kind, id, plain, level, &mut buf);
    buf
}

#[cfg(test)]
mod tests;
