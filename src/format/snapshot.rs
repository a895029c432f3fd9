//! Snapshots: small sealed files naming a root tree plus who, when and what.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::format::tree::Timestamp;
use crate::ids::{SnapshotId, TreeId};

/// Counts recorded at the end of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Summary {
    pub files_new: u64,
    pub files_changed: u64,
    pub files_unchanged: u64,
    pub dirs: u64,
    /// Entries that could not be read and were left out.
    pub errors: u64,
    /// Total size of all files in the snapshot.
    pub total_bytes: u64,
    /// File content actually read from the source.
    pub bytes_read: u64,
    pub blobs_added: u64,
    /// Plaintext bytes of new blobs, and what they took after compression and sealing.
    pub bytes_added: u64,
    pub bytes_added_stored: u64,
    pub packs_added: u64,
    pub duration_ms: u64,
}

/// One snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub time: Timestamp,
    /// The local UTC offset when the snapshot was taken, for display and retention buckets.
    pub utc_offset_secs: i32,
    pub host: String,
    pub username: String,
    pub tags: Vec<String>,
    /// The absolute source paths as given (lossy UTF-8; used to find parents and filter).
    pub paths: Vec<String>,
    pub excludes: Vec<String>,
    pub parent: Option<SnapshotId>,
    pub tree: TreeId,
    /// Set on snapshots written by `repair snapshots`: the damaged original.
    pub original: Option<SnapshotId>,
    pub program: String,
    pub summary: Summary,
}

impl Snapshot {
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("postcard encoding to a Vec cannot fail")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        postcard::from_bytes(bytes).map_err(|e| Error::corrupt("snapshot", e))
    }
}
