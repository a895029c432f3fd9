//! Two-phase in-place restore: put a snapshot's files back at their
//! original absolute paths, replacing the live ones, the way a service
//! restores its databases by hand.
//!
//! 1. **Stage** ([`stage`]): every selected file is restored into a hidden
//!    `.cairn-restore-<id>` directory beside its destination (same file
//!    system), databases pass `quick_check`, and every staged file is read
//!    back and compared with the snapshot. A failure leaves nothing live
//!    touched and the staging removed.
//! 2. **Protect** ([`swap::safety_snapshot`]): the files about to be
//!    replaced are backed up, tagged `pre-restore`; restoring that snapshot
//!    in place undoes the restore.
//! 3. **Swap** ([`swap::swap`]): the caller's `before_swap` (stop the
//!    service), each staged file renamed over its destination (atomic per
//!    file, directory synced), stale `-wal`/`-shm` removed, `after_swap`.
//!
//! A [`journal`] in the first staging directory records how far the
//! restore got: rerunning the same command after a crash or a stop reuses
//! the verified staging and the safety snapshot and finishes the swap.
//!
//! Scope: regular files (databases included), and the directories they
//! need, which are created. Symlinks, devices, fifos and sockets are left
//! out and listed; hard links become separate files; files at the
//! destination that the snapshot does not have are left alone.

mod db;
mod journal;
mod plan;
mod stage;
mod swap;

pub use journal::State;
pub use plan::{plan, Entry, InPlacePlan};
pub use swap::SAFETY_TAG;

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::ids::{SnapshotId, TreeId};
use crate::progress::Progress;
use crate::repo::Repository;
use crate::restore::Selection;
use journal::Journal;

/// What the caller does between the steps.
pub trait Steps {
    /// Runs once everything is staged, verified and backed up, before the
    /// first file is replaced (stop the service). An error stops the
    /// restore with nothing replaced.
    fn before_swap(&mut self) -> Result<()> {
        Ok(())
    }
    /// Runs after the swap whenever `before_swap` succeeded, whether every
    /// file was put in place (`complete`) or not (start the service again).
    fn after_swap(&mut self, _complete: bool) -> Result<()> {
        Ok(())
    }
    /// A step is done: `staged`, `snapshot`, `swap:N` (N files renamed).
    fn reached(&mut self, _step: &str) {}
}

/// No hooks.
pub struct NoSteps;
impl Steps for NoSteps {}

/// How to restore in place.
#[derive(Debug, Clone, Default)]
pub struct InPlaceOptions {
    pub selection: Selection,
    /// Plan and report, change nothing.
    pub dry_run: bool,
    /// Parallel pack readers for staging; defaults as for a restore.
    pub threads: Option<usize>,
}

/// One file of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedReplace {
    pub path: PathBuf,
    pub size: u64,
    /// `replace` an existing file or `create` a missing one.
    pub action: &'static str,
}

/// What an in-place restore did (or, in a dry run, would do).
#[derive(Debug, Default, Serialize)]
pub struct InPlaceReport {
    pub dry_run: bool,
    pub files: Vec<PlannedReplace>,
    pub staging_dirs: Vec<PathBuf>,
    pub dirs_created: Vec<PathBuf>,
    /// Selected entries that are not regular files, and why they were not restored.
    pub left_out: Vec<(PathBuf, String)>,
    /// The state an interrupted earlier run left, which this run continued.
    pub resumed: Option<String>,
    /// The `pre-restore` snapshot of the replaced files (`None`: none existed,
    /// or a dry run).
    pub safety_snapshot: Option<SnapshotId>,
    pub files_swapped: u64,
    pub databases_checked: u64,
    pub companions_removed: Vec<PathBuf>,
    /// Files that could not be staged or failed verification: nothing was replaced.
    pub errors: Vec<(PathBuf, String)>,
    /// How many of `errors` are damaged or missing repository data.
    pub damaged: u64,
    pub warnings: Vec<String>,
}

impl InPlaceReport {
    fn describe(plan: &InPlacePlan) -> Self {
        InPlaceReport {
            files: plan
                .entries
                .iter()
                .map(|e| PlannedReplace {
                    path: e.dest.clone(),
                    size: e.size,
                    action: if e.exists { "replace" } else { "create" },
                })
                .collect(),
            staging_dirs: plan.staging_dirs.clone(),
            dirs_created: plan.dirs_to_create.iter().map(|d| d.0.clone()).collect(),
            left_out: plan.left_out.clone(),
            warnings: plan
                .foreign_staging
                .iter()
                .map(|d| {
                    format!(
                        "{} was left by another, interrupted in-place restore: rerun that \
                         restore to finish it, or remove the directory",
                        d.display()
                    )
                })
                .collect(),
            ..Default::default()
        }
    }
}

