//! A directory restore a batch at a time: the walk plans up to a
//! [`Limit`] of files and chunks, the batch is executed (directories and
//! files created, content written, links made, files' metadata applied,
//! verified when asked), its report folded into the whole one, and the
//! walk goes on. Only the directories outlive their batch, one entry each:
//! their metadata is applied at the end, deepest first, as for a whole plan.
//!
//! Progress totals grow as batches are planned (`Progress::start` again
//! with the totals so far) rather than costing a second walk of the trees.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::format::tree::Meta;
use crate::ids::TreeId;
use crate::progress::Progress;
use crate::repo::Repository;
use crate::restore::execute::{apply_dir_meta, is_fresh, pool, run, stopped};
use crate::restore::write::{is_disk_full, WINDOW_CHUNKS};
use crate::restore::{dry, plan_batches, verify, Limit, Plan, RestoreOptions, RestoreReport};

/// Files (and other entries) in one batch: about 250 bytes each while it
/// runs, so a batch costs about 16 MiB however large the snapshot. Not
/// fewer: a batch's packs are written one per task, and 16,384 small files
/// fill only about 4 packs, too few to keep the pool busy (a restore of
/// 100,000 files took 1.6× as long as with 65,536, benches/MILLION-RESULTS.md).
const BATCH_ENTRIES: usize = 65_536;

/// The batch limit: [`BATCH_ENTRIES`] entries and one write window of
/// chunks, or `CAIRN_TEST_RESTORE_BATCH` entries (tests).
pub(super) fn limit() -> Limit {
    let entries = std::env::var("CAIRN_TEST_RESTORE_BATCH")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(BATCH_ENTRIES);
    Limit {
        entries,
        chunks: WINDOW_CHUNKS,
    }
}

/// Restores `root` as `opts` says, `limit` at a time.
pub(super) fn restore(
    repo: &Repository,
    root: TreeId,
    opts: &RestoreOptions,
    progress: &dyn Progress,
    limit: Limit,
) -> Result<RestoreReport> {
    let mut run = Batches {
        repo,
        opts,
        progress,
        pool: pool(opts)?,
        fresh: is_fresh(&opts.target),
        report: RestoreReport::default(),
        dirs: Vec::new(),
        planned: (0, 0),
        stop: None,
    };
    let walked = plan_batches(repo, root, &opts.selection, limit, &mut |plan, last| {
        run.batch(plan, last)
    });
    run.finish(walked)
}

struct Batches<'a> {
    repo: &'a Repository,
    opts: &'a RestoreOptions,
    progress: &'a dyn Progress,
    pool: rayon::ThreadPool,
    /// Was the target empty when the restore started?
    fresh: bool,
    report: RestoreReport,
    /// Every directory created, parents first, for its metadata at the end.
    dirs: Vec<(PathBuf, Meta)>,
    /// Files and bytes planned so far.
    planned: (u64, u64),
    /// A stop request ended the restore: how many files it left unwritten,
    /// and whether the walk had planned every file.
    stop: Option<(usize, bool)>,
}

impl Batches<'_> {
    /// Executes one batch; returns the indexes of its files not restored.
    fn batch(&mut self, plan: Plan, last: bool) -> Result<Vec<usize>> {
        self.planned.0 += plan.files.len() as u64;
        self.planned.1 += plan.total_bytes;
        let (files, bytes) = self.planned;
        self.progress.start("restore", Some(files), Some(bytes));
        let mut r = RestoreReport::default();
        r.errors.extend(plan.refused.iter().cloned());
        if self.report.disk_full.is_some() {
            // The disk filled up in an earlier batch: nothing more is written.
            return Ok(self.not_started(plan, r));
        }
        if self.progress.cancelled() {
            // A stop request between batches: this one is not started.
            self.stop = Some((plan.files.len(), last));
            self.report.absorb(r);
            return Err(Error::Interrupted(String::new()));
        }
        let (repo, opts) = (self.repo, self.opts);
        if opts.dry_run {
            dry::dry_run(repo, &plan, opts, &mut r)?;
        } else {
            let (fresh, progress) = (self.fresh, self.progress);
            let interrupted = match self
                .pool
                .install(|| run(repo, &plan, opts, fresh, progress, &mut r))
            {
                Ok(interrupted) => interrupted,
                // A directory of this batch could not be made for want of
                // space (earlier batches are written): reported as a full
                // disk met while writing, not as a bare error.
                Err(e) if is_disk_full(&e) => {
                    r.note_disk_full(&e);
                    let made = plan
                        .dirs
                        .iter()
                        .filter(|(rel, _)| opts.target.join(rel).is_dir());
                    self.dirs.extend(made.cloned());
                    return Ok(self.not_started(plan, r));
                }
                Err(e) => return Err(e),
            };
            if let Some(incomplete) = interrupted {
                self.stop = Some((incomplete, last));
            } else if opts.verify {
                r.verify_failures = verify::verify(repo, &plan, &opts.target, &r.not_written)?;
            }
            self.dirs.extend(plan.dirs);
        }
        let not_restored = r.not_written.iter().copied().collect();
        self.report.absorb(r);
        if self.stop.is_some() {
            // Ends the walk; `finish` says how far the restore got.
            return Err(Error::Interrupted(String::new()));
        }
        Ok(not_restored)
    }

    /// Reports every entry of a batch not started because the disk is full.
    fn not_started(&mut self, plan: Plan, mut r: RestoreReport) -> Vec<usize> {
        let why = "not restored: the disk is full";
        let files = plan.files.len();
        let others = plan.others.into_iter().map(|(p, _)| p);
        let paths = plan.files.into_iter().map(|f| f.path).chain(others);
        r.errors.extend(paths.map(|p| (p, why.to_string())));
        self.report.absorb(r);
        (0..files).collect()
    }

    /// Applies the directories' metadata (also after a failure: the
    /// directories exist) and says how the restore ended.
    fn finish(mut self, walked: Result<()>) -> Result<RestoreReport> {
        apply_dir_meta(&self.opts.target, &self.dirs, &mut self.report);
        self.report.verified = self.opts.verify && !self.opts.dry_run;
        if let Some((incomplete, last)) = self.stop {
            let total = last.then_some(self.planned.0 as usize);
            return Err(stopped(&self.report, total, &self.opts.target, incomplete));
        }
        walked?;
        self.progress.finish();
        Ok(self.report)
    }
}

impl RestoreReport {
    /// Folds the report of one batch into the whole restore's. The sets of
    /// file indexes are per batch and are not kept.
    fn absorb(&mut self, b: RestoreReport) {
        self.files_restored += b.files_restored;
        self.files_unchanged += b.files_unchanged;
        self.dirs += b.dirs;
        self.others += b.others;
        self.bytes_written += b.bytes_written;
        self.files_overwritten += b.files_overwritten;
        self.dry_run |= b.dry_run;
        self.not_overwritten.extend(b.not_overwritten);
        self.errors.extend(b.errors);
        self.damaged += b.damaged;
        self.warnings.extend(b.warnings);
        self.disk_full = self.disk_full.take().or(b.disk_full);
        self.verify_failures.extend(b.verify_failures);
        self.databases_checked += b.databases_checked;
    }
}
