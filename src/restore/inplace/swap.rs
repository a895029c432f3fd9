//! The safety snapshot and the swap: the live files about to be replaced
//! are backed up first (tag `pre-restore`), then each staged file is
//! renamed over its destination. A rename is atomic, so whatever happens a
//! destination is the old file or the new one, never a mix; each directory
//! is synced after its renames.
//!
//! A database's `-wal`/`-shm`/`-journal` companions are removed just before its new
//! file is renamed into place, not after: a crash in between then leaves
//! the old database without its companions (a database SQLite opens; the
//! rows that were only in the `-wal` are in the safety snapshot), never
//! the new file beside a stale `-wal` that the next opener would replay
//! into it.

use std::path::PathBuf;

use crate::backup::{backup, BackupOptions};
use crate::error::{Error, Result};
use crate::ids::SnapshotId;
use crate::progress::Progress;
use crate::repo::Repository;
use crate::restore::inplace::journal::sync_dir;
use crate::restore::inplace::{db, InPlacePlan, InPlaceReport, Steps};
use crate::source::fs::{FsOptions, FsSource};

/// The tag of the safety snapshot.
pub const SAFETY_TAG: &str = "pre-restore";

/// Backs up the destinations that exist now; `None` when none does.
/// Nothing is replaced without a copy: a file the backup could not read
/// fails the restore.
pub fn safety_snapshot(
    repo: &Repository,
    plan: &InPlacePlan,
    progress: &dyn Progress,
) -> Result<Option<SnapshotId>> {
    let paths: Vec<PathBuf> = plan
        .entries
        .iter()
        .filter(|e| e.dest.symlink_metadata().is_ok())
        .map(|e| e.dest.clone())
        .collect();
    if paths.is_empty() {
        return Ok(None);
    }
    let mut source = FsSource::new(FsOptions {
        paths,
        ..Default::default()
    })?;
    let opts = BackupOptions {
        tags: vec![SAFETY_TAG.to_string()],
        ..Default::default()
    };
    let r = backup(repo, &mut source, &opts, progress)?;
    if let Some((path, why)) = r.skipped.first() {
        return Err(Error::file(
            "safety snapshot of the file to replace",
            path,
            std::io::Error::other(format!("{why}; nothing was replaced")),
        ));
    }
    r.snapshot_id
        .map(Some)
        .ok_or_else(|| Error::Internal("the safety snapshot stored nothing".into()))
}

/// Renames every staged file that is still staged over its destination.
/// A stop request is honoured between two renames: the rest stays staged
/// and rerunning the command finishes.
pub fn swap(
    plan: &InPlacePlan,
    progress: &dyn Progress,
    steps: &mut dyn Steps,
    report: &mut InPlaceReport,
) -> Result<()> {
    let mut done_now = 0;
    for e in &plan.entries {
        match e.staged.symlink_metadata() {
            Ok(_) => {}
            // Renamed into place by an earlier, interrupted run.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                report.files_swapped += 1;
                continue;
            }
            Err(err) => return Err(Error::file("staged file", &e.staged, err)),
        }
        if progress.cancelled() {
            return Err(Error::Interrupted(format!(
                "{} of {} files are in place, the rest is still staged: run the same \
                 command again to finish",
                report.files_swapped,
                plan.entries.len()
            )));
        }
        if plan.staging.files[e.file].database || db::is_database(&e.staged) {
            let removed = db::remove_companions(&e.dest)
                .map_err(|err| Error::file("stale -wal/-shm of the database", &e.dest, err))?;
            report.companions_removed.extend(removed);
        }
        std::fs::rename(&e.staged, &e.dest)
            .map_err(|err| Error::file("staged file to put in place", &e.dest, err))?;
        sync_dir(e.dest.parent().unwrap_or(std::path::Path::new("/")))?;
        report.files_swapped += 1;
        done_now += 1;
        steps.reached(&format!("swap:{done_now}"));
    }
    Ok(())
}
