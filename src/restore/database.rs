//! After a database snapshot is written: remove the `-wal`, `-shm` and
//! `-journal` left next to it (the next opener would replay a stale `-wal`
//! into the restored file, or roll a stale journal back into it), then
//! check what was written (`quick_check`). A database that fails is
//! reported like a file that could not be restored (16-database.md).

use std::path::Path;

use rayon::prelude::*;

use crate::restore::execute::RestoreReport;
use crate::restore::plan::Plan;
use crate::source::sqlite::{self, CheckLevel};

/// Finishes every database file the restore wrote (not those it could not,
/// nor those it found already right: see [`live_changes`]).
pub(super) fn finish(plan: &Plan, target: &Path, report: &mut RestoreReport) {
    for &i in &report.unchanged {
        let f = &plan.files[i];
        if f.database {
            if let Some(w) = live_changes(&target.join(&f.path)) {
                report.warnings.push(w);
            }
        }
    }
    let (not_written, unchanged) = (&report.not_written, &report.unchanged);
    let results: Vec<(usize, Option<String>)> = plan
        .files
        .par_iter()
        .enumerate()
        .filter(|(i, f)| f.database && !not_written.contains(i) && !unchanged.contains(i))
        .map(|(i, f)| (i, finish_one(&target.join(&f.path))))
        .collect();
    for (i, problem) in results {
        report.databases_checked += 1;
        if let Some(message) = problem {
            let path = target.join(&plan.files[i].path);
            report.errors.push((path, message));
        }
    }
}

/// A database the restore left as it was (its file already had the
/// snapshot's bytes) may have a `-wal` or `-journal` beside it holding a
/// running application's later commits. Removing it would lose them, and
/// corrupt the database under an application still writing to the removed
/// file: it is left alone, and the warning says how to replace it anyway.
fn live_changes(path: &Path) -> Option<String> {
    let companion = ["-wal", "-journal"].into_iter().find(|suffix| {
        std::fs::metadata(sqlite::companion_path(path, suffix)).is_ok_and(|m| m.len() > 0)
    })?;
    Some(format!(
        "{}: already has the snapshot's content, but its {companion} holds later changes; left as \
         it is (stop what writes to it and restore with --overwrite always to replace it)",
        path.display()
    ))
}

/// Why the restored database at `path` is not right, if it is not.
fn finish_one(path: &Path) -> Option<String> {
    if let Err(e) = sqlite::remove_stale_companions(path) {
        return Some(format!(
            "could not remove the stale -wal/-shm/-journal next to the restored database: {e}"
        ));
    }
    match sqlite::check_file(path, CheckLevel::Quick) {
        Ok(c) if c.ok => None,
        Ok(c) => Some(format!(
            "the restored database fails quick_check: {}",
            sqlite::report_summary(&c.report)
        )),
        Err(e) => Some(format!("the restored database cannot be checked: {e}")),
    }
}
