//! Tests of pack assembly, parsing and the tiling that lets the data
//! check skip the pack hash.

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
    for sizes in [&[0, 1, 300, 5000][..], &[]] {
        let (bytes, _, _) = build(&k, BlobKind::Data, sizes);
        assert!(proven(&k, BlobKind::Data, &bytes));
        for i in 0..bytes.len() {
            for bit in [0x01, 0x80] {
                let mut b = bytes.clone();
                b[i] ^= bit;
                assert!(
                    !proven(&k, BlobKind::Data, &b),
                    "flip {bit:#x} at {i} of {sizes:?} accepted"
                );
            }
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
