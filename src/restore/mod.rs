//! Restore: plan what to create from a snapshot's trees, then execute the
//! plan. Execution creates directories and special files first, then writes
//! file content grouped by pack, so each pack is read once however many
//! files share it, with packs processed in parallel and every write
//! positioned (no ordering between packs). Holes stay holes: all-zero chunks
//! are skipped on files pre-sized with `set_len`. Metadata is applied last,
//! directories deepest first, so writing into a directory does not disturb
//! its restored mtime.
//!
//! Safety: every name comes from a tree that [`crate::format::tree::Tree`]
//! validated (no `..`, `/`, NUL or empty names), paths are only ever joined
//! below the target, and files are opened with `O_NOFOLLOW` and directories
//! checked not to be symlinks, so nothing is written outside the target.

mod batches;
pub mod bucket;
mod database;
mod dry;
mod execute;
mod fsmeta;
pub mod inplace;
mod pieces;
mod plan;
mod planner;
mod prepare;
mod verify;
mod write;

pub use execute::{execute, DiskFull, Overwrite, RestoreReport};
pub use plan::{plan, plan_batches, Limit, LinkOf, Plan, PlannedFile, Selection};

use std::path::PathBuf;

use crate::error::Result;
use crate::ids::TreeId;
use crate::progress::Progress;
use crate::repo::Repository;

/// How to restore.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    pub target: PathBuf,
    pub selection: Selection,
    pub overwrite: Overwrite,
    /// Re-read every restored file and check it against the snapshot.
    pub verify: bool,
    /// Parallel pack readers; defaults to the CPU count.
    pub threads: Option<usize>,
    /// Plan and report, write nothing.
    pub dry_run: bool,
}

impl RestoreOptions {
    pub fn new(target: impl Into<PathBuf>) -> Self {
        RestoreOptions {
            target: target.into(),
            selection: Selection::default(),
            overwrite: Overwrite::Never,
            verify: false,
            threads: None,
            dry_run: false,
        }
    }
}

/// Restores the tree `root` (a snapshot's `tree`) as `opts` says, planned
/// and executed a batch at a time so memory does not grow with the number
/// of files (`CAIRN_TEST_RESTORE_BATCH`, a number of files, sets a smaller
/// batch for tests).
pub fn restore(
    repo: &Repository,
    root: TreeId,
    opts: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreReport> {
    batches::restore(repo, root, opts, progress, batches::limit())
}
