//! Restore into a bucket: plan the objects (keys, sizes, chunks, HTTP
//! metadata) from the snapshot's trees with the directory restore's
//! selection, then write them with a bounded number of uploads in flight,
//! each streamed from the repository chunk by chunk.
//!
//! Overwrite protection: by default an existing object is never replaced.
//! A single-PUT object is written create-only (`If-None-Match: *`, one
//! request whatever the outcome); a server that does not implement that
//! (HTTP 501) makes the rest of the run HEAD each key first. A multipart
//! object is always HEADed first (parts are costly to send for nothing),
//! and its CompleteMultipartUpload is create-only too, so an object
//! created after the HEAD is kept (501 there: the same fallback).
//! `if-changed` replaces an object unless it holds the snapshot's content:
//! same size and either the same ETag as the source object recorded in the
//! snapshot, or (read back and compared chunk by chunk) the same bytes.
//! Objects left alone are counted and listed.
//!
//! `--verify` re-reads every object that should now hold the snapshot's
//! content (uploaded, unchanged or left alone) and compares it with the
//! snapshot's chunk ids ([`compare`]): a mismatch names the key.

mod compare;
mod execute;
mod plan;
mod upload;

pub use execute::restore_to_bucket;
pub use plan::{plan_objects, BucketPlan, PlannedObject};

use serde::Serialize;

use crate::restore::{Overwrite, Selection};
use crate::storage::s3::ObjectStats;
use crate::storage::stats::WireStats;

/// How to restore into a bucket.
#[derive(Debug, Clone)]
pub struct BucketRestoreOptions {
    pub selection: Selection,
    pub overwrite: Overwrite,
    pub verify: bool,
    /// Decide (HEAD requests only), write nothing.
    pub dry_run: bool,
    /// Objects in flight at once.
    pub uploads: usize,
}

/// One object that could not be restored or verified.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct KeyError {
    pub key: String,
    pub error: String,
}

/// What a bucket restore did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BucketRestoreReport {
    /// The target location (no secrets are part of it).
    pub target: String,
    pub dry_run: bool,
    /// Objects selected.
    pub objects: u64,
    /// Written (in a dry run: would be written).
    pub objects_uploaded: u64,
    /// Existing objects left alone (`--overwrite never`), listed in `skipped`.
    pub objects_skipped: u64,
    /// Existing objects that already held the content (`if-changed`).
    pub objects_unchanged: u64,
    pub objects_failed: u64,
    /// Body bytes of the objects written.
    pub bytes_uploaded: u64,
    pub skipped: Vec<String>,
    /// Objects not restored and why (selected files that cannot be
    /// objects are here too, under their snapshot path).
    pub errors: Vec<KeyError>,
    /// How many of `errors` are damaged or missing repository data.
    pub damaged: u64,
    /// Whether existing objects were protected by create-only writes
    /// (`false`: by a HEAD before each write).
    pub create_only_writes: bool,
    pub verified: bool,
    pub objects_verified: u64,
    pub verify_failures: Vec<KeyError>,
    /// Requests to the target by kind, and by billing class.
    pub requests: ObjectStats,
    pub requests_by_class: WireStats,
}

impl BucketRestoreReport {
    /// Did every selected object end up as the snapshot has it?
    pub fn is_complete(&self) -> bool {
        self.errors.is_empty() && self.skipped.is_empty() && self.verify_failures.is_empty()
    }
}
