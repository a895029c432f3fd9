//! The envelope every encrypted object shares: optional zstd, then
//! XChaCha20-Poly1305 with the object type and (for blobs) the blob id bound
//! as associated data, so a ciphertext cannot be moved to another id or type.
//!
//! Sealed bytes: `nonce(24) || ciphertext || tag(16)`; the plaintext under the
//! AEAD is `flag(1) || payload`, flag 0 = stored, 1 = zstd. A put-only key
//! writes the sealed-to-public form instead, `"CAIRNSLD" || ephemeral
//! public(32) || nonce || ciphertext || tag` (format-spec/18-put-only.md);
//! [`open`] takes either (through [`Keys::open`]), so nothing above this
//! layer knows which form an object has.

use std::cell::RefCell;
use std::io::Read;

use crate::crypto::{Keys, TAG_LEN};
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
    Lock = 6,
    /// The stored retention policy (chapter 13).
    Policy = 7,
    /// The rolling audit's log (format-spec/14-audit.md).
    Audit = 8,
    /// A running backup's marker (format-spec/12-prune.md).
    Marker = 9,
    /// An index file's id list, under the dedup key (format-spec/18-put-only.md).
    IdList = 10,
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
            ObjectType::Lock => "lock",
            ObjectType::Policy => "policy",
            ObjectType::Audit => "audit log",
            ObjectType::Marker => "backup marker",
            ObjectType::IdList => "id list",
        }
    }
}

const FLAG_STORED: u8 = 0;
const FLAG_ZSTD: u8 = 1;
/// Largest plaintext any envelope may decompress to; a hostile frame cannot
/// make a reader allocate more.
pub const MAX_PLAINTEXT: usize = 1 << 30;

thread_local! {
    /// The context, its level, and whether the chunk-sized tables are set.
    static COMPRESSOR: RefCell<Option<(i32, bool, zstd::bulk::Compressor<'static>)>> =
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
    let mut buf = Vec::new();
    seal_into(keys, ty, id, plaintext, level, &mut buf);
    buf
}

/// Like [`seal`], but into `buf` (cleared first), so a caller sealing many
/// blobs reuses one allocation. One buffer from start to end: nonce space,
/// flag, payload, then the tag appended by the in-place seal.
pub fn seal_into(
    keys: &Keys,
    ty: ObjectType,
    id: Option<&[u8; ID_LEN]>,
    plaintext: &[u8],
    level: Option<i32>,
    buf: &mut Vec<u8>,
) {
    body_into(buf, keys.seal_prefix_len(), plaintext, level);
    keys.seal_in_place(buf, &associated_data(ty, id));
}

/// Seals in the ordinary form under an explicit `key` rather than the AEAD
/// subkey: the id lists, under the dedup key (format-spec/18-put-only.md),
/// which put-only clients hold too. Same body and associated data.
pub fn seal_under(
    key: &[u8; ID_LEN],
    ty: ObjectType,
    plaintext: &[u8],
    level: Option<i32>,
) -> Vec<u8> {
    let mut buf = Vec::new();
    body_into(&mut buf, crate::crypto::NONCE_LEN, plaintext, level);
    crate::crypto::seal_in_place_with(key, &mut buf, &associated_data(ty, None));
    buf
}

/// Opens what [`seal_under`] sealed with the same `key`.
pub fn open_under(key: &[u8; ID_LEN], ty: ObjectType, sealed: &[u8]) -> Result<Vec<u8>> {
    let body = crate::crypto::open_with(key, sealed, &associated_data(ty, None), ty.name())?;
    unwrap_body(ty, &body, None)
}

/// Fills `buf` with `prefix` reserved bytes, the flag and the payload.
fn body_into(buf: &mut Vec<u8>, prefix: usize, plaintext: &[u8], level: Option<i32>) {
    let bound = match level {
        Some(_) => zstd::zstd_safe::compress_bound(plaintext.len()),
        None => plaintext.len(),
    };
    buf.clear();
    buf.reserve(prefix + 1 + bound + TAG_LEN);
    buf.resize(prefix, 0);
    // Data that looks random is not tried: zstd would fail on it slowly.
    let compressed = level.is_some_and(|level| {
        !super::sample::looks_incompressible(plaintext) && compress_into(buf, plaintext, level)
    });
    if !compressed {
        buf.truncate(prefix);
        buf.push(FLAG_STORED);
        buf.extend_from_slice(plaintext);
    }
}

/// Appends `FLAG_ZSTD || zstd(plaintext)` to `buf`; false (with `buf` in an
/// unspecified state past its old length) when that would not be smaller.
fn compress_into(buf: &mut Vec<u8>, plaintext: &[u8], level: i32) -> bool {
    // One compression context per thread: creating one per blob costs more
    // than compressing a small file.
    COMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.as_ref().is_none_or(|(l, _, _)| *l != level) {
            match zstd::bulk::Compressor::new(level) {
                Ok(z) => *cell = Some((level, false, z)),
                Err(_) => return false,
            }
        }
        let Some((_, capped, z)) = cell.as_mut() else {
            return false;
        };
        let cap = FAST_LEVELS.contains(&level) && plaintext.len() > CAP_ABOVE;
        if cap != *capped {
            if set_tables(z, cap).is_err() {
                return false;
            }
            *capped = cap;
        }
        let start = buf.len();
        buf.push(FLAG_ZSTD);
        let mut cursor = std::io::Cursor::new(std::mem::take(buf));
        cursor.set_position(start as u64 + 1);
        let result = z.compress_to_buffer(plaintext, &mut cursor);
        *buf = cursor.into_inner();
        matches!(result, Ok(n) if buf.len() == start + 1 + n && n < plaintext.len())
    })
}

