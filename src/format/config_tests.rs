//! Golden vectors and decoding rules of the config (format-spec/09-config.md).

use super::*;
use crate::crypto::MasterKey;
use crate::error::ErrorKind;
use crate::format::FORMAT_VERSION;

fn keys() -> Keys {
    MasterKey::from_bytes([42; 32]).derive()
}

/// The version-1 golden config (repositories made before version 2
/// stay version 1 and must keep opening).
fn sample() -> Config {
    Config {
        repo_id: vec![7; 16],
        version: 1,
        chunker: ChunkerParams::V1_LARGE,
        pack_size: 16 << 20,
        compression: Some(3),
        lock: None,
        chunking: None,
    }
}

/// Golden: `sample()` sealed under master key [42; 32].
const GOLDEN_HEX: &str = "434149524e434647010000007\
    7e21349aa4deb4bd064335b56c5ec68a91de738521fae4a8529a3e40c83e4f5b648869f2a4a4\
    6a5fa25392ee0d70bf2c418b31bcd649da1bafbc99ccc928da8cd60d56f47e7dc1af80486";

#[test]
fn golden_config_and_body_bytes() {
    let k = keys();
    let bytes = hex::decode(GOLDEN_HEX).unwrap();
    assert_eq!(Config::peek_version(&bytes).unwrap(), 1);
    assert_eq!(Config::decode(&bytes, &k).unwrap(), sample());
    // The sealed body, field by field.
    let body = postcard::to_allocvec(&sample()).unwrap();
    let expect = [
        "10",
        &"07".repeat(16),       // repo_id
        "01",                   // version
        "80802080804080808004", // chunker: 512 KiB, 1 MiB, 8 MiB
        "80808008",             // pack_size 16 MiB
        "0106",                 // compression Some(3), zigzag
    ]
    .concat();
    assert_eq!(hex::encode(body), expect);
}

/// Golden: `sample()` as version 2 sealed under master key [42; 32].
const GOLDEN_V2_HEX: &str = "434149524e43464702000000\
    513f1cee8d85c4fea8bd6bd97c07b63f0a38e2a8097aa5fa5c9c342a647e3ae69e048733cc54b48\
    4ab00186722d92c01e27a37e32a120806a5da52d2f7b2d9872bca34bd36e3407ed1d023";

#[test]
fn golden_v2_config() {
    let k = keys();
    let v2 = Config {
        version: 2,
        ..sample()
    };
    let bytes = hex::decode(GOLDEN_V2_HEX).unwrap();
    assert_eq!(&bytes[..12], b"CAIRNCFG\x02\0\0\0");
    assert_eq!(Config::decode(&bytes, &k).unwrap(), v2);
    // The body differs from version 1 in the version byte only.
    let body = hex::encode(postcard::to_allocvec(&v2).unwrap());
    let v1 = hex::encode(postcard::to_allocvec(&sample()).unwrap());
    assert_eq!(body, v1.replacen("0701", "0702", 1));
}

/// Golden: version 2 with a 30-day governance Object Lock; the lock
/// is appended after the other fields (`01` governance, `1e` 30 days).
const GOLDEN_LOCK_HEX: &str = "434149524e434647020000000\
    5c0161b23995277e067514425da559027f43f15e07e6cf5d637c73bad04d7cfbadbdcd0abd576c\
    9717301f9310d5d3e4dbbf712c7f0899da00589b2b104b97f6bebff79938948f3d51961287f";

fn sample_locked() -> Config {
    Config {
        version: 2,
        lock: Some(RetentionLock {
            kind: LockKind::ObjectLockGovernance,
            days: 30,
        }),
        ..sample()
    }
}

#[test]
fn golden_config_with_lock() {
    let k = keys();
    let bytes = hex::decode(GOLDEN_LOCK_HEX).unwrap();
    assert_eq!(Config::decode(&bytes, &k).unwrap(), sample_locked());
    let body = hex::encode(sample_locked().body());
    let plain = hex::encode(
        Config {
            version: 2,
            ..sample()
        }
        .body(),
    );
    assert_eq!(body, format!("{plain}011e"));
    // Every kind round-trips; the lock is absent from unlocked bodies.
    for kind in [LockKind::ObjectLockCompliance, LockKind::BucketRules] {
        let cfg = Config {
            lock: Some(RetentionLock { kind, days: 7 }),
            ..sample_locked()
        };
        assert_eq!(Config::decode(&cfg.encode(&k), &k).unwrap(), cfg);
    }
}

#[test]
fn bad_lock_is_corrupt() {
    let k = keys();
    let plain = Config {
        version: 2,
        ..sample()
    }
    .body();
    // Zero days, an unknown kind, and an explicit trailing byte junk.
    for tail in [&[0x00, 0x00][..], &[0x07, 0x01], &[0x02, 0x1e, 0x00]] {
        let mut body = plain.clone();
        body.extend_from_slice(tail);
        let sealed = envelope::seal(&k, ObjectType::Config, None, &body, None);
        let mut bytes = b"CAIRNCFG\x02\0\0\0".to_vec();
        bytes.extend_from_slice(&sealed);
        let err = Config::decode(&bytes, &k).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{tail:?}");
    }
}

#[test]
fn round_trip_and_peek() {
    let k = keys();
    for compression in [None, Some(-5), Some(19)] {
        let cfg = Config {
            compression,
            version: FORMAT_VERSION,
            ..sample()
        };
        let bytes = cfg.encode(&k);
        assert_eq!(&bytes[..12], b"CAIRNCFG\x02\0\0\0");
        assert_eq!(Config::peek_version(&bytes).unwrap(), FORMAT_VERSION);
        assert_eq!(Config::decode(&bytes, &k).unwrap(), cfg);
    }
    let stranger = MasterKey::from_bytes([1; 32]).derive();
    let err = Config::decode(&sample().encode(&k), &stranger).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
}

