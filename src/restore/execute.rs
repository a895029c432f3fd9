//! Executing a restore plan against the target directory.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::format::index::BlobKind;
use crate::format::tree::{Node, NodeKind};
use crate::ids::{BlobId, PackId};
use crate::progress::Progress;
use crate::repo::{PackRead, Repository};
use crate::restore::verify::file_matches;
use crate::restore::{fsmeta, Plan, PlannedFile, RestoreOptions};

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
    // Reading packs waits on storage and writing files on the disk, so more
    // tasks than cores keep both busy.
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.unwrap_or((2 * cpus).max(4)))
        .build()
        .map_err(|e| Error::Internal(format!("thread pool: {e}")))?;
    pool.install(|| run(repo, plan, opts, progress, &mut report))?;
    progress.finish();
    Ok(report)
}

fn run(
    repo: &Repository,
    plan: &Plan,
    opts: &RestoreOptions,
    progress: &dyn Progress,
    report: &mut RestoreReport,
) -> Result<()> {
    let target = &opts.target;
    let fresh = std::fs::read_dir(target).map_or(true, |mut d| d.next().is_none());
    std::fs::create_dir_all(target).map_err(|e| Error::io(target, e))?;
    for (rel, _) in &plan.dirs {
        make_dir(&target.join(rel), opts.overwrite)?;
        report.dirs += 1;
    }
    let write = prepare_files(repo, plan, opts, fresh, report)?;
    let errors = Mutex::new(Vec::new());
    write_content(repo, plan, target, &write, progress, &errors)?;
    let mut errors = errors.into_inner().unwrap_or_else(|p| p.into_inner());
    errors.sort_by_key(|e| e.file);
    errors.dedup_by_key(|e| e.file);
    // A file whose data could not be read is removed, not left as zeros.
    for e in &errors {
        let _ = std::fs::remove_file(target.join(&plan.files[e.file].path));
        report.not_written.insert(e.file);
        report.damaged += e.damaged as u64;
        report
            .errors
            .push((plan.files[e.file].path.clone(), e.message.clone()));
    }
    report.bytes_written = write
        .iter()
        .filter(|i| !report.not_written.contains(i))
        .map(|&i| plan.files[i].size)
        .sum();
    for (i, f) in plan.files.iter().enumerate() {
        let Some(first) = f.link_of else { continue };
        if report.not_written.contains(&i) {
            continue;
        }
        let dest = target.join(&f.path);
        let _ = std::fs::remove_file(&dest);
        if let Err(e) = std::fs::hard_link(target.join(&plan.files[first].path), &dest) {
            report
                .warnings
                .push(format!("hard link {}: {e}", dest.display()));
        }
    }
    for (rel, node) in &plan.others {
        let mut warn = |w: String| report.warnings.push(w);
        if make_other(&target.join(rel), node, &mut warn)? {
            report.others += 1;
        }
    }
    // Metadata last: files and others in parallel, then directories deepest
    // first so nothing written afterwards disturbs their mtimes.
    let not_written = &report.not_written;
    let file_warnings: Vec<Vec<String>> = plan
        .files
        .par_iter()
        .enumerate()
        .filter(|(i, _)| !not_written.contains(i))
        .map(|(_, f)| {
            let mut w = Vec::new();
            fsmeta::apply(&target.join(&f.path), &f.meta, false, &mut |m| w.push(m))?;
            Ok(w)
        })
        .collect::<Result<_>>()?;
    report.warnings.extend(file_warnings.into_iter().flatten());
    let mut warn = |w: String| report.warnings.push(w);
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
    Ok(())
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

/// What to do with one planned file.
enum Prepared {
    /// Created empty at its final size; its content is to be written.
    Write,
    /// Nothing to write (empty file, or a hard link made later).
    Done,
    /// Already has the right content.
    Unchanged,
    /// Exists and differs, and `--overwrite never` keeps it.
    Kept,
    /// A directory stands where the file goes.
    InTheWay,
}

/// Decides which files to write and creates them empty at their final size
/// (so unwritten ranges are holes), in parallel. In a target that was empty
/// when the restore started nothing can be in the way, so the per-file
/// existence checks are skipped.
fn prepare_files(
    repo: &Repository,
    plan: &Plan,
    opts: &RestoreOptions,
    fresh: bool,
    report: &mut RestoreReport,
) -> Result<Vec<usize>> {
    let outcomes: Vec<Prepared> = plan
        .files
        .par_iter()
        .map(|f| prepare_one(repo, f, opts, fresh))
        .collect::<Result<_>>()?;
    let mut write = Vec::new();
    for (i, (f, outcome)) in plan.files.iter().zip(outcomes).enumerate() {
        match outcome {
            Prepared::Write => write.push(i),
            Prepared::Done => {}
            Prepared::Unchanged => report.files_unchanged += 1,
            Prepared::Kept => {
                report.not_overwritten.push(f.path.clone());
                report.not_written.insert(i);
            }
            Prepared::InTheWay => {
                report
                    .errors
                    .push((f.path.clone(), "a directory is in the way".into()));
                report.not_written.insert(i);
            }
        }
    }
    Ok(write)
}

fn prepare_one(
    repo: &Repository,
    f: &PlannedFile,
    opts: &RestoreOptions,
    fresh: bool,
) -> Result<Prepared> {
    let dest = opts.target.join(&f.path);
    if !fresh {
        if let Ok(m) = std::fs::symlink_metadata(&dest) {
            if m.is_dir() {
                return Ok(Prepared::InTheWay);
            }
            let same = m.is_file() && file_matches(repo, &dest, &f.content, f.size)?;
            if same && opts.overwrite != Overwrite::Always && f.link_of.is_none() {
                // Already right: only its metadata is applied again.
                return Ok(Prepared::Unchanged);
            }
            if !same && opts.overwrite == Overwrite::Never {
                return Ok(Prepared::Kept);
            }
            std::fs::remove_file(&dest).map_err(|e| Error::io(&dest, e))?;
        }
    }
    if f.link_of.is_some() {
        return Ok(Prepared::Done);
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

/// Groups every chunk of the files to write by pack and writes them, one
/// pack per task.
fn write_content(
    repo: &Repository,
    plan: &Plan,
    target: &Path,
    write: &[usize],
    progress: &dyn Progress,
    errors: &Mutex<Vec<FileError>>,
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
                    .push(FileError {
                        file: i,
                        damaged: true,
                        message: format!("chunk {id} is in no index"),
                    });
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
            errors
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(FileError {
                    file: i,
                    damaged: true,
                    message: "chunk sizes do not add up to the file size".into(),
                });
        }
    }
    let work: Vec<(PackId, Group)> = packs.into_iter().collect();
    work.into_par_iter().for_each(|(pack, (kind, blobs))| {
        let mut reads: Vec<PackRead> = blobs.values().map(|(r, _)| *r).collect();
        let mut open = OpenFiles::default();
        let fail = |file: usize, e: &Error| {
            let mut errs = errors.lock().unwrap_or_else(|p| p.into_inner());
            errs.push(FileError {
                file,
                damaged: e.kind() == ErrorKind::Corrupt,
                message: e.to_string(),
            });
        };
        let _ = repo.read_pack_blobs(&pack, kind, &mut reads, |r, data| {
            let Some((_, targets)) = blobs.get(&r.id) else {
                return Ok(());
            };
            let data = match data {
                Ok(d) => d,
                Err(e) => {
                    targets.iter().for_each(|t| fail(t.file, &e));
                    return Ok(());
                }
            };
            for t in targets {
                progress.bytes(data.len() as u64);
                let f = &plan.files[t.file];
                if let Err(e) = open.write(&target.join(&f.path), t, f, &data) {
                    fail(t.file, &e);
                }
            }
            Ok(())
        });
    });
    Ok(())
}

/// A file that could not be restored, and whether repository damage is why.
struct FileError {
    file: usize,
    damaged: bool,
    message: String,
}

/// Files of multi-chunk content kept open within one pack's task, bounded
/// so a pack of thousands of small files never exhausts descriptors.
#[derive(Default)]
struct OpenFiles {
    files: HashMap<usize, File>,
}

const MAX_OPEN_PER_TASK: usize = 32;

impl OpenFiles {
    /// Writes one chunk of `f` at its offset. A single-chunk file is created
    /// here in one go (prepare left it alone); others were pre-sized.
    fn write(&mut self, path: &Path, t: &Target, f: &PlannedFile, data: &[u8]) -> Result<()> {
        let io = |e| Error::io(path, e);
        if f.content.len() == 1 {
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path)
                .map_err(io)?;
            if write_sparse(&file, data, 0).map_err(io)? {
                file.set_len(f.size).map_err(io)?;
            }
            return Ok(());
        }
        if !self.files.contains_key(&t.file) && self.files.len() >= MAX_OPEN_PER_TASK {
            self.files.clear();
        }
        let file = match self.files.entry(t.file) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(
                OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(path)
                    .map_err(io)?,
            ),
        };
        write_sparse(file, data, t.offset).map_err(io)?;
        Ok(())
    }
}

/// Filesystem block size assumed for holes: runs of zeros this large and
/// aligned are skipped, so they stay unallocated in the pre-sized file.
const HOLE_BLOCK: u64 = 4096;

/// Writes `data` at `offset`, skipping aligned all-zero blocks; returns
/// whether any were skipped (so the caller may need to set the length).
fn write_sparse(file: &File, data: &[u8], offset: u64) -> std::io::Result<bool> {
    let mut skipped = false;
    let mut pos = 0usize;
    let mut run_start: Option<usize> = None;
    while pos < data.len() {
        // Blocks are aligned to the file, not to the chunk.
        let abs = offset + pos as u64;
        let end = ((abs / HOLE_BLOCK + 1) * HOLE_BLOCK - offset).min(data.len() as u64) as usize;
        let zero = end - pos == HOLE_BLOCK as usize && data[pos..end].iter().all(|&b| b == 0);
        skipped |= zero;
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
    Ok(skipped)
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
