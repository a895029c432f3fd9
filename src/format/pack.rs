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
mod tests {
    use super::*;
    use crate::crypto::MasterKey;
    use crate::ids::content_hash;
    use proptest::prelude::*;

    fn keys() -> Keys {
        MasterKey::from_bytes([42; 32]).derive()
    }

    /// A pack of `sizes.len()` blobs of the given plaintext sizes.
    fn build(keys: &Keys, kind: BlobKind, sizes: &[usize]) -> (Vec<u8>, PackEntry, Vec<Vec<u8>>) {
        let mut b = PackBuilder::new(kind, 0);
        let mut plains = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            let plain: Vec<u8> = (0..n).map(|j| (i * 31 + j / 7) as u8).collect();
            let id = BlobId(keys.blob_id(&plain));
            let sealed = seal_blob(keys, kind, &id, &plain, Some(3));
            b.add(id, &sealed, plain.len() as u32).unwrap();
            plains.push(plain);
        }
        assert_eq!(b.blob_count(), sizes.len());
        let (bytes, entry) = b.finish(keys).unwrap();
        (bytes, entry, plains)
    }

    /// Seals `header` as a pack header and appends it and a trailer to `data`.
    fn assemble(keys: &Keys, data: &[u8], header: &PackHeader) -> Vec<u8> {
        let plain = postcard::to_allocvec(header).unwrap();
        let sealed = envelope::seal(keys, ObjectType::PackHeader, None, &plain, None);
        let mut out = data.to_vec();
        out.extend_from_slice(&sealed);
        out.extend_from_slice(&(sealed.len() as u32).to_le_bytes());
        out.extend_from_slice(TRAILER_MAGIC);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn build_parse_round_trip(
            sizes in prop::collection::vec(0usize..3000, 0..24),
            tree in any::<bool>(),
        ) {
            let k = keys();
            let kind = if tree { BlobKind::Tree } else { BlobKind::Data };
            let (bytes, entry, plains) = build(&k, kind, &sizes);
            prop_assert_eq!(entry.id, PackId(content_hash(&bytes)));
            prop_assert_eq!(entry.size, bytes.len() as u64);
            prop_assert_eq!(entry.kind, kind);
            let header = parse(&k, &bytes).unwrap();
            prop_assert_eq!(header.kind, kind);
            prop_assert_eq!(&header.blobs, &entry.blobs);
            for (b, plain) in header.blobs.iter().zip(&plains) {
                let sealed = &bytes[b.offset as usize..(b.offset + b.length) as usize];
                prop_assert_eq!(&open_blob(&k, kind, b, sealed).unwrap(), plain);
                prop_assert_eq!(b.id, BlobId(k.blob_id(plain)));
                // The blob's kind is bound in: the other kind refuses it.
                let other = if tree { BlobKind::Data } else { BlobKind::Tree };
                prop_assert!(open_blob(&k, other, b, sealed).is_err());
            }
        }
    }

    /// Whether `pack` parses, tiles and opens every blob: what the data
    /// check accepts without hashing the pack to its name.
    fn proven(keys: &Keys, kind: BlobKind, pack: &[u8]) -> bool {
        let Ok(h) = parse(keys, pack) else {
            return false;
        };
        tiles_blob_area(&h, pack)
            && h.kind == kind
            && h.blobs.iter().all(|b| {
                let sealed = &pack[b.offset as usize..(b.offset + b.length) as usize];
                open_blob(keys, kind, b, sealed).is_ok()
            })
    }

    #[test]
    fn every_byte_of_a_tiled_pack_is_authenticated() {
        // The claim that lets `check --read-data` skip the pack hash: any
        // changed byte, anywhere, fails the parse, the tiling or a blob.
        let k = keys();
        let (bytes, _, _) = build(&k, BlobKind::Data, &[0, 1, 300, 5000]);
        assert!(proven(&k, BlobKind::Data, &bytes));
        for i in 0..bytes.len() {
            for bit in [0x01, 0x80] {
                let mut b = bytes.clone();
                b[i] ^= bit;
                assert!(
                    !proven(&k, BlobKind::Data, &b),
                    "flip {bit:#x} at {i} accepted"
                );
            }
        }
    }

    #[test]
    fn gaps_in_the_blob_area_do_not_tile() {
        let k = keys();
        let (bytes, entry, _) = build(&k, BlobKind::Data, &[100, 200]);
        let area = entry.blobs.iter().map(|b| b.length as usize).sum::<usize>();
        let header = PackHeader {
            kind: BlobKind::Data,
            blobs: entry.blobs.clone(),
        };
        assert!(tiles_blob_area(&header, &bytes));
        // A byte between the two blobs, and one after the last.
        let (first, second) = (&entry.blobs[0], &entry.blobs[1]);
        let mut data = bytes[..first.length as usize].to_vec();
        data.push(0);
        data.extend_from_slice(&bytes[second.offset as usize..area]);
        let mut shifted = header.clone();
        shifted.blobs[1].offset += 1;
        let gap = assemble(&k, &data, &shifted);
        assert!(parse(&k, &gap).is_ok());
        assert!(!tiles_blob_area(&shifted, &gap));
        let mut tail = bytes[..area].to_vec();
        tail.push(0);
        let trailing = assemble(&k, &tail, &header);
        assert!(parse(&k, &trailing).is_ok());
        assert!(!tiles_blob_area(&header, &trailing));
    }

    #[test]
    fn truncated_packs_are_refused() {
        let k = keys();
        let (bytes, _, _) = build(&k, BlobKind::Data, &[100, 0, 5000, 17]);
        for n in 0..bytes.len() {
            assert!(parse(&k, &bytes[..n]).is_err(), "truncated to {n}");
        }
        for n in 1..bytes.len() {
            assert!(parse(&k, &bytes[n..]).is_err(), "first {n} bytes cut");
        }
    }

    #[test]
    fn bad_trailers_are_refused() {
        let k = keys();
        let (bytes, _, _) = build(&k, BlobKind::Tree, &[10, 20]);
        let n = bytes.len();
        let trailer = &bytes[n - TRAILER_LEN..];
        let hlen = header_length(trailer, n as u64).unwrap();
        assert!(header_length(&trailer[1..], n as u64).is_err());
        assert!(header_length(&bytes[n - TRAILER_LEN - 1..], n as u64).is_err());
        let mut bad = bytes.clone();
        bad[n - 1] = b'2';
        assert!(parse(&k, &bad).is_err(), "magic");
        for len in [
            u32::MAX,
            n as u32 - TRAILER_LEN as u32 + 1,
            hlen + 1,
            hlen - 1,
            0,
        ] {
            let mut bad = bytes.clone();
            bad[n - TRAILER_LEN..n - 8].copy_from_slice(&len.to_le_bytes());
            assert!(parse(&k, &bad).is_err(), "header length {len}");
        }
        // Exactly as long as the pack allows is accepted by the trailer check.
        let mut edge = trailer.to_vec();
        edge[..4].copy_from_slice(&(n as u32 - TRAILER_LEN as u32).to_le_bytes());
        assert!(header_length(&edge, n as u64).is_ok());
        edge[..4].copy_from_slice(&(n as u32 - TRAILER_LEN as u32 + 1).to_le_bytes());
        assert!(header_length(&edge, n as u64).is_err());
    }

    #[test]
    fn entries_outside_or_overlapping_are_refused() {
        let k = keys();
        let e = |offset, length| BlobEntry {
            id: BlobId([1; 32]),
            offset,
            length,
            raw_length: 1,
        };
        let data = [0u8; 100];
        let cases: &[(&str, Vec<BlobEntry>, bool)] = &[
            ("tiling", vec![e(0, 50), e(50, 50)], true),
            ("gap", vec![e(0, 10), e(60, 40)], true),
            ("overlap", vec![e(0, 51), e(50, 50)], false),
            ("same", vec![e(10, 10), e(10, 10)], false),
            ("out of order", vec![e(50, 10), e(0, 10)], false),
            ("past end", vec![e(0, 101)], false),
            ("offset past end", vec![e(101, 0)], false),
            ("u32 overflow", vec![e(u32::MAX, u32::MAX)], false),
        ];
        for (name, blobs, ok) in cases {
            let header = PackHeader {
                kind: BlobKind::Data,
                blobs: blobs.clone(),
            };
            let pack = assemble(&k, &data, &header);
            assert_eq!(parse(&k, &pack).is_ok(), *ok, "{name}");
        }
    }

    #[test]
    fn header_under_another_key_or_type_is_refused() {
        let k = keys();
        let (bytes, _, _) = build(&k, BlobKind::Data, &[10]);
        let stranger = MasterKey::from_bytes([1; 32]).derive();
        assert!(parse(&stranger, &bytes).is_err());
        let header = PackHeader {
            kind: BlobKind::Data,
            blobs: vec![],
        };
        let plain = postcard::to_allocvec(&header).unwrap();
        let sealed = envelope::seal(&k, ObjectType::Index, None, &plain, None);
        let mut pack = sealed.clone();
        pack.extend_from_slice(&(sealed.len() as u32).to_le_bytes());
        pack.extend_from_slice(TRAILER_MAGIC);
        assert!(parse(&k, &pack).is_err());
    }

    /// Golden: the header example in `format-spec/04-pack.md`, and the
    /// trailer layout.
    #[test]
    fn golden_header_and_trailer() {
        let header = PackHeader {
            kind: BlobKind::Tree,
            blobs: vec![BlobEntry {
                id: BlobId([0x44; 32]),
                offset: 0,
                length: 200,
                raw_length: 1000,
            }],
        };
        let bytes = postcard::to_allocvec(&header).unwrap();
        assert_eq!(
            hex::encode(&bytes),
            format!("0101{}00c801e807", "44".repeat(32))
        );
        let k = keys();
        let (pack, _) = PackBuilder::new(BlobKind::Tree, 0).finish(&k).unwrap();
        let n = pack.len();
        assert_eq!(&pack[n - 8..], b"CAIRNPK1");
        let hlen = u32::from_le_bytes(pack[n - 12..n - 8].try_into().unwrap()) as usize;
        assert_eq!(
            hlen,
            n - TRAILER_LEN,
            "an empty pack is just header and trailer"
        );
        assert_eq!(parse(&k, &pack).unwrap().blobs, []);
    }
}
