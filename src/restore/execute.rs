//! Executing a restore plan against the target directory.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::format::index::BlobKind;
use crate::format::tree::{Node, NodeKind};
use crate::ids::{BlobId, PackId};
use crate::progress::Progress;
use crate::repo::{PackRead, Repository};
use crate::restore::verify::file_matches;
use crate::restore::{fsmeta, Plan, RestoreOptions};

/// What to do with a file that already exists in the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overwrite {
    /// Keep an existing file that differs, and say so.
    #[default]
    Never,
    /// Replace an existing file only if its content differs.
    IfChanged,
    /// Replace whatever is there.
    Always,
}

/// What a restore did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RestoreReport {
    pub files_restored: u64,
    /// Existing files that already had the right content.
    pub files_unchanged: u64,
    pub dirs: u64,
    pub others: u64,
    pub bytes_written: u64,
    /// Existing files that differ and were left alone (`--overwrite never`).
    pub not_overwritten: Vec<PathBuf>,
    /// Files that could not be restored (damaged or missing data, I/O).
    pub errors: Vec<(PathBuf, String)>,
    /// How many of `errors` are damaged or missing repository data.
    pub damaged: u64,
    pub warnings: Vec<String>,
    pub verified: bool,
    pub verify_failures: Vec<(PathBuf, String)>,
    /// Indexes into the plan's files that were not (re)written.
    #[serde(skip)]
    pub not_written: HashSet<usize>,
}

/// One chunk's destinations inside a pack.
struct Target {
    file: usize,
    offset: u64,
}

/// Runs the plan.
pub fn execute(
    repo: &Repository,
    plan: &Plan,
    opts: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreReport> {
    let mut report = RestoreReport::default();
    progress.start(
        "restore",
        Some(plan.files.len() as u64),
        Some(plan.total_bytes),
    );
    if opts.dry_run {
        report.files_restored = plan.files.len() as u64;
        report.dirs = plan.dirs.len() as u64;
        report.others = plan.others.len() as u64;
        return Ok(report);
    }
    let target = &opts.target;
    std::fs::create_dir_all(target).map_err(|e| Error::io(target, e))?;
    for (rel, _) in &plan.dirs {
        make_dir(&target.join(rel), opts.overwrite)?;
        report.dirs += 1;
    }
    let write = prepare_files(repo, plan, opts, &mut report)?;
    let errors = Mutex::new(Vec::new());
    write_content(repo, plan, target, &write, opts.threads, progress, &errors)?;
    let errors = errors.into_inner().unwrap_or_else(|p| p.into_inner());
    // A file whose data could not be read is removed, not left as zeros.
    let failed: HashSet<&PathBuf> = errors.iter().map(|(p, _)| p).collect();
    for (i, f) in plan.files.iter().enumerate() {
        if failed.contains(&f.path) {
            let _ = std::fs::remove_file(target.join(&f.path));
            report.not_written.insert(i);
        }
    }
    report.damaged = errors.len() as u64;
    report.errors.extend(errors);
    report.bytes_written = write
        .iter()
        .filter(|i| !report.not_written.contains(i))
        .map(|&i| plan.files[i].size)
        .sum();
    let mut warn = |w: String| report.warnings.push(w);
    for (i, f) in plan.files.iter().enumerate() {
        let Some(first) = f.link_of else { continue };
        let dest = target.join(&f.path);
        if report.not_written.contains(&i) {
            continue;
        }
        let _ = std::fs::remove_file(&dest);
        if let Err(e) = std::fs::hard_link(target.join(&plan.files[first].path), &dest) {
            warn(format!("hard link {}: {e}", dest.display()));
        }
    }
    for (rel, node) in &plan.others {
        if make_other(&target.join(rel), node, &mut warn)? {
            report.others += 1;
        }
    }
    for (i, f) in plan.files.iter().enumerate() {
        if !report.not_written.contains(&i) {
            fsmeta::apply(&target.join(&f.path), &f.meta, false, &mut warn)?;
        }
    }
    for (rel, node) in &plan.others {
        let p = target.join(rel);
        if std::fs::symlink_metadata(&p).is_ok() {
            let link = matches!(node.kind, NodeKind::Symlink { .. });
            fsmeta::apply(&p, &node.meta, link, &mut warn)?;
        }
    }
    for (rel, meta) in plan.dirs.iter().rev() {
        fsmeta::apply(&target.join(rel), meta, false, &mut warn)?;
    }
    report.files_restored =
        (plan.files.len() - report.not_written.len()) as u64 - report.files_unchanged;
    progress.finish();
    Ok(report)
}

/// Creates a directory unless it exists; never follows a symlink in its place.
fn make_dir(p: &Path, overwrite: Overwrite) -> Result<()> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) if overwrite == Overwrite::Always => {
            std::fs::remove_file(p).map_err(|e| Error::io(p, e))?;
            std::fs::create_dir(p).map_err(|e| Error::io(p, e))
        }
        Ok(_) => Err(Error::io(
            p,
            std::io::Error::other(
                "exists and is not a directory (use --overwrite always to replace it)",
            ),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir(p).map_err(|e| Error::io(p, e))
        }
        Err(e) => Err(Error::io(p, e)),
    }
}