/// Restores the files `opts` selects from snapshot `snapshot` (root tree
/// `root`) at their original paths. Staging or verification problems are
/// in the report's `errors` (nothing live was changed); an error return
/// says what state the restore left.
pub fn restore_in_place(
    repo: &Repository,
    snapshot: SnapshotId,
    root: TreeId,
    opts: &InPlaceOptions,
    steps: &mut dyn Steps,
    progress: &dyn Progress,
) -> Result<InPlaceReport> {
    let plan = plan::plan(repo, snapshot, root, &opts.selection)?;
    let mut report = InPlaceReport::describe(&plan);
    let Some(journal_path) = plan.journal_path() else {
        return Ok(report); // nothing selected
    };
    let found = journal::read(&journal_path)?.filter(|j| j.id == plan.id);
    report.resumed = found.as_ref().map(|j| j.state.name().to_string());
    if opts.dry_run {
        report.dry_run = true;
        report.safety_snapshot = found.and_then(|j| j.state.safety_snapshot());
        return Ok(report);
    }
    let Some(mut journal) = staged(repo, &plan, found, opts, progress, &mut report)? else {
        return Ok(report);
    };
    journal::write(&journal_path, &journal)?;
    steps.reached("staged");
    abandon_if_cancelled(&plan, &journal, progress, "")?;
    if journal.state == State::Staged {
        let id = swap::safety_snapshot(repo, &plan, progress).map_err(|e| {
            abandon(&plan, &journal);
            before_swap_error(e, "while taking the safety snapshot")
        })?;
        journal.state = State::Protected {
            safety_snapshot: id,
        };
        journal::write(&journal_path, &journal)?;
    }
    let safety = journal.state.safety_snapshot();
    report.safety_snapshot = safety;
    steps.reached("snapshot");
    let kept = safety.map_or(String::new(), |id| {
        format!("; the safety snapshot {} is kept", id.short())
    });
    abandon_if_cancelled(&plan, &journal, progress, &kept)?;
    if let Err(e) = steps.before_swap() {
        // A rerun that had swapped some files keeps the rest staged.
        if !matches!(journal.state, State::Swapping { .. }) {
            abandon(&plan, &journal);
        }
        return Err(e);
    }
    journal.state = State::Swapping {
        safety_snapshot: safety,
    };
    journal::write(&journal_path, &journal)?;
    let swapped = swap::swap(&plan, progress, steps, &mut report);
    let after = steps.after_swap(swapped.is_ok());
    swapped?;
    finish(&plan, &journal, &mut report);
    after.map(|()| report)
}

/// A verified staging for `plan`: the one an earlier run left (its journal
/// `found`) if it still verifies, else a fresh one. `None` when staging
/// failed (the problems are in `report`, the staging is removed).
fn staged(
    repo: &Repository,
    plan: &InPlacePlan,
    found: Option<Journal>,
    opts: &InPlaceOptions,
    progress: &dyn Progress,
    report: &mut InPlaceReport,
) -> Result<Option<Journal>> {
    if let Some(j) = found {
        if matches!(j.state, State::Swapping { .. }) {
            return Ok(Some(j));
        }
        stage::verify_staged(repo, plan, report)?;
        if report.errors.is_empty() {
            return Ok(Some(j));
        }
        // Changed or incomplete: stage again, keeping the safety snapshot
        // (nothing live was replaced yet).
        report.errors.clear();
        return fresh(repo, plan, j.state, opts, progress, report);
    }
    fresh(repo, plan, State::Staged, opts, progress, report)
}

fn fresh(
    repo: &Repository,
    plan: &InPlacePlan,
    state: State,
    opts: &InPlaceOptions,
    progress: &dyn Progress,
    report: &mut InPlaceReport,
) -> Result<Option<Journal>> {
    let journal = Journal {
        id: plan.id.clone(),
        snapshot: plan.snapshot,
        files: plan.entries.len(),
        created_dirs: stage::prepare_dirs(plan)?,
        state,
    };
    match stage::stage(repo, plan, opts.threads, progress, report) {
        Ok(true) => Ok(Some(journal)),
        Ok(false) => {
            abandon(plan, &journal);
            Ok(None)
        }
        Err(e) => {
            abandon(plan, &journal);
            Err(before_swap_error(e, "while staging"))
        }
    }
}

/// A stop request before the swap: the restore machinery's own message
/// (about its target) is replaced by what it means here.
fn before_swap_error(e: Error, when: &str) -> Error {
    match e {
        Error::Interrupted(_) => Error::Interrupted(format!(
            "{when}: nothing live was changed, the staging is removed"
        )),
        e => e,
    }
}

/// Before the swap: removes the staging and the directories created for it.
fn abandon(plan: &InPlacePlan, journal: &Journal) {
    stage::remove_staging(plan);
    stage::remove_created(&journal.created_dirs);
}

fn abandon_if_cancelled(
    plan: &InPlacePlan,
    journal: &Journal,
    progress: &dyn Progress,
    kept: &str,
) -> Result<()> {
    if progress.cancelled() {
        abandon(plan, journal);
        return Err(Error::Interrupted(format!(
            "before any file was replaced: nothing live was changed, the staging is removed{kept}"
        )));
    }
    Ok(())
}

/// After a complete swap: the created directories get the snapshot's
/// metadata (deepest first) and the staging goes.
fn finish(plan: &InPlacePlan, journal: &Journal, report: &mut InPlaceReport) {
    stage::remove_staging(plan);
    for (dir, meta) in plan.dirs_to_create.iter().rev() {
        if let (Some(meta), true) = (meta, journal.created_dirs.contains(dir)) {
            report.warnings.extend(crate::restore::fsmeta::apply(
                dir,
                meta,
                crate::restore::fsmeta::Via::Descriptor,
            ));
        }
    }
}
