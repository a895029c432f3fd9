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
//! Running backups are visible through their markers (`repo::marker`):
//! no pack condemned after a running backup started is deleted, whatever
//! the grace period, and a pack is never deleted in the run that condemns
//! it. A zero grace period therefore runs twice: condemn, then delete what
//! no running backup may rely on.
//!
//! Like restore it is plan, then execute: [`plan`] reads the markers, the
//! snapshots and the index cache and decides; [`execute`] writes new packs,
//! then the new index, and only then deletes. Prunes exclude each other
//! through the maintenance lock (`repo::lock`).

mod condemned_names;
mod execute;
mod extend;
mod id_lists;
mod locked;
#[cfg(test)]
mod locked_tests;
mod plan;
#[cfg(test)]
mod refused_tests;
mod running;
mod stray;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod unnamed_tests;

use std::time::Duration;

use serde::Serialize;

pub use extend::{extend_lock, ExtendOptions, ExtendReport};

use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::repo::lock::{self, LockOptions};
use crate::repo::Repository;

pub use plan::{PackAction, PrunePlan};
pub use running::RunningBackup;

/// Default grace period: condemned packs are deleted by the first prune at
/// least this long after condemnation. Backups that write markers are
/// protected whatever it is; it still protects backups of older versions,
/// which write none, if it exceeds the longest backup.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 60 * 60);
/// Default `max_unused`: repack a pack once more than this share of its
/// bytes is unused.
pub const DEFAULT_MAX_UNUSED: f64 = 0.10;

/// "Now" as tests set it: the hidden `CAIRN_TEST_PRUNE_CLOCK_OFFSET`
/// (seconds to add to the clock), read by the command line and the
/// service alike, so a test can see condemned packs come due.
#[doc(hidden)]
pub fn test_clock() -> Option<i64> {
    let offset: i64 = std::env::var("CAIRN_TEST_PRUNE_CLOCK_OFFSET")
        .ok()?
        .parse()
        .ok()?;
    Some(crate::time::now().0.secs.saturating_add(offset))
}

/// How a prune decides and acts.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    /// Repack partly used packs whose unused share of bytes is above this
    /// (0.0..=1.0; 1.0 never repacks).
    pub max_unused: f64,
    /// Repack at most this many bytes of used blobs (download and upload).
    pub max_repack_bytes: Option<u64>,
    /// How long a pack stays condemned before it may be deleted. Zero
    /// condemns and then, in a second pass, deletes what no running backup
    /// may rely on.
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
    /// Condemned packs past their grace period kept because a backup that
    /// may rely on them is running (format-spec/12-prune.md).
    pub packs_kept_for_backups: u64,
    pub bytes_kept_for_backups: u64,
    /// "N packs kept because a backup is running on HOST since T".
    pub kept_for_backups_reason: Option<String>,
    /// Backups whose markers were fresh when the (last) plan was made.
    pub running_backups: Vec<RunningBackup>,
    #[serde(skip)]
    pub running_summary: Option<String>,
    /// Markers of killed backups (expired) that this run deletes.
    pub markers_expired: u64,
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
    /// The grace period condemned packs wait, in seconds.
    pub grace_secs: u64,
    /// Bytes of the condemned packs still within their grace period.
    pub bytes_waiting: u64,
    /// When a prune can delete the first of the packs condemned now or
    /// still waiting (none when nothing waits), RFC 3339 in local time.
    pub next_free_after: Option<String>,
    /// The same instant in Unix seconds.
    pub next_free_after_unix: Option<i64>,
    /// Condemned packs past their grace period kept because their retention
    /// (Object Lock or a bucket-lock rule) has not passed.
    pub packs_locked: u64,
    /// Superseded index files kept stored for the same reason.
    pub index_files_locked: u64,
    /// Packs due for deletion whose DELETE the storage refused (403) in a
    /// repository with a retention lock: a bucket-lock rule longer than the
    /// repository records (`repo lock-rules --check`). Still stored, still
    /// condemned; a later prune deletes them once the storage allows.
    pub packs_refused: u64,
    /// Superseded index files whose DELETE was refused the same way.
    pub index_files_refused: u64,
}