/// Hash and chain table sizes (log2 entries) for chunks at the fast levels.
/// zstd's defaults for levels 2 to 4 size these tables for multi-megabyte
/// streams (1–2 MiB of tables at level 3), but a blob is one chunk of at most
/// a few MiB, and tables that fit the core's L2 cache compress a 512 KiB
/// chunk of database pages about 1.5x faster for 0.15% more output (1.411 →
/// 1.409 on the benchmark corpus). Smaller inputs keep zstd's defaults, which
/// it already sizes to the input. Decoding does not depend on them.
const FAST_LEVELS: std::ops::RangeInclusive<i32> = 2..=4;
const CAP_ABOVE: usize = 256 * 1024;
const CAPPED_HASH_LOG: u32 = 15;
const CAPPED_CHAIN_LOG: u32 = 14;

/// Switches between the capped tables and zstd's defaults (0 = default).
fn set_tables(z: &mut zstd::bulk::Compressor<'static>, cap: bool) -> std::io::Result<()> {
    use zstd::stream::raw::CParameter;
    let (hash, chain) = if cap {
        (CAPPED_HASH_LOG, CAPPED_CHAIN_LOG)
    } else {
        (0, 0)
    };
    z.set_parameter(CParameter::HashLog(hash))?;
    z.set_parameter(CParameter::ChainLog(chain))
}

thread_local! {
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
}

/// Decompresses a frame of known size into a buffer of exactly that size
/// (a larger frame fails), with one decompression context per thread:
/// restore and every tree load open many small blobs, and a new context
/// per blob cost more than the decompression.
fn decompress_exact(payload: &[u8], len: usize) -> std::io::Result<Vec<u8>> {
    DECOMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        let d = match cell.as_mut() {
            Some(d) => d,
            None => cell.insert(zstd::bulk::Decompressor::new()?),
        };
        if let Ok(Some(n)) = zstd::zstd_safe::get_frame_content_size(payload) {
            if n > len as u64 {
                return Err(std::io::Error::other("decompresses past its limit"));
            }
        }
        let mut out = Vec::with_capacity(len);
        d.decompress_to_buffer(payload, &mut out)?;
        Ok(out)
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
    unwrap_body(ty, &body, expected_len)
}