/// Decides which files to write, creates them empty at their final size
/// (so unwritten ranges are holes), and returns their plan indexes.
fn prepare_files(
    repo: &Repository,
    plan: &Plan,
    opts: &RestoreOptions,
    report: &mut RestoreReport,
) -> Result<Vec<usize>> {
    let mut write = Vec::new();
    for (i, f) in plan.files.iter().enumerate() {
        let dest = opts.target.join(&f.path);
        let exists = std::fs::symlink_metadata(&dest).ok();
        if let Some(m) = &exists {
            if m.is_dir() {
                report
                    .errors
                    .push((f.path.clone(), "a directory is in the way".into()));
                report.not_written.insert(i);
                continue;
            }
            let same = m.is_file() && file_matches(repo, &dest, &f.content, f.size)?;
            if same && opts.overwrite != Overwrite::Always && f.link_of.is_none() {
                // Already right: only its metadata is applied again.
                report.files_unchanged += 1;
                continue;
            }
            if !same && opts.overwrite == Overwrite::Never {
                report.not_overwritten.push(f.path.clone());
                report.not_written.insert(i);
                continue;
            }
            std::fs::remove_file(&dest).map_err(|e| Error::io(&dest, e))?;
        }
        if f.link_of.is_some() {
            continue;
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&dest)
            .map_err(|e| Error::io(&dest, e))?;
        file.set_len(f.size).map_err(|e| Error::io(&dest, e))?;
        if !f.content.is_empty() {
            write.push(i);
        }
    }
    Ok(write)
}

/// Groups every chunk of the files to write by pack and writes them, one
/// pack per task.
fn write_content(
    repo: &Repository,
    plan: &Plan,
    target: &Path,
    write: &[usize],
    threads: Option<usize>,
    progress: &dyn Progress,
    errors: &Mutex<Vec<(PathBuf, String)>>,
) -> Result<()> {
    type Group = (BlobKind, HashMap<BlobId, (PackRead, Vec<Target>)>);
    let mut packs: HashMap<PackId, Group> = HashMap::new();
    for &i in write {
        let f = &plan.files[i];
        let mut offset = 0u64;
        for c in &f.content {
            let id = BlobId::from(*c);
            let Some(loc) = repo.locate(BlobKind::Data, &id)? else {
                errors
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((f.path.clone(), format!("chunk {id} is in no index")));
                break;
            };
            let group = packs
                .entry(loc.pack)
                .or_insert_with(|| (loc.kind, HashMap::new()));
            let read = PackRead {
                id,
                offset: loc.offset,
                length: loc.length,
                raw_length: loc.raw_length,
            };
            group
                .1
                .entry(id)
                .or_insert_with(|| (read, Vec::new()))
                .1
                .push(Target { file: i, offset });
            offset += loc.raw_length as u64;
        }
        if offset != f.size && !f.content.is_empty() {
            errors.lock().unwrap_or_else(|p| p.into_inner()).push((
                f.path.clone(),
                "chunk sizes do not add up to the file size".into(),
            ));
        }
    }
    let work: Vec<(PackId, Group)> = packs.into_iter().collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.unwrap_or(0))
        .build()
        .map_err(|e| Error::Internal(format!("thread pool: {e}")))?;
    pool.install(|| {
        work.into_par_iter().for_each(|(pack, (kind, blobs))| {
            let mut reads: Vec<PackRead> = blobs.values().map(|(r, _)| *r).collect();
            let mut open: HashMap<usize, File> = HashMap::new();
            let result = repo.read_pack_blobs(&pack, kind, &mut reads, |r, data| {
                let Some((_, targets)) = blobs.get(&r.id) else {
                    return Ok(());
                };
                for t in targets {
                    progress.bytes(data.len() as u64);
                    if data.iter().all(|&b| b == 0) {
                        continue;
                    }
                    let path = target.join(&plan.files[t.file].path);
                    let file = match open.entry(t.file) {
                        std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                        std::collections::hash_map::Entry::Vacant(v) => v.insert(
                            OpenOptions::new()
                                .write(true)
                                .custom_flags(libc::O_NOFOLLOW)
                                .open(&path)
                                .map_err(|e| Error::io(&path, e))?,
                        ),
                    };
                    write_sparse(file, &data, t.offset).map_err(|e| Error::io(&path, e))?;
                }
                Ok(())
            });
            if let Err(e) = result {
                let mut errs = errors.lock().unwrap_or_else(|p| p.into_inner());
                let mut seen = HashSet::new();
                for (_, targets) in blobs.values() {
                    for t in targets {
                        if seen.insert(t.file) {
                            errs.push((plan.files[t.file].path.clone(), e.to_string()));
                        }
                    }
                }
            }
        })
    });
    Ok(())
}

