//! What the last `check --read-data` found, kept in the local cache
//! directory so `repair snapshots` without `--read-data` (which cannot see
//! damage inside packs) can say what it is not seeing instead of claiming
//! that nothing is damaged. A record names the repository's location too: a
//! copied repository has the same id and must not inherit it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use cairn::check::{CheckReport, SnapshotStatus};
use cairn::repo::Repository;

use crate::cli::args::Global;

/// One check's verdict on the snapshots.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastCheck {
    pub location: String,
    /// Unix seconds when the check ended.
    pub time: i64,
    /// Only a subset of the packs was read.
    pub subset: bool,
    /// Ids (hex) of the snapshots it found damaged or unreadable.
    pub damaged_snapshots: Vec<String>,
}

fn path(g: &Global, repo: &Repository) -> Option<PathBuf> {
    let root = g
        .cache_dir
        .clone()
        .or_else(cairn::repo::default_cache_root)?;
    Some(
        root.join(hex::encode(&repo.config().repo_id))
            .join("last-check.json"),
    )
}

/// Records what a check that read pack data found. Best effort: a check
/// does not fail because its note could not be written.
pub fn record(g: &Global, repo: &Repository, report: &CheckReport, subset: bool) {
    let (Some(path), Ok((location, _))) = (path(g, repo), crate::cli::open::location(g)) else {
        return;
    };
    let damaged_snapshots = report
        .damage
        .iter()
        .flat_map(|d| &d.snapshots)
        .filter(|s| s.status != SnapshotStatus::Intact)
        .map(|s| s.id.to_hex())
        .collect();
    let rec = LastCheck {
        location,
        time: cairn::time::now().0.secs,
        subset,
        damaged_snapshots,
    };
    if let Ok(bytes) = serde_json::to_vec(&rec) {
        let tmp = path.with_extension("json.tmp");
        if std::fs::write(&tmp, bytes).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
}

/// The last recorded check of this repository at this location, if any.
pub fn load(g: &Global, repo: &Repository) -> Option<LastCheck> {
    let bytes = std::fs::read(path(g, repo)?).ok()?;
    let rec: LastCheck = serde_json::from_slice(&bytes).ok()?;
    let (location, _) = crate::cli::open::location(g).ok()?;
    (rec.location == location).then_some(rec)
}
