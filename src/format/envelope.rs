//! The envelope every encrypted object shares: optional zstd, then
//! XChaCha20-Poly1305 with the object type and (for blobs) the blob id bound
//! as associated data, so a ciphertext cannot be moved to another id or type.
//!
//! Sealed bytes: `nonce(24) || ciphertext || tag(16)`; the plaintext under the
//! AEAD is `flag(1) || payload`, flag 0 = stored, 1 = zstd.

use std::cell::RefCell;
use std::io::Read;

use crate::crypto::Keys;
use crate::error::{Error, Result};
use crate::ids::ID_LEN;

/// What kind of object an envelope holds; bound into the associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ObjectType {
    DataBlob = 0,
    TreeBlob = 1,
    PackHeader = 2,
    Index = 3,
    Snapshot = 4,
    Config = 5,
}

impl ObjectType {
    fn name(self) -> &'static str {
        match self {
            ObjectType::DataBlob => "data blob",
            ObjectType::TreeBlob => "tree blob",
            ObjectType::PackHeader => "pack header",
            ObjectType::Index => "index",
            ObjectType::Snapshot => "snapshot",
            ObjectType::Config => "config",
        }
    }
}

const FLAG_STORED: u8 = 0;
const FLAG_ZSTD: u8 = 1;
/// Largest plaintext any envelope may decompress to; a hostile frame cannot
/// make a reader allocate more.
pub const MAX_PLAINTEXT: usize = 1 << 30;

thread_local! {
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { RefCell::new(None) };
}

/// Associated data: `"cairn" || 0x01 || type || id-or-zeros`.
fn associated_data(ty: ObjectType, id: Option<&[u8; ID_LEN]>) -> [u8; 7 + ID_LEN] {
    let mut ad = [0u8; 7 + ID_LEN];
    ad[..5].copy_from_slice(b"cairn");
    ad[5] = 1;
    ad[6] = ty as u8;
    if let Some(id) = id {
        ad[7..].copy_from_slice(id);
    }
    ad
}

/// Compresses (when `level` is set and it shrinks the data) and seals.
pub fn seal(
    keys: &Keys,
    ty: ObjectType,
    id: Option<&[u8; ID_LEN]>,
    plaintext: &[u8],
    level: Option<i32>,
) -> Vec<u8> {
    let compressed = level.and_then(|level| compress(plaintext, level));
    let body = compressed.unwrap_or_else(|| {
        let mut body = Vec::with_capacity(plaintext.len() + 1);
        body.push(FLAG_STORED);
        body.extend_from_slice(plaintext);
        body
    });
    keys.seal(&body, &associated_data(ty, id))
}

/// `FLAG_ZSTD || zstd(plaintext)`, or `None` when that would not be smaller.
fn compress(plaintext: &[u8], level: i32) -> Option<Vec<u8>> {
    // One compression context per thread: creating one per blob costs more
    // than compressing a small file.
    COMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.as_ref().is_none_or(|(l, _)| *l != level) {
            *cell = Some((level, zstd::bulk::Compressor::new(level).ok()?));
        }
        let (_, z) = cell.as_mut()?;
        let mut out = Vec::with_capacity(1 + zstd::zstd_safe::compress_bound(plaintext.len()));
        out.push(FLAG_ZSTD);
        let mut cursor = std::io::Cursor::new(out);
        cursor.set_position(1);
        let n = z.compress_to_buffer(plaintext, &mut cursor).ok()?;
        let out = cursor.into_inner();
        (out.len() == n + 1 && out.len() <= plaintext.len()).then_some(out)
    })
}

/// Opens and decompresses; `expected_len`, when known (blobs), must match.
pub fn open(
    keys: &Keys,
    ty: ObjectType,
    id: Option<&[u8; ID_LEN]>,
    sealed: &[u8],
    expected_len: Option<usize>,
) -> Result<Vec<u8>> {
    let body = keys.open(sealed, &associated_data(ty, id), ty.name())?;
    let (flag, payload) = body
        .split_first()
        .ok_or_else(|| Error::corrupt(ty.name(), "empty envelope"))?;
    let limit = expected_len.unwrap_or(MAX_PLAINTEXT).min(MAX_PLAINTEXT);
    let plain = match *flag {
        FLAG_STORED => payload.to_vec(),
        FLAG_ZSTD => {
            let mut out = Vec::with_capacity(expected_len.unwrap_or(payload.len() * 2).min(limit));
            let dec = zstd::stream::read::Decoder::new(payload)
                .map_err(|e| Error::corrupt(ty.name(), e))?;
            dec.take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| Error::corrupt(ty.name(), format!("zstd: {e}")))?;
            if out.len() > limit {
                return Err(Error::corrupt(ty.name(), "decompresses past its limit"));
            }
            out
        }
        f => {
            return Err(Error::corrupt(
                ty.name(),
                format!("unknown envelope flag {f}"),
            ))
        }
    };
    if let Some(n) = expected_len {
        if plain.len() != n {
            return Err(Error::corrupt(
                ty.name(),
                format!("length {} where the index says {n}", plain.len()),
            ));
        }
    }
    Ok(plain)
}
