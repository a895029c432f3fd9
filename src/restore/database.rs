//! After a database snapshot is written: remove the `-wal`, `-shm` and
//! `-journal` left next to it (the next opener would replay a stale `-wal`
//! into the restored file, or roll a stale journal back into it), then
//! check what was written (`quick_check`). A database that fails is
//! reported like a file that could not be restored (16-database.md).
//!
//! In a fresh target a database is checked as soon as its last chunk is
//! written ([`EarlyChecks`]), beside the writes still going on: checked
//! after them, a 435 MB database left one core busy and the other idle for
//! the last 0.6 s of a 3.7 s restore.

use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Mutex;

use rayon::prelude::*;

use crate::restore::execute::RestoreReport;
use crate::restore::plan::Plan;
use crate::source::sqlite::{self, CheckLevel};

/// The databases of a plan that may be finished as soon as they are
/// written, and what finishing them found.
pub(super) struct EarlyChecks {
    eligible: HashSet<usize>,
    done: Mutex<HashMap<usize, Option<String>>>,
}

impl EarlyChecks {
    /// Only in a fresh target: there no original can be set aside with its
    /// `-wal` beside it (removing that early would lose its commits if the
    /// restore then stopped). A database with a companion among the plan's
    /// files waits for the end, so the companion is written before it is
    /// removed, as it would be then.
    pub(super) fn new(plan: &Plan, fresh: bool) -> Self {
        let mut eligible = HashSet::new();
        if fresh {
            let companions: HashSet<&[u8]> = plan
                .files
                .iter()
                .filter_map(|f| sqlite::companion_of(f.path.as_os_str().as_bytes()))
                .collect();
            eligible = (plan.files.iter().enumerate())
                .filter(|(_, f)| f.database && !companions.contains(f.path.as_os_str().as_bytes()))
                .map(|(i, _)| i)
                .collect();
        }
        EarlyChecks {
            eligible,
            done: Mutex::default(),
        }
    }

    /// Whether file `i` is finished early: asked first, so a restore's
    /// other files cost a set lookup, not a look at its errors.
    pub(super) fn wants(&self, i: usize) -> bool {
        self.eligible.contains(&i)
    }

    /// Called once the last chunk of file `i` (at `path`) is written.
    pub(super) fn written(&self, i: usize, path: &Path) {
        if self.wants(i) {
            let found = finish_one(path);
            tracing::debug!(path = %path.display(), ok = found.is_none(), "database checked as soon as written");
            let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
            done.insert(i, found);
        }
    }

    fn into_results(self) -> HashMap<usize, Option<String>> {
        self.done.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

/// Finishes every database file the restore wrote (not those it could not,
/// nor those it found already right: see [`live_changes`]), taking what
/// `early` found for those it finished already.
pub(super) fn finish(plan: &Plan, target: &Path, report: &mut RestoreReport, early: EarlyChecks) {
    let early = early.into_results();
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
        .map(|(i, f)| match early.get(&i) {
            Some(found) => (i, found.clone()),
            None => (i, finish_one(&target.join(&f.path))),
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restore::PlannedFile;

    fn file(path: &str, database: bool) -> PlannedFile {
        PlannedFile {
            path: path.into(),
            size: 0,
            content: Vec::new(),
            meta: Default::default(),
            link_of: None,
            database,
        }
    }

    fn plan(files: Vec<PlannedFile>) -> Plan {
        Plan {
            files,
            ..Default::default()
        }
    }

    /// Only a fresh target's databases are finished early, and not one
    /// whose companion the same plan writes (it must be removed after).
    #[test]
    fn early_checks_only_in_a_fresh_target_and_without_planned_companions() {
        let p = plan(vec![
            file("a/app.db", true),
            file("a/app.db-wal", false),
            file("b/other.db", true),
            file("b/notes.txt", false),
        ]);
        let early = EarlyChecks::new(&p, true);
        assert_eq!(early.eligible, HashSet::from([2]));
        assert!(EarlyChecks::new(&p, false).eligible.is_empty());
    }

    /// What an early check found is what the restore reports: a damaged
    /// database fails, checked once, when its last chunk was written.
    #[test]
    fn an_early_check_is_the_one_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("bad.db"),
            b"SQLite format 3\0 and then junk",
        )
        .unwrap();
        let db = rusqlite::Connection::open(dir.path().join("good.db")).unwrap();
        db.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        drop(db);
        let p = plan(vec![file("bad.db", true), file("good.db", true)]);
        let early = EarlyChecks::new(&p, true);
        early.written(0, &dir.path().join("bad.db"));
        // Replaced after its check: the early verdict stands.
        std::fs::copy(dir.path().join("good.db"), dir.path().join("bad.db")).unwrap();
        early.written(1, &dir.path().join("good.db"));
        let mut report = RestoreReport::default();
        finish(&p, dir.path(), &mut report, early);
        assert_eq!(report.databases_checked, 2);
        assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
        assert!(
            report.errors[0].0.ends_with("bad.db"),
            "{:?}",
            report.errors
        );
    }
}
