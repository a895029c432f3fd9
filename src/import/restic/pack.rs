//! restic's stored items (design.rst, "Pack Format", "Unpacked Data
//! Format"): unpacked files (config, index, snapshots) open to JSON,
//! zstd-compressed behind a version byte in repository version 2; blobs
//! are read with one ranged read of their pack, opened, decompressed and
//! checked against their SHA-256 id. A pack's own header (at its end) is
//! only needed when the index is missing; [`parse_header`] decodes it.

use std::io::Read;

use super::crypto::{corrupt, sha256, MasterKey};
use crate::error::Result;

/// The most an unpacked file or blob may decompress to: a hostile
/// repository must not exhaust memory (restic's own index files stay
/// below 8 MiB, blobs below 8 MiB).
const MAX_PLAIN: u64 = 1 << 30;

/// Opens an unpacked file and gives its JSON text.
pub fn open_unpacked(key: &MasterKey, sealed: &[u8], what: &str) -> Result<Vec<u8>> {
    let plain = key.open(sealed, what)?;
    match plain.first() {
        Some(b'{') | Some(b'[') => Ok(plain),
        Some(2) => decompress(&plain[1..], None, what),
        Some(v) => Err(corrupt(what, format!("unknown encoding version {v}"))),
        None => Err(corrupt(what, "empty".into())),
    }
}

fn decompress(data: &[u8], expect: Option<u64>, what: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let limit = expect.unwrap_or(MAX_PLAIN).min(MAX_PLAIN);
    zstd::stream::read::Decoder::new(data)
        .and_then(|d| d.take(limit + 1).read_to_end(&mut out))
        .map_err(|e| corrupt(what, format!("zstd: {e}")))?;
    match expect {
        Some(n) if out.len() as u64 != n => Err(corrupt(
            what,
            format!("decompressed to {} bytes, not {n}", out.len()),
        )),
        _ if out.len() as u64 > limit => Err(corrupt(what, "decompresses too large".into())),
        _ => Ok(out),
    }
}

/// Where a blob is: its pack, offset and sealed length, and its plaintext
/// length when it is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobLocation {
    pub pack: [u8; 32],
    pub offset: u64,
    pub length: u64,
    pub uncompressed: Option<u64>,
}

/// Opens a blob's sealed bytes (exactly `loc.length` of them), decompresses
/// them and checks that the plaintext hashes to `id`.
pub fn open_blob(
    key: &MasterKey,
    id: &[u8; 32],
    loc: &BlobLocation,
    sealed: &[u8],
) -> Result<Vec<u8>> {
    let what = format!("restic blob {}", hex::encode(id));
    let plain = key.open(sealed, &what)?;
    let plain = match loc.uncompressed {
        Some(n) => decompress(&plain, Some(n), &what)?,
        None => plain,
    };
    if &sha256(&plain) != id {
        return Err(corrupt(&what, "content does not match its id".into()));
    }
    Ok(plain)
}

/// The storage key of a pack: `data/<first two hex digits>/<id>`.
pub fn pack_key(id: &[u8; 32]) -> String {
    let h = hex::encode(id);
    format!("data/{}/{h}", &h[..2])
}

/// One entry of a pack header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderEntry {
    pub tree: bool,
    pub id: [u8; 32],
    pub offset: u64,
    pub length: u64,
    pub uncompressed: Option<u64>,
}