impl PruneReport {
    /// Fills in what waits for the grace period and when a prune frees it:
    /// without this, a prune that only condemned looks like one that freed
    /// nothing (and wrote an index) for no reason.
    fn note_waiting(&mut self, plan: &PrunePlan) {
        let grace = plan.grace_secs;
        self.grace_secs = grace.max(0) as u64;
        if grace == 0 {
            return;
        }
        let mut first: Option<i64> = None;
        let mut note = |since: i64| {
            let at = since.saturating_add(grace);
            first = Some(first.map_or(at, |f| f.min(at)));
        };
        for p in &plan.packs {
            match p.action {
                PackAction::Wait => {
                    self.bytes_waiting += p.usage.size;
                    note(p.usage.condemned_since.unwrap_or(plan.now));
                }
                PackAction::Condemn | PackAction::Repack => note(plan.now),
                _ => {}
            }
        }
        for (_, size, since, action) in &plan.unindexed {
            match action {
                PackAction::Wait => {
                    self.bytes_waiting += size;
                    note(since.unwrap_or(plan.now));
                }
                PackAction::Condemn => note(plan.now),
                _ => {}
            }
        }
        self.next_free_after_unix = first;
        self.next_free_after = first.map(|secs| {
            crate::time::rfc3339_local(crate::format::tree::Timestamp { secs, nanos: 0 })
        });
    }
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
    let result = run_passes(repo, opts, guard.as_ref(), progress).and_then(|mut report| {
        // A running backup's pack may be staged in a temp file it has not
        // touched for a day (a long walk of unchanged files): only files
        // last written before every running backup started are removed.
        let oldest = report
            .running_backups
            .iter()
            .map(|b| b.started_unix.unwrap_or(i64::MIN))
            .min();
        report.stray_temp_files = stray::sweep(repo, opts, oldest)?;
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

/// One pass, or two with a zero grace period: the packs the first condemns
/// are deleted by the second, which lists markers and snapshots again after
/// the condemnations are stored (a pack is never deleted by the pass that
/// condemns it). A dry run predicts the second pass.
fn run_passes(
    repo: &Repository,
    opts: &PruneOptions,
    guard: Option<&lock::LockGuard>,
    progress: &dyn Progress,
) -> Result<PruneReport> {
    // The index as of now, not as of opening: the plan must see every
    // index file written before the lock was taken.
    repo.sync_index()?;
    let plan = plan::plan(repo, opts, progress)?;
    crate::progress::check_cancelled(progress, || stopped("after planning, before any change"))?;
    let mut report = plan.report(repo, opts);
    report.note_waiting(&plan);
    report.packs_locked = plan.locked_packs;
    let Some(guard) = guard else {
        if opts.grace.is_zero() {
            predict_second_pass(&mut report, &plan);
        }
        return Ok(finish_report(report));
    };
    let since = execute::execute(repo, &plan, guard, &mut report, progress)?;
    if let (true, Some(since)) = (opts.grace.is_zero(), since) {
        if report.packs_condemned > 0 {
            let now = opts.now.unwrap_or_else(|| crate::time::now().0.secs);
            let second_opts = PruneOptions {
                now: Some(now.max(since)),
                ..opts.clone()
            };
            repo.sync_index()?;
            let plan = plan::plan(repo, &second_opts, progress)?;
            crate::progress::check_cancelled(progress, || {
                stopped("after condemning, before the second pass deleted anything")
            })?;
            let mut second = plan.report(repo, &second_opts);
            second.packs_locked = plan.locked_packs;
            execute::execute(repo, &plan, guard, &mut second, progress)?;
            report = merge(report, second);
        }
    }
    Ok(finish_report(report))
}

/// A dry run's forecast for a zero grace period: what it condemns, the
/// second pass deletes, unless a running backup may rely on it.
fn predict_second_pass(r: &mut PruneReport, plan: &PrunePlan) {
    if plan.running.protects(plan.now) {
        r.packs_kept_for_backups += r.packs_condemned;
        r.bytes_kept_for_backups += r.bytes_condemned;
    } else {
        r.packs_deleted += r.packs_condemned;
        r.bytes_freed += r.bytes_condemned;
        r.requests.deletes += r.packs_condemned;
    }
    r.packs_condemned = 0;
    r.bytes_condemned = 0;
}

/// The report of both passes: the first's view of the repository, both
/// passes' work, the second's decisions about what stays.
fn merge(first: PruneReport, second: PruneReport) -> PruneReport {
    PruneReport {
        packs_deleted: first.packs_deleted + second.packs_deleted,
        bytes_freed: first.bytes_freed + second.bytes_freed,
        packs_condemned: (first.packs_condemned + second.packs_condemned)
            .saturating_sub(second.packs_deleted),
        bytes_condemned: (first.bytes_condemned + second.bytes_condemned)
            .saturating_sub(second.bytes_freed),
        packs_waiting: second.packs_waiting,
        packs_restored: first.packs_restored + second.packs_restored,
        packs_repacked: first.packs_repacked + second.packs_repacked,
        bytes_to_download: first.bytes_to_download + second.bytes_to_download,
        bytes_to_upload: first.bytes_to_upload + second.bytes_to_upload,
        packs_written: first.packs_written + second.packs_written,
        index_files_written: first.index_files_written + second.index_files_written,
        index_files_deleted: first.index_files_deleted + second.index_files_deleted,
        requests: RequestCounts {
            writes_lists: first.requests.writes_lists + second.requests.writes_lists,
            reads: first.requests.reads + second.requests.reads,
            deletes: first.requests.deletes + second.requests.deletes,
        },
        packs_kept_for_backups: second.packs_kept_for_backups,
        bytes_kept_for_backups: second.bytes_kept_for_backups,
        running_backups: second.running_backups,
        running_summary: second.running_summary,
        markers_expired: first.markers_expired + second.markers_expired,
        packs_kept: second.packs_kept,
        packs_locked: second.packs_locked,
        index_files_locked: first.index_files_locked + second.index_files_locked,
        packs_refused: first.packs_refused + second.packs_refused,
        index_files_refused: first.index_files_refused + second.index_files_refused,
        ..first
    }
}

fn finish_report(mut r: PruneReport) -> PruneReport {
    if r.packs_kept_for_backups > 0 {
        if let Some(who) = &r.running_summary {
            r.kept_for_backups_reason = Some(format!(
                "{} packs kept because {who}",
                r.packs_kept_for_backups
            ));
        }
    }
    r
}
