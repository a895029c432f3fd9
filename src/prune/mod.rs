//! `prune`: frees the space of blobs no snapshot references, without ever
//! blocking a backup or being blocked by one.
//!
//! Deletion is two-phase (format-spec/12-prune.md). A prune *condemns* the
//! packs it would delete: the new index still lists them (so snapshots a
//! concurrent backup writes can still be read), but marks them so no
//! backup deduplicates against them. A later prune deletes a condemned pack
//! once the grace period has passed, unless a snapshot written since needs
//! it: then the pack is restored to life. Packs partly used are repacked
//! (their used blobs copied into new packs) and condemned the same way.
//!
//! Like restore it is plan, then execute: [`plan`] reads the snapshots and
//! the index cache and decides; [`execute`] writes new packs, then the new
//! index, and only then deletes. Prunes exclude each other through the
//! maintenance lock (`repo::lock`).

mod execute;
mod plan;
mod stray;
#[cfg(test)]
mod tests;

use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::repo::lock::{self, LockOptions};
use crate::repo::Repository;

pub use plan::{PackAction, PrunePlan};

/// Default grace period: condemned packs are deleted by the first prune at
/// least this long after condemnation. It must exceed the longest backup.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 60 * 60);
/// Default `max_unused`: repack a pack once more than this share of its
/// bytes is unused.
pub const DEFAULT_MAX_UNUSED: f64 = 0.10;

/// How a prune decides and acts.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    /// Repack partly used packs whose unused share of bytes is above this
    /// (0.0..=1.0; 1.0 never repacks).
    pub max_unused: f64,
    /// Repack at most this many bytes of used blobs (download and upload).
    pub max_repack_bytes: Option<u64>,
    /// How long a pack stays condemned before it may be deleted. Zero
    /// deletes at once: only safe when no backup is running.
    pub grace: Duration,
    /// Plan and report, change nothing (takes no lock).
    pub dry_run: bool,
    /// "Now" in Unix seconds; `None` reads the clock. Tests move time.
    pub now: Option<i64>,
    pub lock: LockOptions,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            max_unused: DEFAULT_MAX_UNUSED,
            max_repack_bytes: None,
            grace: DEFAULT_GRACE,
            dry_run: false,
            now: None,
            lock: LockOptions::default(),
        }
    }
}

/// Requests a run makes (or would make), by pricing class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RequestCounts {
    /// PUT and LIST (S3/R2 "class A").
    pub writes_lists: u64,
    /// GET (S3/R2 "class B").
    pub reads: u64,
    /// DELETE (free on S3 and R2, counted apart).
    pub deletes: u64,
}

/// What a prune found and did (or, dry, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneReport {
    pub dry_run: bool,
    pub snapshots: u64,
    /// Blobs the snapshots reference.
    pub used_blobs: u64,
    pub packs_total: u64,
    pub bytes_total: u64,
    pub packs_kept: u64,
    /// Packs deleted now, and the bytes that frees.
    pub packs_deleted: u64,
    pub bytes_freed: u64,
    /// Packs newly condemned (freed by a later prune after the grace period).
    pub packs_condemned: u64,
    pub bytes_condemned: u64,
    /// Condemned packs still within their grace period.
    pub packs_waiting: u64,
    /// Condemned packs a snapshot needs again, restored to life.
    pub packs_restored: u64,
    /// Packs whose used blobs are copied into new packs.
    pub packs_repacked: u64,
    /// Stored packs no index names (interrupted backups or prunes).
    pub packs_unindexed: u64,
    /// Indexed packs missing from storage (dropped from the index).
    pub packs_missing: u64,
    pub bytes_to_download: u64,
    pub bytes_to_upload: u64,
    pub packs_written: u64,
    pub index_files_written: u64,
    pub index_files_deleted: u64,
    /// Requests of the execution phase (the plan's own reads are extra).
    pub requests: RequestCounts,
    /// Temporary files older than a day that killed writers left: removed
    /// (or, dry, to remove).
    pub stray_temp_files: crate::check::stray::StrayReport,
}

/// What an interrupted prune says: the step it stopped at, and that every
/// step is crash-safe (format-spec/12-prune.md), so nothing is half done.
fn stopped(step: &str) -> String {
    format!(
        "prune stopped {step}; the repository is consistent and the next prune finishes the work"
    )
}

/// Prunes the repository; see the module docs.
pub fn prune(
    repo: &Repository,
    opts: &PruneOptions,
    progress: &dyn Progress,
) -> Result<PruneReport> {
    if !(0.0..=1.0).contains(&opts.max_unused) {
        return Err(Error::Usage(
            "max unused must be between 0% and 100%".into(),
        ));
    }
    let guard = if opts.dry_run {
        None
    } else {
        Some(lock::acquire(repo, "prune", opts.lock)?)
    };
    if let Some(dead) = guard.as_ref().and_then(|g| g.took_over()) {
        progress.warn(&format!(
            "took over the maintenance lock {}: that process is gone",
            lock::describe(dead)
        ));
    }
    // The index as of now, not as of opening: the plan must see every
    // index file written before the lock was taken.
    repo.sync_index()?;
    let result = plan::plan(repo, opts, progress).and_then(|plan| {
        crate::progress::check_cancelled(progress, || {
            stopped("after planning, before any change")
        })?;
        let mut report = plan.report(repo, opts);
        if let Some(guard) = &guard {
            execute::execute(repo, &plan, guard, &mut report, progress)?;
        }
        report.stray_temp_files = stray::sweep(repo, opts)?;
        Ok(report)
    });
    let _ = repo.cache().prune_end();
    let released = guard.map(|g| g.release());
    let report = result?;
    if let Some(r) = released {
        r?;
    }
    Ok(report)
}