#[test]
fn unknown_version_is_refused_without_keys_work() {
    let k = keys();
    for v in [0, 4, u32::MAX] {
        let bytes = Config {
            version: v,
            ..sample()
        }
        .encode(&k);
        assert_eq!(Config::peek_version(&bytes).unwrap(), v);
        let err = Config::decode(&bytes, &k).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnsupportedVersion, "{v}");
        assert!(matches!(
            err,
            Error::UnsupportedVersion { found, supported: NEWEST_VERSION } if found == v
        ));
        // Even when the sealed body is garbage: the header decides first.
        let mut junk = bytes[..12].to_vec();
        junk.extend_from_slice(&[0; 50]);
        let err = Config::decode(&junk, &k).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnsupportedVersion);
    }
}

#[test]
fn header_and_sealed_version_must_agree() {
    let k = keys();
    // Both versions are supported; they still must agree.
    let mut bytes = sample().encode(&k);
    bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
    let err = Config::decode(&bytes, &k).unwrap_err();
    assert!(err.to_string().contains("differs"), "{err}");
}

#[test]
fn bad_magic_and_short_input_are_corrupt() {
    let good = sample().encode(&keys());
    for n in 0..12 {
        assert!(Config::peek_version(&good[..n]).is_err(), "{n}");
    }
    let mut bad = good.clone();
    bad[0] = b'X';
    assert_eq!(
        Config::peek_version(&bad).unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    assert!(Config::decode(&good[..12], &keys()).is_err());
}

#[test]
fn out_of_range_parameters_are_refused() {
    let k = keys();
    let chunkers = [
        (1 << 20, 1 << 20, 8 << 20), // min == avg
        (512 << 10, 8 << 20, 8 << 20),
        (32, 1 << 20, 8 << 20),
        (512 << 10, 1 << 20, 32 << 20),
        (512 << 10, 8 << 20, 16 << 20), // avg above fastcdc's 4 MiB
    ];
    for (min_size, avg_size, max_size) in chunkers {
        let chunker = ChunkerParams {
            min_size,
            avg_size,
            max_size,
        };
        assert!(chunker.validate().is_err(), "{chunker:?}");
        let bytes = Config {
            chunker,
            ..sample()
        }
        .encode(&k);
        assert!(Config::decode(&bytes, &k).is_err(), "{chunker:?}");
    }
    assert!(ChunkerParams::default().validate().is_ok());
    for pack_size in [0, (1 << 20) - 1, (1 << 30) + 1, u32::MAX] {
        let bytes = Config {
            pack_size,
            ..sample()
        }
        .encode(&k);
        assert!(Config::decode(&bytes, &k).is_err(), "{pack_size}");
    }
}

/// Version 3: the version-2 body with version byte 3, then the lock and
/// the shared chunking as postcard options (`00` no lock; `01`, the id key,
/// `80 10` and the 2048-byte gear table of the repository made from master
/// key 32 × 0x01).
#[test]
fn golden_v3_config_with_shared_chunking() {
    let k = keys();
    let other = MasterKey::from_bytes([1; 32]).derive();
    let v3 = Config {
        version: 3,
        chunking: Some(other.chunking_keys()),
        ..sample()
    };
    let body = v3.body();
    let v1 = postcard::to_allocvec(&sample()).unwrap();
    let mut expect = v1.clone();
    expect[17] = 3; // the version byte, after `10` and the 16-byte repo id
    expect.extend_from_slice(&[0x00, 0x01]);
    expect.extend_from_slice(&other.chunking_keys().id);
    expect.extend_from_slice(&[0x80, 0x10]);
    expect.extend(other.gear().iter().flat_map(|g| g.to_le_bytes()));
    assert_eq!(hex::encode(&body), hex::encode(&expect));
    assert_eq!(body.len(), v1.len() + 2 + 32 + 2 + 2048);
    assert_eq!(
        blake3::hash(&body).to_hex().as_str(),
        "4376a88fe5692fcae1df9f1516d8f12e459b9ae4c810c3aedbef2e369f029f88"
    );
    let bytes = v3.encode(&k);
    assert_eq!(&bytes[..12], b"CAIRNCFG\x03\0\0\0");
    assert_eq!(Config::decode(&bytes, &k).unwrap(), v3);
    // With a lock too, and with neither: every combination round-trips.
    let lock = RetentionLock {
        kind: LockKind::BucketRules,
        days: 9,
    };
    for cfg in [
        Config {
            lock: Some(lock),
            ..v3.clone()
        },
        Config {
            chunking: None,
            ..v3.clone()
        },
    ] {
        assert_eq!(Config::decode(&cfg.encode(&k), &k).unwrap(), cfg);
    }
    // A gear table of the wrong length, or trailing bytes, is corrupt.
    for tail in [&b"\x00\x01"[..], &[0x00, 0x00, 0x00]] {
        let mut bad = postcard::to_allocvec(&v3).unwrap();
        bad.extend_from_slice(tail);
        let sealed = envelope::seal(&k, ObjectType::Config, None, &bad, None);
        let mut bytes = b"CAIRNCFG\x03\0\0\0".to_vec();
        bytes.extend_from_slice(&sealed);
        assert_eq!(
            Config::decode(&bytes, &k).unwrap_err().kind(),
            ErrorKind::Corrupt
        );
    }
}
