use super::*;
use proptest::prelude::*;

fn header() -> BundleHeader {
    BundleHeader {
        version: BUNDLE_VERSION,
        kdf: KdfParams::insecure_for_tests(),
        salt: vec![7; SALT_LEN],
    }
}

#[test]
fn golden_header_and_trailer() {
    let h = header();
    let bytes = h.encode();
    let salt = "07".repeat(32);
    // The worked example in format-spec/15-bundle.md.
    assert_eq!(
        hex::encode(&bytes),
        format!("434149524e42444c250000000140010120{salt}")
    );
    assert_eq!(BundleHeader::total_len(&bytes).unwrap(), bytes.len());
    assert_eq!(BundleHeader::decode(&bytes).unwrap(), h);
    let t = Trailer {
        manifest_offset: 0x1234,
        manifest_length: 0x56,
    };
    assert_eq!(
        hex::encode(t.encode()),
        "34120000000000005600000000000000434149524e424454"
    );
    let file_len = 0x1234 + 0x56 + TRAILER_LEN as u64;
    assert_eq!(Trailer::decode(&t.encode(), 50, file_len).unwrap(), t);
    assert!(Trailer::decode(&t.encode(), 50, file_len + 1).is_err());
    assert!(Trailer::decode(&t.encode(), 0x2000, file_len).is_err());
}

#[test]
fn header_refuses_bad_magic_version_and_salt() {
    let mut bytes = header().encode();
    bytes[0] ^= 1;
    assert!(BundleHeader::decode(&bytes).is_err());
    let mut h = header();
    h.version = 2;
    assert!(matches!(
        BundleHeader::decode(&h.encode()),
        Err(Error::UnsupportedVersion { found: 2, .. })
    ));
    let mut h = header();
    h.salt.pop();
    assert!(BundleHeader::decode(&h.encode()).is_err());
    let mut bytes = header().encode();
    bytes.push(0);
    assert!(BundleHeader::decode(&bytes).is_err());
}

fn manifest(start: u64, lengths: &[u32]) -> Manifest {
    let mut at = start;
    let blobs = lengths
        .iter()
        .enumerate()
        .map(|(i, &length)| {
            let b = BundleBlob {
                kind: if i % 2 == 0 {
                    BlobKind::Data
                } else {
                    BlobKind::Tree
                },
                id: BlobId([i as u8; 32]),
                offset: at,
                length,
                raw_length: length / 2,
                checksum: [0xab; 32],
            };
            at += length as u64;
            b
        })
        .collect();
    Manifest {
        header_hash: [1; 32],
        created: Timestamp { secs: 5, nanos: 6 },
        source_repo_id: vec![9; 32],
        id_key_check: [2; 32],
        snapshots: vec![],
        blobs,
    }
}

#[test]
fn manifest_blobs_must_be_contiguous() {
    let m = manifest(100, &[10, 20, 30]);
    let bytes = m.encode();
    assert_eq!(Manifest::decode(&bytes, 100, 160).unwrap(), m);
    assert!(
        Manifest::decode(&bytes, 100, 161).is_err(),
        "gap at the end"
    );
    assert!(
        Manifest::decode(&bytes, 99, 160).is_err(),
        "gap at the start"
    );
    let mut gap = m.clone();
    gap.blobs[1].offset += 1;
    assert!(Manifest::decode(&gap.encode(), 100, 160).is_err());
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(Manifest::decode(&trailing, 100, 160).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = BundleHeader::total_len(&bytes);
        let _ = BundleHeader::decode(&bytes);
        let _ = Trailer::decode(&bytes, 12, bytes.len() as u64);
        let _ = Manifest::decode(&bytes, 0, 0);
    }

    #[test]
    fn manifest_round_trip(lengths in prop::collection::vec(1u32..5000, 0..20)) {
        let m = manifest(64, &lengths);
        let end = 64 + lengths.iter().map(|&l| l as u64).sum::<u64>();
        prop_assert_eq!(Manifest::decode(&m.encode(), 64, end).unwrap(), m);
    }
}