/// Decodes a whole pack's header: the last 4 bytes give the sealed
/// header's length (little-endian); each entry is a type byte, the sealed
/// length, the plaintext length for compressed types, and the id.
pub fn parse_header(key: &MasterKey, pack: &[u8]) -> Result<Vec<HeaderEntry>> {
    let what = "restic pack header";
    let n = pack.len();
    if n < 4 {
        return Err(corrupt(what, "pack shorter than its length field".into()));
    }
    let hlen = u32::from_le_bytes(pack[n - 4..].try_into().expect("4 bytes")) as usize;
    if hlen > n - 4 {
        return Err(corrupt(
            what,
            format!("header length {hlen} exceeds the pack"),
        ));
    }
    let header = key.open(&pack[n - 4 - hlen..n - 4], what)?;
    let mut entries = Vec::new();
    let (mut at, mut offset) = (0usize, 0u64);
    while at < header.len() {
        let kind = header[at];
        let compressed = match kind {
            0 | 1 => false,
            2 | 3 => true,
            t => return Err(corrupt(what, format!("unknown blob type {t}"))),
        };
        let size = 1 + 4 + if compressed { 4 } else { 0 } + 32;
        let e = header
            .get(at..at + size)
            .ok_or_else(|| corrupt(what, "truncated entry".into()))?;
        let u32_at = |i: usize| u64::from(u32::from_le_bytes(e[i..i + 4].try_into().expect("4")));
        let length = u32_at(1);
        let uncompressed = compressed.then(|| u32_at(5));
        entries.push(HeaderEntry {
            tree: kind & 1 == 1,
            id: e[size - 32..].try_into().expect("32 bytes"),
            offset,
            length,
            uncompressed,
        });
        offset += length;
        at += size;
    }
    if offset > (n - 4 - hlen) as u64 {
        return Err(corrupt(what, "blobs run past the header".into()));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::from_derived(&[9; 64])
    }

    fn pack(k: &MasterKey, blobs: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut header = Vec::new();
        for b in blobs {
            let sealed = k.seal(&[1; 16], b);
            header.push(0);
            header.extend((sealed.len() as u32).to_le_bytes());
            header.extend(sha256(b));
            out.extend(sealed);
        }
        let sealed = k.seal(&[2; 16], &header);
        out.extend(&sealed);
        out.extend((sealed.len() as u32).to_le_bytes());
        out
    }

    #[test]
    fn header_round_trip_and_blob_open() {
        let k = key();
        let p = pack(&k, &[b"one", b"two!"]);
        let h = parse_header(&k, &p).unwrap();
        assert_eq!(h.len(), 2);
        let loc = BlobLocation {
            pack: [0; 32],
            offset: h[1].offset,
            length: h[1].length,
            uncompressed: None,
        };
        let sealed = &p[h[1].offset as usize..(h[1].offset + h[1].length) as usize];
        assert_eq!(open_blob(&k, &h[1].id, &loc, sealed).unwrap(), b"two!");
        assert!(
            open_blob(&k, &h[0].id, &loc, sealed).is_err(),
            "wrong id accepted"
        );
    }

    /// Truncated and mangled packs and unpacked files: errors, never panics.
    #[test]
    fn truncated_and_mangled_input_never_panics() {
        let k = key();
        let p = pack(&k, &[b"one", b"two!", b""]);
        for cut in 0..p.len() {
            let _ = parse_header(&k, &p[..cut]);
            let _ = parse_header(&k, &p[cut..]);
        }
        let mut state = 0x9e3779b97f4a7c15u64;
        for _ in 0..2000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut bad = p.clone();
            let i = (state as usize) % bad.len();
            bad[i] = (state >> 32) as u8;
            let _ = parse_header(&k, &bad);
        }
        // A header that opens but lies about lengths.
        let mut header = vec![2u8];
        header.extend(u32::MAX.to_le_bytes());
        let sealed = k.seal(&[3; 16], &header);
        let mut lying = sealed.clone();
        lying.extend((sealed.len() as u32).to_le_bytes());
        assert!(parse_header(&k, &lying).is_err());
        for plain in [&b""[..], b"\x02garbage", b"\x07{}", b"{\"a\":1}"] {
            let sealed = k.seal(&[4; 16], plain);
            let r = open_unpacked(&k, &sealed, "t");
            assert_eq!(r.is_ok(), plain.first() == Some(&b'{'), "{plain:?}");
        }
    }
}
