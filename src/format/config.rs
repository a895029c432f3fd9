//! The repository config: `magic || version || sealed(body)`. The version is
//! readable without the password, so a reader refuses an unknown format with
//! a clear message before asking for anything.

use serde::{Deserialize, Serialize};

use crate::crypto::Keys;
use crate::error::{Error, Result};
use crate::format::envelope::{self, ObjectType};
use crate::format::{is_supported, FORMAT_VERSION};

pub const MAGIC: &[u8; 8] = b"CAIRNCFG";

/// Content-defined chunking limits, validated here because the chunker crate
/// only debug-asserts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkerParams {
    pub min_size: u32,
    pub avg_size: u32,
    pub max_size: u32,
}

/// Defaults: 256 KiB / 512 KiB / 4 MiB. FastCDC's real average lands well
/// above `avg_size` (about 1.4 MB at a 1 MiB setting on database files), and
/// every changed 4 KiB database page re-uploads its whole chunk, so smaller
/// chunks keep incremental backups of live databases small. The index grows
/// accordingly, which the SQLite cache absorbs.
impl Default for ChunkerParams {
    fn default() -> Self {
        ChunkerParams {
            min_size: 256 * 1024,
            avg_size: 512 * 1024,
            max_size: 4 * 1024 * 1024,
        }
    }
}

impl ChunkerParams {
    /// The format's first defaults (512 KiB / 1 MiB / 8 MiB, as restic), kept
    /// for the golden vectors and the golden repository made with them.
    pub const V1_LARGE: ChunkerParams = ChunkerParams {
        min_size: 512 * 1024,
        avg_size: 1024 * 1024,
        max_size: 8 * 1024 * 1024,
    };
}

impl ChunkerParams {
    /// The ranges fastcdc's v2020 chunker supports, min < avg < max, and an
    /// even minimum (the crate scans in byte pairs from min/2, so an odd
    /// minimum could cut one byte short of it).
    pub fn validate(&self) -> Result<()> {
        use fastcdc::v2020::{
            AVERAGE_MAX, AVERAGE_MIN, MAXIMUM_MAX, MAXIMUM_MIN, MINIMUM_MAX, MINIMUM_MIN,
        };
        let ok = (MINIMUM_MIN..=MINIMUM_MAX).contains(&self.min_size)
            && (AVERAGE_MIN..=AVERAGE_MAX).contains(&self.avg_size)
            && (MAXIMUM_MIN..=MAXIMUM_MAX).contains(&self.max_size)
            && self.min_size.is_multiple_of(2)
            && self.min_size < self.avg_size
            && self.avg_size < self.max_size;
        if ok {
            Ok(())
        } else {
            Err(Error::corrupt(
                "config",
                format!("chunker parameters out of range: {self:?}"),
            ))
        }
    }
}

/// The sealed part of the config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Random, names the local cache directory.
    #[serde(with = "serde_bytes")]
    pub repo_id: Vec<u8>,
    pub version: u32,
    pub chunker: ChunkerParams,
    /// Target size of a data pack in bytes.
    pub pack_size: u32,
    /// zstd level for new blobs; `None` stores them uncompressed.
    pub compression: Option<i32>,
    /// How immutable objects are protected from deletion, if at all. Encoded
    /// after the other fields only when set, so configs written before it
    /// existed decode unchanged as "no lock" (09-config.md).
    #[serde(skip)]
    pub lock: Option<RetentionLock>,
}

/// Retention the storage enforces on immutable objects (packs, index files,
/// snapshots, key files, config): prune and forget delete such an object only
/// once its retention has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionLock {
    pub kind: LockKind,
    /// Retention of a new object, in days.
    pub days: u32,
}

/// Who enforces the retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockKind {
    /// S3 Object Lock in compliance mode: nobody, not even the account's
    /// root, can shorten it or delete the object before it ends.
    ObjectLockCompliance,
    /// S3 Object Lock in governance mode: a principal allowed
    /// `s3:BypassGovernanceRetention` can still delete (an escape hatch).
    ObjectLockGovernance,
    /// Prefix and age rules set on the bucket outside the S3 API
    /// (Cloudflare R2 bucket locks); the age counts from the upload.
    BucketRules,
}

impl RetentionLock {
    /// The longest retention accepted (100 years): longer is a typo.
    pub const MAX_DAYS: u32 = 36_500;

    pub fn validate(&self) -> Result<()> {
        if (1..=Self::MAX_DAYS).contains(&self.days) {
            Ok(())
        } else {
            Err(Error::corrupt(
                "config",
                format!("lock retention of {} days is out of range", self.days),
            ))
        }
    }

    /// Is it S3 Object Lock (retention set per object through the API)?
    pub fn is_object_lock(&self) -> bool {
        self.kind != LockKind::BucketRules
    }

    pub fn seconds(&self) -> i64 {
        i64::from(self.days) * 86_400
    }
}

impl Config {
    /// Reads just the version, without keys.
    pub fn peek_version(bytes: &[u8]) -> Result<u32> {
        if bytes.len() < 12 || &bytes[..8] != MAGIC {
            return Err(Error::corrupt("config", "bad magic"));
        }
        Ok(u32::from_le_bytes(
            bytes[8..12].try_into().expect("4 bytes"),
        ))
    }

    /// The sealed body: the fields in order, then the lock when set.
    pub fn body(&self) -> Vec<u8> {
        let mut body = postcard::to_allocvec(self).expect("postcard encoding to a Vec cannot fail");
        if let Some(lock) = &self.lock {
            body.extend(postcard::to_allocvec(lock).expect("encoding to a Vec cannot fail"));
        }
        body
    }

    /// Decodes [`Config::body`], canonically.
    fn from_body(body: &[u8]) -> Result<Self> {
        let (mut cfg, rest) =
            postcard::take_from_bytes::<Config>(body).map_err(|e| Error::corrupt("config", e))?;
        if !rest.is_empty() {
            let lock: RetentionLock = crate::format::decode_exact(rest, "config lock")?;
            lock.validate()?;
            cfg.lock = Some(lock);
        }
        if cfg.body() != body {
            return Err(Error::corrupt("config", "not in canonical encoding"));
        }
        Ok(cfg)
    }

    pub fn encode(&self, keys: &Keys) -> Vec<u8> {
        let body = self.body();
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&envelope::seal(keys, ObjectType::Config, None, &body, None));
        out
    }

    pub fn decode(bytes: &[u8], keys: &Keys) -> Result<Self> {
        let version = Self::peek_version(bytes)?;
        if !is_supported(version) {
            return Err(Error::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let body = envelope::open(keys, ObjectType::Config, None, &bytes[12..], None)?;
        let cfg = Self::from_body(&body)?;
        if cfg.version != version {
            return Err(Error::corrupt(
                "config",
                "sealed version differs from the header",
            ));
        }
        cfg.chunker.validate()?;
        if !(1024 * 1024..=1024 * 1024 * 1024).contains(&cfg.pack_size) {
            return Err(Error::corrupt("config", "pack size out of range"));
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKey;
    use crate::error::ErrorKind;

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
        for v in [0, 3, u32::MAX] {
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
                Error::UnsupportedVersion { found, supported: FORMAT_VERSION } if found == v
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
}
