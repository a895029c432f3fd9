//! Preparing the files of a restore: deciding, per file, whether it is
//! written, linked, kept or already right, and creating multi-chunk files at
//! their final size. An existing file being replaced is moved aside, not
//! deleted, until its new content is in place.

use std::fs::OpenOptions;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::repo::Repository;
use crate::restore::execute::{Overwrite, RestoreReport};
use crate::restore::verify::file_matches;
use crate::restore::{LinkOf, Plan, PlannedFile, RestoreOptions};

/// What to do with one planned file.
enum Prepared {
    /// Created empty at its final size; its content is to be written.
    Write,
    /// Nothing to write (an empty file).
    Done,
    /// A hard link to an earlier file, made once that file is written.
    Link,
    /// Already has the right content.
    Unchanged,
    /// Exists and differs, and `--overwrite never` keeps it.
    Kept,
    /// A directory stands where the file goes.
    InTheWay,
}

/// Files to write, and hard links to make once their first name is written.
pub(super) struct PreparedSet {
    pub(super) write: Vec<usize>,
    pub(super) links: Vec<usize>,
}

/// Decides which files to write and creates multi-chunk ones empty at their
/// final size (so unwritten ranges are holes), in parallel. In a target that
/// was empty when the restore started nothing can be in the way, so the
/// per-file existence checks are skipped. A hard link is made only when its
/// first name will be restored; otherwise it gets its own copy.
pub(super) fn prepare_files(
    repo: &Repository,
    plan: &Plan,
    opts: &RestoreOptions,
    fresh: bool,
    asides: &Mutex<Vec<(usize, PathBuf)>>,
    report: &mut RestoreReport,
) -> PreparedSet {
    let mut set = PreparedSet {
        write: Vec::new(),
        links: Vec::new(),
    };
    let firsts: Vec<(usize, Result<Prepared>)> = plan
        .files
        .par_iter()
        .enumerate()
        .filter(|(_, f)| f.link_of.is_none())
        .map(|(i, f)| (i, prepare_one(repo, (i, f), opts, fresh, false, asides)))
        .collect();
    let mut restored = vec![false; plan.files.len()];
    for (i, outcome) in firsts {
        restored[i] = matches!(
            outcome,
            Ok(Prepared::Write | Prepared::Done | Prepared::Unchanged)
        );
        record(&mut set, report, plan, i, outcome);
    }
    for (i, f) in plan.files.iter().enumerate() {
        let as_link = match &f.link_of {
            None => continue,
            Some(LinkOf::Planned(first)) => restored[*first],
            // An earlier batch restored it.
            Some(LinkOf::Restored(_)) => true,
        };
        let outcome = prepare_one(repo, (i, f), opts, fresh, as_link, asides);
        record(&mut set, report, plan, i, outcome);
    }
    set
}

fn record(
    set: &mut PreparedSet,
    report: &mut RestoreReport,
    plan: &Plan,
    i: usize,
    outcome: Result<Prepared>,
) {
    let path = &plan.files[i].path;
    match outcome {
        Ok(Prepared::Write) => set.write.push(i),
        Ok(Prepared::Done) => {}
        Ok(Prepared::Link) => set.links.push(i),
        Ok(Prepared::Unchanged) => {
            report.files_unchanged += 1;
            report.unchanged.insert(i);
        }
        Ok(Prepared::Kept) => {
            report.not_overwritten.push(path.clone());
            report.not_written.insert(i);
        }
        Ok(Prepared::InTheWay) => report.fail(i, path, "a directory is in the way", false),
        Err(e) => {
            report.note_disk_full(&e);
            report.fail(i, path, &e.to_string(), false)
        }
    }
}

fn prepare_one(
    repo: &Repository,
    (i, f): (usize, &PlannedFile),
    opts: &RestoreOptions,
    fresh: bool,
    as_link: bool,
    asides: &Mutex<Vec<(usize, PathBuf)>>,
) -> Result<Prepared> {
    let dest = opts.target.join(&f.path);
    if !fresh {
        if let Ok(m) = std::fs::symlink_metadata(&dest) {
            if m.is_dir() {
                return Ok(Prepared::InTheWay);
            }
            let same = m.is_file() && file_matches(repo, &dest, &f.content, f.size)?;
            if same && opts.overwrite != Overwrite::Always && !as_link {
                // Already right: only its metadata is applied again.
                return Ok(Prepared::Unchanged);
            }
            if !same && opts.overwrite == Overwrite::Never {
                return Ok(Prepared::Kept);
            }
            let aside = aside_name(&dest);
            std::fs::rename(&dest, &aside).map_err(|e| Error::io(&dest, e))?;
            asides
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((i, aside));
        }
    }
    if as_link {
        return Ok(Prepared::Link);
    }
    if f.content.len() == 1 {
        // Created, written and closed in one go while its pack is read.
        return Ok(Prepared::Write);
    }
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&dest)
        .map_err(|e| Error::io(&dest, e))?;
    if f.size > 0 {
        file.set_len(f.size).map_err(|e| Error::io(&dest, e))?;
    }
    Ok(if f.content.is_empty() {
        Prepared::Done
    } else {
        Prepared::Write
    })
}

/// Settles the files a restore replaced: each old file was moved aside
/// rather than deleted, so that a failed write (damaged data, a full disk)
/// never costs the user the copy they had. The old file goes back where the
/// new one failed and is removed where it succeeded. A crash in between
/// leaves it under its hidden `.NAME.cairn-replaced-*` name.
pub(super) fn settle_replaced(
    plan: &Plan,
    target: &Path,
    asides: Vec<(usize, PathBuf)>,
    report: &mut RestoreReport,
) {
    for (i, aside) in asides {
        let dest = target.join(&plan.files[i].path);
        let outcome = if report.not_written.contains(&i) {
            let _ = std::fs::remove_file(&dest);
            std::fs::rename(&aside, &dest)
        } else {
            report.files_overwritten += 1;
            std::fs::remove_file(&aside)
        };
        if let Err(e) = outcome {
            report.warnings.push(format!(
                "{}: could not settle the replaced copy {}: {e}",
                dest.display(),
                aside.display()
            ));
        }
    }
}

/// A free hidden name next to `dest` to keep a replaced file under.
fn aside_name(dest: &Path) -> PathBuf {
    let name = dest.file_name().map(|n| n.as_bytes()).unwrap_or(b"file");
    let mut aside = b".".to_vec();
    aside.extend_from_slice(name);
    aside.extend_from_slice(format!(".cairn-replaced-{:016x}", rand::random::<u64>()).as_bytes());
    dest.with_file_name(std::ffi::OsStr::from_bytes(&aside))
}
