//! Bundles (format-spec chapter 15): one file carrying whole snapshots, with
//! every tree and data blob they need, sealed under a key derived from a
//! bundle password, to carry offline or move into another repository.
//!
//! ```text
//! bundle   = header || blob_0 || … || blob_n || sealed manifest || trailer
//! header   = "CAIRNBDL" || length: u32 LE || postcard(BundleHeader)
//! trailer  = manifest offset: u64 LE || manifest length: u64 LE || "CAIRNBDT"
//! ```
//!
//! Pure codecs only: reading, writing and verifying live in
//! `crate::export::bundle`. Every decoder bounds what it accepts, so a
//! fuzz target can feed them arbitrary bytes.

use serde::{Deserialize, Serialize};

use crate::crypto::KdfParams;
use crate::error::{Error, Result};
use crate::format::envelope::MAX_PLAINTEXT;
use crate::format::index::BlobKind;
use crate::format::snapshot::Snapshot;
use crate::format::tree::Timestamp;
use crate::ids::{BlobId, SnapshotId, ID_LEN};

pub const HEADER_MAGIC: &[u8; 8] = b"CAIRNBDL";
pub const TRAILER_MAGIC: &[u8; 8] = b"CAIRNBDT";
pub const TRAILER_LEN: usize = 24;
/// The bundle format version in [`BundleHeader::version`].
pub const BUNDLE_VERSION: u32 = 1;
/// A header is a few dozen bytes; anything longer is not a bundle.
pub const MAX_HEADER_LEN: u32 = 4096;
/// Sealed blobs are at most an envelope of [`MAX_PLAINTEXT`] plus zstd's
/// worst-case growth and the seal overhead.
pub const MAX_SEALED_BLOB: u64 = MAX_PLAINTEXT as u64 + (MAX_PLAINTEXT as u64 >> 7) + 1024;
/// The sealed manifest has the same bound as any envelope.
pub const MAX_MANIFEST_LEN: u64 = MAX_SEALED_BLOB;
/// Plaintext the bundle key's check value is the keyed hash of.
pub const ID_KEY_CHECK_INPUT: &[u8] = b"cairn bundle id key check v1";
/// Salt length for the bundle password's Argon2id.
pub const SALT_LEN: usize = 32;

/// In clear at the start: what a reader needs to derive the bundle key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleHeader {
    pub version: u32,
    pub kdf: KdfParams,
    #[serde(with = "serde_bytes")]
    pub salt: Vec<u8>,
}

/// One snapshot carried, with its id in the source repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleSnapshot {
    pub id: SnapshotId,
    pub snapshot: Snapshot,
}

/// One sealed blob in the bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleBlob {
    pub kind: BlobKind,
    /// The blob's id in the source repository (bound into its seal).
    pub id: BlobId,
    /// Where its sealed bytes start in the bundle file, and how many.
    pub offset: u64,
    pub length: u32,
    /// Plaintext length.
    pub raw_length: u32,
    /// Plain BLAKE3 of the sealed bytes.
    pub checksum: [u8; ID_LEN],
}

/// The sealed table of contents, written after the blobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// BLAKE3 of the header bytes (magic to the end of the postcard header).
    pub header_hash: [u8; ID_LEN],
    pub created: Timestamp,
    #[serde(with = "serde_bytes")]
    pub source_repo_id: Vec<u8>,
    /// The source repository's keyed blob id of [`ID_KEY_CHECK_INPUT`]:
    /// equal in the target means the same id key, so ids carry over.
    pub id_key_check: [u8; ID_LEN],
    pub snapshots: Vec<BundleSnapshot>,
    /// In file order; every blob's references come before it.
    pub blobs: Vec<BundleBlob>,
}

/// The fixed-size end of a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    pub manifest_offset: u64,
    pub manifest_length: u64,
}

