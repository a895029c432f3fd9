//! Temporary files a killed writer left in the repository (`kill -9`, a
//! power cut): harmless, but invisible to every listing, so without this
//! they would take space forever. `check` reports those older than
//! [`STRAY_AGE`]; `prune` removes them (`prune::stray`).

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::check::Problem;
use crate::error::Result;
use crate::repo::Repository;
use crate::storage::Stray;

/// Leftovers younger than this may belong to a running writer (a backup
/// filling a pack); older ones cannot.
pub const STRAY_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// How many leftovers, and their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StrayReport {
    pub count: u64,
    pub bytes: u64,
}

/// The leftovers older than [`STRAY_AGE`] at `now`.
pub fn old_strays(repo: &Repository, now: SystemTime) -> Result<Vec<Stray>> {
    let mut strays = repo.storage().strays()?;
    strays.retain(|s| s.older_than(STRAY_AGE, now));
    Ok(strays)
}

/// Counts `strays`.
pub fn tally(strays: &[Stray]) -> StrayReport {
    StrayReport {
        count: strays.len() as u64,
        bytes: strays.iter().map(|s| s.size).sum(),
    }
}

/// Adds a warning for old leftovers to `problems`; returns their tally
/// (`None` when there are none).
pub(super) fn report(
    repo: &Repository,
    problems: &mut Vec<Problem>,
) -> Result<Option<StrayReport>> {
    let strays = old_strays(repo, SystemTime::now())?;
    if strays.is_empty() {
        return Ok(None);
    }
    let t = tally(&strays);
    problems.push(Problem::warning(
        "temporary files",
        format!(
            "{} stray temporary files ({:.1} MiB) older than a day, left by interrupted writes; \
             `cairn prune` removes them",
            t.count,
            t.bytes as f64 / (1024.0 * 1024.0)
        ),
    ));
    Ok(Some(t))
}
