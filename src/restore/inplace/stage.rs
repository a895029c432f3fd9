//! Staging: every selected file is restored into its staging directory by
//! the ordinary restore machinery (a plan whose paths point there), then
//! each staged database passes `quick_check` and every staged file is read
//! back and compared with the snapshot's chunk ids. Nothing live is touched
//! until all of that succeeded; on any failure the staging is removed.

use std::collections::HashSet;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::repo::Repository;
use crate::restore::inplace::{db, InPlacePlan, InPlaceReport};
use crate::restore::{execute, verify, Overwrite, RestoreOptions};

/// Creates the missing directories and empty staging directories; returns
/// the directories it created.
pub fn prepare_dirs(plan: &InPlacePlan) -> Result<Vec<PathBuf>> {
    let mut created = Vec::new();
    for (dir, _) in &plan.dirs_to_create {
        match std::fs::create_dir(dir) {
            Ok(()) => created.push(dir.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                remove_created(&created);
                return Err(Error::file("directory to restore into", dir, e));
            }
        }
    }
    for dir in &plan.staging_dirs {
        remove_dir(dir)?;
        // Private until the swap: only the rename makes a file visible.
        let made = std::fs::DirBuilder::new().mode(0o700).create(dir);
        if let Err(e) = made {
            remove_staging(plan);
            remove_created(&created);
            return Err(Error::file("staging directory", dir, e));
        }
    }
    Ok(created)
}

/// Restores every file into staging and checks it. Problems go to
/// `report.errors` (and `report.damaged`); `Ok(true)` when there were none.
pub fn stage(
    repo: &Repository,
    plan: &InPlacePlan,
    threads: Option<usize>,
    progress: &dyn Progress,
    report: &mut InPlaceReport,
) -> Result<bool> {
    let opts = RestoreOptions {
        target: PathBuf::from("/"),
        overwrite: Overwrite::Always,
        threads,
        ..RestoreOptions::new("/")
    };
    let r = execute(repo, &plan.staging, &opts, progress)?;
    report.warnings.extend(r.warnings);
    report.damaged += r.damaged;
    report.databases_checked += r.databases_checked;
    report
        .errors
        .extend(r.errors.into_iter().map(|(p, e)| (dest_of(plan, &p), e)));
    if !report.errors.is_empty() {
        return Ok(false);
    }
    check_databases(plan, report)?;
    if !report.errors.is_empty() {
        return Ok(false);
    }
    verify_staged(repo, plan, report)?;
    Ok(report.errors.is_empty())
}

/// Reads every staged file back and compares it with the snapshot.
pub fn verify_staged(
    repo: &Repository,
    plan: &InPlacePlan,
    report: &mut InPlaceReport,
) -> Result<()> {
    let failures = verify::verify(repo, &plan.staging, Path::new("/"), &HashSet::new())?;
    report.errors.extend(
        failures
            .into_iter()
            .map(|(p, e)| (dest_of(plan, &p), format!("staged copy: {e}"))),
    );
    Ok(())
}

/// `quick_check` on every staged file that is a database but was stored as
/// a plain file (the restore machinery checked the database nodes).
fn check_databases(plan: &InPlacePlan, report: &mut InPlaceReport) -> Result<()> {
    for e in &plan.entries {
        if plan.staging.files[e.file].database || !db::is_database(&e.staged) {
            continue;
        }
        report.databases_checked += 1;
        match db::quick_check(&e.staged) {
            Ok(None) => {}
            Ok(Some(lines)) => report.errors.push((
                e.dest.clone(),
                format!("staged database fails quick_check: {lines}"),
            )),
            Err(err) => report.errors.push((e.dest.clone(), err.to_string())),
        }
    }
    Ok(())
}

/// The destination a staged path (absolute, or relative to `/`) stands for.
fn dest_of(plan: &InPlacePlan, staged: &Path) -> PathBuf {
    let staged_rel = staged.strip_prefix("/").unwrap_or(staged);
    plan.entries
        .iter()
        .find(|e| e.staged.strip_prefix("/").ok() == Some(staged_rel))
        .map_or_else(|| Path::new("/").join(staged_rel), |e| e.dest.clone())
}

/// Removes every staging directory of `plan` (the journal last); errors
/// are ignored: this is the clean-up after another failure or the end.
pub fn remove_staging(plan: &InPlacePlan) {
    for dir in plan.staging_dirs.iter().skip(1) {
        let _ = remove_dir(dir);
    }
    if let Some(first) = plan.staging_dirs.first() {
        let _ = remove_dir(first);
    }
}

/// Removes directories this restore created, deepest first, if empty.
pub fn remove_created(created: &[PathBuf]) {
    for dir in created.iter().rev() {
        let _ = std::fs::remove_dir(dir);
    }
}

fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::file("staging directory", dir, e)),
    }
}