impl BundleHeader {
    /// `magic || len || postcard`.
    pub fn encode(&self) -> Vec<u8> {
        let body = postcard::to_allocvec(self).expect("postcard encoding to a Vec cannot fail");
        let mut out = Vec::with_capacity(12 + body.len());
        out.extend_from_slice(HEADER_MAGIC);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Length of the whole encoded header given its first 12 bytes.
    pub fn total_len(prefix: &[u8]) -> Result<usize> {
        if prefix.len() < 12 || &prefix[..8] != HEADER_MAGIC {
            return Err(Error::corrupt("bundle", "not a cairn bundle (bad magic)"));
        }
        let len = u32::from_le_bytes(prefix[8..12].try_into().expect("4 bytes"));
        if len > MAX_HEADER_LEN {
            return Err(Error::corrupt("bundle", "header too long"));
        }
        Ok(12 + len as usize)
    }

    /// Decodes a whole encoded header (exactly [`BundleHeader::total_len`] bytes).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let total = Self::total_len(bytes)?;
        if bytes.len() != total {
            return Err(Error::corrupt("bundle", "header length mismatch"));
        }
        let h: BundleHeader = crate::format::decode_exact(&bytes[12..], "bundle header")?;
        if h.version != BUNDLE_VERSION {
            return Err(Error::UnsupportedVersion {
                found: h.version,
                supported: BUNDLE_VERSION,
            });
        }
        if h.salt.len() != SALT_LEN {
            return Err(Error::corrupt("bundle header", "salt must be 32 bytes"));
        }
        h.kdf.validate()?;
        Ok(h)
    }
}

impl Trailer {
    pub fn encode(&self) -> [u8; TRAILER_LEN] {
        let mut out = [0u8; TRAILER_LEN];
        out[..8].copy_from_slice(&self.manifest_offset.to_le_bytes());
        out[8..16].copy_from_slice(&self.manifest_length.to_le_bytes());
        out[16..].copy_from_slice(TRAILER_MAGIC);
        out
    }

    /// Decodes the last [`TRAILER_LEN`] bytes of a bundle of `file_len`
    /// bytes whose header is `header_len` long, checking that the manifest
    /// lies between the header and the trailer.
    pub fn decode(bytes: &[u8], header_len: u64, file_len: u64) -> Result<Self> {
        if bytes.len() != TRAILER_LEN || &bytes[16..] != TRAILER_MAGIC {
            return Err(Error::corrupt("bundle", "bad trailer (truncated bundle?)"));
        }
        let t = Trailer {
            manifest_offset: u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")),
            manifest_length: u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")),
        };
        let end = t.manifest_offset.checked_add(t.manifest_length);
        let fits = t.manifest_offset >= header_len
            && t.manifest_length <= MAX_MANIFEST_LEN
            && end.and_then(|e| e.checked_add(TRAILER_LEN as u64)) == Some(file_len);
        if !fits {
            return Err(Error::corrupt(
                "bundle",
                "trailer points outside the bundle",
            ));
        }
        Ok(t)
    }
}

impl Manifest {
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("postcard encoding to a Vec cannot fail")
    }

    /// Decodes and checks the blob table: blobs are contiguous from
    /// `blobs_start` to `blobs_end` (header end to manifest start), each
    /// within the size limits.
    pub fn decode(bytes: &[u8], blobs_start: u64, blobs_end: u64) -> Result<Self> {
        let m: Manifest = crate::format::decode_exact(bytes, "bundle manifest")?;
        let mut at = blobs_start;
        for b in &m.blobs {
            if b.offset != at || b.length as u64 > MAX_SEALED_BLOB {
                return Err(Error::corrupt(
                    "bundle manifest",
                    format!("blob {} is not where the previous one ends", b.id),
                ));
            }
            at += b.length as u64;
        }
        if at != blobs_end {
            return Err(Error::corrupt(
                "bundle manifest",
                "blobs do not fill the space before the manifest",
            ));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests;
