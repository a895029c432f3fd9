//! A dry run of a restore: what the plan would do to the target as it is
//! now. It asks the same questions as the real run (is the file there, is
//! its content already right, may it be replaced) but changes nothing, so
//! "would restore N files, X, M to overwrite, K kept" is what a real run
//! then does.

use std::path::Path;

use rayon::prelude::*;

use crate::error::Result;
use crate::repo::Repository;
use crate::restore::execute::{Overwrite, RestoreReport};
use crate::restore::verify::file_matches;
use crate::restore::{Plan, PlannedFile, RestoreOptions};

/// What a restore would do with one planned file.
enum Would {
    Create,
    Overwrite,
    Unchanged,
    Keep,
    /// A directory stands where the file goes.
    Fail,
}

/// Fills `report` with what restoring `plan` would do, writing nothing.
pub(super) fn dry_run(
    repo: &Repository,
    plan: &Plan,
    opts: &RestoreOptions,
    report: &mut RestoreReport,
) -> Result<()> {
    report.dry_run = true;
    let target = &opts.target;
    let fresh = std::fs::read_dir(target).map_or(true, |mut d| d.next().is_none());
    let outcomes: Vec<Result<Would>> = plan
        .files
        .par_iter()
        .map(|f| judge(repo, &target.join(&f.path), f, opts.overwrite, fresh))
        .collect();
    for (f, outcome) in plan.files.iter().zip(outcomes) {
        match outcome? {
            Would::Create | Would::Overwrite if f.link_of.is_some() => report.files_restored += 1,
            Would::Create => {
                report.files_restored += 1;
                report.bytes_written += f.size;
            }
            Would::Overwrite => {
                report.files_restored += 1;
                report.files_overwritten += 1;
                report.bytes_written += f.size;
            }
            Would::Unchanged => report.files_unchanged += 1,
            Would::Keep => report.not_overwritten.push(f.path.clone()),
            Would::Fail => report
                .errors
                .push((f.path.clone(), "a directory is in the way".into())),
        }
    }
    report.dirs = plan.dirs.len() as u64;
    report.others = plan.others.len() as u64;
    Ok(())
}

/// The decision `prepare` makes for a file, without acting on it.
fn judge(
    repo: &Repository,
    dest: &Path,
    f: &PlannedFile,
    overwrite: Overwrite,
    fresh: bool,
) -> Result<Would> {
    if fresh {
        return Ok(Would::Create);
    }
    let Ok(m) = std::fs::symlink_metadata(dest) else {
        return Ok(Would::Create);
    };
    if m.is_dir() {
        return Ok(Would::Fail);
    }
    let same = m.is_file() && file_matches(repo, dest, &f.content, f.size)?;
    Ok(match (same, overwrite) {
        (true, Overwrite::Always) => Would::Overwrite,
        (true, _) => Would::Unchanged,
        (false, Overwrite::Never) => Would::Keep,
        (false, _) => Would::Overwrite,
    })
}