/// The plaintext of an opened body (flag and payload), within the limits.
fn unwrap_body(ty: ObjectType, body: &[u8], expected_len: Option<usize>) -> Result<Vec<u8>> {
    let (flag, payload) = body
        .split_first()
        .ok_or_else(|| Error::corrupt(ty.name(), "empty envelope"))?;
    let limit = expected_len.unwrap_or(MAX_PLAINTEXT).min(MAX_PLAINTEXT);
    let plain = match *flag {
        FLAG_STORED => payload.to_vec(),
        FLAG_ZSTD if expected_len.is_some_and(|n| n <= limit) => {
            decompress_exact(payload, limit)
                .map_err(|e| Error::corrupt(ty.name(), format!("zstd: {e}")))?
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{MasterKey, NONCE_LEN, SEAL_OVERHEAD, TAG_LEN};

    fn keys() -> Keys {
        MasterKey::from_bytes([42; 32]).derive()
    }

    /// The flag byte of a sealed envelope, read by opening the AEAD directly.
    fn flag_of(keys: &Keys, ty: ObjectType, id: Option<&[u8; 32]>, sealed: &[u8]) -> u8 {
        keys.open(sealed, &associated_data(ty, id), "t").unwrap()[0]
    }

    #[test]
    fn round_trip_stored_and_compressed() {
        let k = keys();
        let id = [9u8; 32];
        let text = b"cairn cairn cairn cairn ".repeat(400);
        for (level, flag) in [(None, FLAG_STORED), (Some(3), FLAG_ZSTD)] {
            let sealed = seal(&k, ObjectType::DataBlob, Some(&id), &text, level);
            assert_eq!(flag_of(&k, ObjectType::DataBlob, Some(&id), &sealed), flag);
            if flag == FLAG_ZSTD {
                assert!(sealed.len() < text.len() / 10, "compression took effect");
            } else {
                assert_eq!(sealed.len(), text.len() + 1 + SEAL_OVERHEAD);
            }
            let open_ = |n| open(&k, ObjectType::DataBlob, Some(&id), &sealed, n);
            assert_eq!(open_(Some(text.len())).unwrap(), text);
            assert_eq!(open_(None).unwrap(), text);
            // A wrong expected length is refused either way.
            assert!(open_(Some(text.len() - 1)).is_err());
            assert!(open_(Some(text.len() + 1)).is_err());
        }
        let empty = seal(&k, ObjectType::Index, None, b"", Some(3));
        assert_eq!(empty.len(), 1 + SEAL_OVERHEAD);
        assert_eq!(
            open(&k, ObjectType::Index, None, &empty, None).unwrap(),
            b""
        );
    }

    #[test]
    fn incompressible_data_is_stored_raw() {
        let k = keys();
        let mut noise = vec![0u8; 8192];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut noise);
        let sealed = seal(&k, ObjectType::TreeBlob, None, &noise, Some(19));
        assert_eq!(
            flag_of(&k, ObjectType::TreeBlob, None, &sealed),
            FLAG_STORED
        );
        assert_eq!(sealed.len(), noise.len() + 1 + SEAL_OVERHEAD);
        let back = open(&k, ObjectType::TreeBlob, None, &sealed, Some(noise.len())).unwrap();
        assert_eq!(back, noise);
    }

    #[test]
    fn every_tampered_byte_is_refused() {
        let k = keys();
        let id = [1u8; 32];
        let sealed = seal(&k, ObjectType::Snapshot, Some(&id), &[5u8; 300], Some(3));
        let n = sealed.len();
        // Nonce, ciphertext (flag and payload) and tag, every byte and bit.
        for i in 0..n {
            for bit in 0..8 {
                let mut bad = sealed.clone();
                bad[i] ^= 1 << bit;
                let class = match i {
                    i if i < NONCE_LEN => "nonce",
                    i if i >= n - TAG_LEN => "tag",
                    _ => "ciphertext",
                };
                let r = open(&k, ObjectType::Snapshot, Some(&id), &bad, None);
                assert!(r.is_err(), "{class} byte {i} bit {bit} accepted");
            }
        }
        assert!(open(&k, ObjectType::Snapshot, Some(&id), &sealed[..n - 1], None).is_err());
        assert!(open(&k, ObjectType::Snapshot, Some(&id), &sealed[..39], None).is_err());
        assert!(open(&k, ObjectType::Snapshot, Some(&id), &[], None).is_err());
    }

    #[test]
    fn wrong_type_or_id_or_key_is_refused() {
        let k = keys();
        let id = [1u8; 32];
        let sealed = seal(&k, ObjectType::DataBlob, Some(&id), b"x", None);
        assert!(open(&k, ObjectType::DataBlob, Some(&id), &sealed, None).is_ok());
        for ty in [
            ObjectType::TreeBlob,
            ObjectType::PackHeader,
            ObjectType::Index,
            ObjectType::Snapshot,
            ObjectType::Config,
            ObjectType::Policy,
        ] {
            assert!(open(&k, ty, Some(&id), &sealed, None).is_err(), "{ty:?}");
        }
        let mut other = id;
        other[31] ^= 1;
        assert!(open(&k, ObjectType::DataBlob, Some(&other), &sealed, None).is_err());
        assert!(open(&k, ObjectType::DataBlob, None, &sealed, None).is_err());
        let none = seal(&k, ObjectType::Index, None, b"x", None);
        assert!(open(&k, ObjectType::Index, Some(&[0; 32]), &none, None).is_ok());
        assert!(open(&k, ObjectType::Index, Some(&id), &none, None).is_err());
        let stranger = MasterKey::from_bytes([43; 32]).derive();
        assert!(open(&stranger, ObjectType::Index, None, &none, None).is_err());
    }

    #[test]
    fn associated_data_layout() {
        let ad = associated_data(ObjectType::Config, Some(&[0xab; 32]));
        assert_eq!(&ad[..7], b"cairn\x01\x05");
        assert_eq!(ad[7..], [0xab; 32]);
        assert_eq!(associated_data(ObjectType::Index, None)[7..], [0; 32]);
    }

    #[test]
    fn decompression_bomb_is_refused() {
        let k = keys();
        let id = [3u8; 32];
        let ad = associated_data(ObjectType::DataBlob, Some(&id));
        let mut body = vec![FLAG_ZSTD];
        body.extend(zstd::bulk::compress(&vec![0u8; 64 << 20], 1).unwrap());
        assert!(
            body.len() < 64 << 10,
            "a real bomb: tiny frame, huge output"
        );
        let sealed = k.seal(&body, &ad);
        let start = std::time::Instant::now();
        let err = open(&k, ObjectType::DataBlob, Some(&id), &sealed, Some(1 << 20)).unwrap_err();
        assert!(err.to_string().contains("past its limit"), "{err}");
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        // Garbage after the flag is a zstd error, not a panic.
        let sealed = k.seal(&[FLAG_ZSTD, 1, 2, 3, 4, 5], &ad);
        assert!(open(&k, ObjectType::DataBlob, Some(&id), &sealed, None).is_err());
    }

    #[test]
    fn unknown_flag_and_empty_body_are_refused() {
        let k = keys();
        let ad = associated_data(ObjectType::Index, None);
        for flag in [2u8, 3, 0x80, 0xff] {
            let sealed = k.seal(&[flag, 1, 2, 3], &ad);
            let err = open(&k, ObjectType::Index, None, &sealed, None).unwrap_err();
            assert!(err.to_string().contains("unknown envelope flag"), "{err}");
        }
        let sealed = k.seal(&[], &ad);
        assert!(open(&k, ObjectType::Index, None, &sealed, None).is_err());
    }

    /// Golden: sealed under master key [42; 32] (random nonce fixed by this
    /// vector). Pins the AEAD subkey, the associated data and the flag byte:
    /// if any changes, existing repositories stop opening.
    #[test]
    fn golden_envelope_opens() {
        let k = keys();
        let id = k.blob_id(b"cairn");
        let sealed = hex::decode(
            "85e43ae092ad07054563f91e972417a4ce294b8f5f6015cf\
             afea61735548c5088b80f080753f90c5f3b48d9d3dba",
        )
        .unwrap();
        let plain = open(&k, ObjectType::DataBlob, Some(&id), &sealed, Some(5)).unwrap();
        assert_eq!(plain, b"cairn");
        assert_eq!(
            flag_of(&k, ObjectType::DataBlob, Some(&id), &sealed),
            FLAG_STORED
        );
    }
}
