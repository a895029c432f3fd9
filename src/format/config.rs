//! The repository config: `magic || version || sealed(body)`. The version is
//! readable without the password, so a reader refuses an unknown format with
//! a clear message before asking for anything.

use serde::{Deserialize, Serialize};

use zeroize::Zeroize;

use crate::crypto::{ChunkingKeys, Keys};
use crate::error::{Error, Result};
use crate::format::envelope::{self, ObjectType};
use crate::format::{is_supported, NEWEST_VERSION, SHARED_CHUNKING_VERSION};

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
    /// Another repository's id key and gear table, used instead of the ones
    /// the master key derives (`init --copy-chunking-from`): copies between
    /// the two keep every blob id. Only in version-3 configs.
    #[serde(skip)]
    pub chunking: Option<ChunkingKeys>,
}

/// Field 7 on the wire: the id key, then the gear table as 2048 bytes with
/// their varint length, as a put-only key's bundle holds them (18-put-only.md).
#[derive(Serialize, Deserialize)]
struct ChunkingWire {
    id_key: [u8; 32],
    #[serde(with = "serde_bytes")]
    gear: Vec<u8>,
}

impl ChunkingWire {
    fn of(c: &ChunkingKeys) -> Self {
        ChunkingWire {
            id_key: c.id,
            gear: c.gear.iter().flat_map(|g| g.to_le_bytes()).collect(),
        }
    }

    fn into_keys(mut self) -> Result<ChunkingKeys> {
        if self.gear.len() != 256 * 8 {
            return Err(Error::corrupt(
                "config",
                "shared gear table has the wrong length",
            ));
        }
        let mut gear = Box::new([0u64; 256]);
        for (g, b) in gear.iter_mut().zip(self.gear.chunks_exact(8)) {
            *g = u64::from_le_bytes(b.try_into().expect("chunks_exact(8)"));
        }
        self.gear.zeroize();
        let id = self.id_key;
        self.id_key.zeroize();
        Ok(ChunkingKeys { id, gear })
    }
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

    /// The sealed body: the fields in order, then, in versions 1 and 2, the
    /// lock when set; in version 3, the lock and the shared chunking as two
    /// postcard options. Shared chunking in an older version is refused by
    /// `Repository::init`, never written.
    pub fn body(&self) -> Vec<u8> {
        fn enc<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
            postcard::to_allocvec(v).expect("postcard encoding to a Vec cannot fail")
        }
        let mut body = enc(self);
        if self.version >= SHARED_CHUNKING_VERSION {
            body.extend(enc(&(
                self.lock,
                self.chunking.as_ref().map(ChunkingWire::of),
            )));
        } else if let Some(lock) = &self.lock {
            body.extend(enc(lock));
        }
        body
    }

    /// Decodes [`Config::body`], canonically.
    fn from_body(body: &[u8]) -> Result<Self> {
        let (mut cfg, rest) =
            postcard::take_from_bytes::<Config>(body).map_err(|e| Error::corrupt("config", e))?;
        if cfg.version >= SHARED_CHUNKING_VERSION {
            let (lock, chunking): (Option<RetentionLock>, Option<ChunkingWire>) =
                crate::format::decode_exact(rest, "config lock and chunking")?;
            if let Some(lock) = &lock {
                lock.validate()?;
            }
            cfg.lock = lock;
            cfg.chunking = chunking.map(ChunkingWire::into_keys).transpose()?;
        } else if !rest.is_empty() {
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
                supported: NEWEST_VERSION,
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
#[path = "config_tests.rs"]
mod tests;