/// Filesystem block size assumed for holes: runs of zeros this large and
/// aligned are skipped, so they stay unallocated in the pre-sized file.
const HOLE_BLOCK: u64 = 4096;

/// Writes `data` at `offset`, skipping aligned all-zero blocks.
fn write_sparse(file: &File, data: &[u8], offset: u64) -> std::io::Result<()> {
    let mut pos = 0usize;
    let mut run_start: Option<usize> = None;
    while pos < data.len() {
        // Blocks are aligned to the file, not to the chunk.
        let abs = offset + pos as u64;
        let end = ((abs / HOLE_BLOCK + 1) * HOLE_BLOCK - offset).min(data.len() as u64) as usize;
        let zero = end - pos == HOLE_BLOCK as usize && data[pos..end].iter().all(|&b| b == 0);
        match (zero, run_start) {
            (true, Some(start)) => {
                file.write_all_at(&data[start..pos], offset + start as u64)?;
                run_start = None;
            }
            (false, None) => run_start = Some(pos),
            _ => {}
        }
        pos = end;
    }
    if let Some(start) = run_start {
        file.write_all_at(&data[start..], offset + start as u64)?;
    }
    Ok(())
}

/// Creates a symlink, fifo or device node; returns whether it was created.
fn make_other(p: &Path, node: &Node, warn: &mut dyn FnMut(String)) -> Result<bool> {
    if std::fs::symlink_metadata(p).is_ok() {
        std::fs::remove_file(p).map_err(|e| Error::io(p, e))?;
    }
    let c = std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::io(p, std::io::Error::other("path contains NUL")))?;
    let perm = (node.meta.mode & 0o7777) as libc::mode_t;
    // SAFETY (all three): c is a valid NUL-terminated path.
    let rc = match &node.kind {
        NodeKind::Symlink { target } => {
            std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target), p)
                .map_err(|e| Error::io(p, e))?;
            return Ok(true);
        }
        NodeKind::Fifo => unsafe { libc::mkfifo(c.as_ptr(), perm) },
        NodeKind::BlockDevice { rdev } | NodeKind::CharDevice { rdev } if fsmeta::is_root() => {
            let kind = if matches!(node.kind, NodeKind::BlockDevice { .. }) {
                libc::S_IFBLK
            } else {
                libc::S_IFCHR
            };
            unsafe { libc::mknod(c.as_ptr(), kind | perm, *rdev as libc::dev_t) }
        }
        NodeKind::BlockDevice { .. } | NodeKind::CharDevice { .. } => {
            warn(format!("{}: device nodes need root", p.display()));
            return Ok(false);
        }
        // A socket belongs to a running process; there is nothing to restore.
        NodeKind::Socket => return Ok(false),
        NodeKind::File { .. } | NodeKind::Dir { .. } => return Ok(false),
    };
    if rc != 0 {
        warn(format!(
            "{}: {}",
            p.display(),
            std::io::Error::last_os_error()
        ));
        return Ok(false);
    }
    Ok(true)
}
