//! Removing the temporary files killed writers left (see `check::stray`):
//! only those older than a day, which no running writer can still own.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::check::stray::{old_strays, tally, StrayReport};
use crate::error::Result;
use crate::prune::PruneOptions;
use crate::repo::Repository;

/// Removes the old leftovers (a dry run only counts them); with backups
/// running, only those last written before `running_since` (Unix seconds,
/// the oldest running backup's start), which none of them can own. Returns
/// what was (or would be) removed.
pub(super) fn sweep(
    repo: &Repository,
    opts: &PruneOptions,
    running_since: Option<i64>,
) -> Result<StrayReport> {
    let now = match opts.now {
        Some(secs) => UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64),
        None => SystemTime::now(),
    };
    let mut strays = old_strays(repo, now)?;
    if let Some(since) = running_since {
        let since = UNIX_EPOCH + Duration::from_secs(since.max(0) as u64);
        strays.retain(|s| s.modified < since);
    }
    if !opts.dry_run {
        for s in &strays {
            repo.storage().remove_stray(s)?;
        }
    }
    Ok(tally(&strays))
}
