//! The repository config: `magic || version || sealed(body)`. The version is
//! readable without the password, so a reader refuses an unknown format with
//! a clear message before asking for anything.

use serde::{Deserialize, Serialize};

use crate::crypto::Keys;
use crate::error::{Error, Result};
use crate::format::envelope::{self, ObjectType};
use crate::format::FORMAT_VERSION;

pub const MAGIC: &[u8; 8] = b"CAIRNCFG";

/// Content-defined chunking limits, validated here because the chunker crate
/// only debug-asserts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkerParams {
    pub min_size: u32,
    pub avg_size: u32,
    pub max_size: u32,
}

impl Default for ChunkerParams {
    fn default() -> Self {
        ChunkerParams {
            min_size: 512 * 1024,
            avg_size: 1024 * 1024,
            max_size: 8 * 1024 * 1024,
        }
    }
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
            && self.min_size % 2 == 0
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

    pub fn encode(&self, keys: &Keys) -> Vec<u8> {
        let body = postcard::to_allocvec(self).expect("postcard encoding to a Vec cannot fail");
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&envelope::seal(keys, ObjectType::Config, None, &body, None));
        out
    }

    pub fn decode(bytes: &[u8], keys: &Keys) -> Result<Self> {
        let version = Self::peek_version(bytes)?;
        if version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let body = envelope::open(keys, ObjectType::Config, None, &bytes[12..], None)?;
        let cfg: Config = postcard::from_bytes(&body).map_err(|e| Error::corrupt("config", e))?;
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
