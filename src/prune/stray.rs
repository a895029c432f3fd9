//! Removing the temporary files killed writers left (see `check::stray`):
//! only those older than a day, which no running writer can still own.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::check::stray::{old_strays, tally, StrayReport};
use crate::error::Result;
use crate::prune::PruneOptions;
use crate::repo::Repository;

/// Removes the old leftovers (a dry run, or `remove` false while a backup
/// runs, only counts them); returns what was (or would be) removed.
pub(super) fn sweep(repo: &Repository, opts: &PruneOptions, remove: bool) -> Result<StrayReport> {
    let now = match opts.now {
        Some(secs) => UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64),
        None => SystemTime::now(),
    };
    let strays = old_strays(repo, now)?;
    if remove && !opts.dry_run {
        for s in &strays {
            repo.storage().remove_stray(s)?;
        }
    }
    Ok(tally(&strays))
}
