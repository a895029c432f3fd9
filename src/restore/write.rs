//! The content phase of a restore: every chunk of the files to write,
//! grouped by pack and cut into pieces of one read each (`pieces.rs`), so
//! each stored byte is read once, written with positioned writes (holes
//! stay holes) by parallel tasks that each hold few files open.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::error::{Error, ErrorKind, Result};
use crate::format::index::BlobKind;
use crate::ids::{BlobId, PackId};
use crate::progress::Progress;
use crate::repo::{PackRead, Repository};
use crate::restore::database::EarlyChecks;
use crate::restore::fsmeta;
use crate::restore::pieces::{pieces, PackChunks};
use crate::restore::{DiskFull, Plan, PlannedFile};

/// One chunk's destinations inside a pack.
pub(super) struct Target {
    file: usize,
    offset: u64,
}

type Group = PackChunks<Target>;

/// What the content phase writes and where it reports.
pub(super) struct Content<'a> {
    /// The plan's files to write.
    pub(super) write: &'a [usize],
    /// Files that could not be written.
    pub(super) errors: &'a Mutex<Vec<FileError>>,
    /// Databases to finish as soon as they are complete.
    pub(super) early: &'a EarlyChecks,
}

/// Chunks grouped at a time: the grouping costs about 200 bytes a chunk,
/// so a restore of millions of small files groups and writes them a window
/// at a time instead of holding a map of every chunk. Files come in tree
/// order, which is about the order their chunks were packed in, so few
/// packs span two windows (and such a pack is read once per window).
pub(super) const WINDOW_CHUNKS: usize = 65_536;

/// Groups the chunks of the files to write by pack and writes them, one
/// piece of a pack per task, a window of files at a time. The first write
/// that finds the disk full stops the restore: no further piece is read
/// (every later write would fail the same way, one error each), and every
/// file not completely written by then is reported as not restored.
pub(super) fn write_content(
    repo: &Repository,
    plan: &Plan,
    target: &Path,
    content: Content<'_>,
    progress: &dyn Progress,
) -> Result<MetaDone> {
    let Content {
        write,
        errors,
        early,
    } = content;
    let push = |file: usize, damaged: bool, message: String| {
        let mut errs = errors.lock().unwrap_or_else(|p| p.into_inner());
        errs.push(FileError {
            file,
            damaged,
            message,
        });
    };
    let pending: Vec<AtomicUsize> = plan.files.iter().map(|_| AtomicUsize::new(0)).collect();
    let full: Mutex<Option<DiskFull>> = Mutex::new(None);
    let stopped = AtomicBool::new(false);
    let fail = |file: usize, e: &Error| {
        if is_disk_full(e) && !stopped.swap(true, Ordering::SeqCst) {
            *full.lock().unwrap_or_else(|p| p.into_inner()) = Some(DiskFull {
                path: plan.files[file].path.clone(),
                message: e.to_string(),
            });
        }
        push(file, e.kind() == ErrorKind::Corrupt, e.to_string());
    };
    // A file with a chunk in no index, or whose chunks do not add up, is
    // complete without being right: no early database check for it.
    let failed = |file: usize| {
        let errs = errors.lock().unwrap_or_else(|p| p.into_inner());
        errs.iter().any(|e| e.file == file)
    };
    let incomplete = Mutex::new(std::collections::HashSet::new());
    let mut meta = MetaDone::default();
    for window in windows(plan, write) {
        let packs = group_by_pack(repo, plan, window, &pending, &|i, m| push(i, true, m))?;
        // A database goes first: its check then overlaps the other writes.
        let work = pieces(packs, |t: &Target| plan.files[t.file].database);
        // Each worker takes the next piece in order, costliest first.
        let next = AtomicUsize::new(0);
        let workers = rayon::current_num_threads().clamp(1, work.len().max(1));
        let done: Vec<OpenFiles> = (0..workers)
            .into_par_iter()
            .map(|_| {
                let mut open = OpenFiles::default();
                while let Some(piece) = work.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if stopped.load(Ordering::SeqCst) {
                        break;
                    }
                    if progress.cancelled() {
                        skip_pack(&piece.blobs, &incomplete);
                        continue;
                    }
                    let blobs = &piece.blobs;
                    let mut reads: Vec<PackRead> = blobs.values().map(|(r, _)| *r).collect();
                    let _ = repo.read_pack_blobs(&piece.pack, piece.kind, &mut reads, |r, data| {
                        if stopped.load(Ordering::SeqCst) {
                            return Err(Error::Internal("restore stopped: disk full".into()));
                        }
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
                            match open.write(&target.join(&f.path), t, f, &data) {
                                Ok(()) => {
                                    if pending[t.file].fetch_sub(1, Ordering::SeqCst) == 1
                                        && early.wants(t.file)
                                        && !failed(t.file)
                                    {
                                        early.written(t.file, &target.join(&f.path));
                                    }
                                }
                                Err(e) => fail(t.file, &e),
                            }
                        }
                        Ok(())
                    });
                    // Closed now, not when every window is done.
                    open.files.clear();
                }
                open
            })
            .collect();
        for o in done {
            meta.files.extend(o.meta_done);
            meta.warnings.extend(o.warnings);
        }
    }
    let incomplete = incomplete.into_inner().unwrap_or_else(|p| p.into_inner());
    meta.interrupted = progress.cancelled().then_some(incomplete);
    meta.disk_full = full.into_inner().unwrap_or_else(|p| p.into_inner());
    if meta.disk_full.is_some() {
        for &i in write {
            if pending[i].load(Ordering::SeqCst) > 0 {
                push(i, false, "not restored: the disk is full".into());
            }
        }
    }
    Ok(meta)
}

/// The files to write, cut into runs of about [`WINDOW_CHUNKS`] chunks (a
/// file is never split; one with more chunks is a window of its own).
fn windows<'w>(plan: &'w Plan, write: &'w [usize]) -> impl Iterator<Item = &'w [usize]> + 'w {
    let mut rest = write;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (mut n, mut chunks) = (0, 0);
        while n < rest.len()
            && (n == 0 || chunks + plan.files[rest[n]].content.len() <= WINDOW_CHUNKS)
        {
            chunks += plan.files[rest[n]].content.len();
            n += 1;
        }
        let (window, after) = rest.split_at(n);
        rest = after;
        Some(window)
    })
}

/// Every chunk of the files of one window, grouped by the pack holding it;
/// `pending` counts per file how many chunk writes it needs. A chunk in no
/// index fails its file through `damaged`.
fn group_by_pack(
    repo: &Repository,
    plan: &Plan,
    write: &[usize],
    pending: &[AtomicUsize],
    damaged: &dyn Fn(usize, String),
) -> Result<HashMap<PackId, Group>> {
    let mut packs: HashMap<PackId, Group> = HashMap::new();
    for &i in write {
        let f = &plan.files[i];
        let mut offset = 0u64;
        for c in &f.content {
            let id = BlobId::from(*c);
            let Some(loc) = repo.locate(BlobKind::Data, &id)? else {
                damaged(i, format!("chunk {id} is in no index"));
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
            pending[i].fetch_add(1, Ordering::SeqCst);
            offset += loc.raw_length as u64;
        }
        if offset != f.size && !f.content.is_empty() {
            damaged(i, "chunk sizes do not add up to the file size".into());
        }
    }
    Ok(packs)
}

/// Is this the target running out of space (or of quota)? Then every
/// further write fails the same way.
pub(super) fn is_disk_full(e: &Error) -> bool {
    match e {
        Error::Io { source, .. } => matches!(
            source.raw_os_error(),
            Some(libc::ENOSPC) | Some(libc::EDQUOT)
        ),
        _ => false,
    }
}

/// Files whose metadata the write phase already applied, and its warnings.
#[derive(Default)]
pub(super) struct MetaDone {
    pub(super) files: Vec<usize>,
    pub(super) warnings: Vec<String>,
    /// Where the disk filled up, if it did.
    pub(super) disk_full: Option<DiskFull>,
    /// Set when the restore was asked to stop: the files left incomplete.
    pub(super) interrupted: Option<std::collections::HashSet<usize>>,
}

/// Marks the files a pack skipped on a stop request as incomplete.
fn skip_pack<R>(
    blobs: &HashMap<BlobId, (R, Vec<Target>)>,
    incomplete: &Mutex<std::collections::HashSet<usize>>,
) {
    let mut inc = incomplete.lock().unwrap_or_else(|p| p.into_inner());
    inc.extend(blobs.values().flat_map(|(_, ts)| ts.iter().map(|t| t.file)));
}

/// A file that could not be restored, and whether repository damage is why.
pub(super) struct FileError {
    pub(super) file: usize,
    pub(super) damaged: bool,
    pub(super) message: String,
}

/// Files of multi-chunk content kept open within one piece's task, bounded
/// so a pack of thousands of small files never exhausts descriptors.
#[derive(Default)]
struct OpenFiles {
    files: HashMap<usize, File>,
    /// Files whose metadata is already applied, and what that warned.
    meta_done: Vec<usize>,
    warnings: Vec<String>,
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
            // Complete now: its metadata goes on through this descriptor,
            // saving a second open by path later.
            self.warnings
                .extend(fsmeta::apply_open(&file, path, &f.meta));
            self.meta_done.push(t.file);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ChunkId;

    fn plan(chunks: &[usize]) -> Plan {
        let files = chunks
            .iter()
            .map(|&n| PlannedFile {
                path: "f".into(),
                size: 0,
                content: vec![ChunkId([0; 32]); n],
                meta: Default::default(),
                link_of: None,
                database: false,
            })
            .collect();
        Plan {
            files,
            ..Default::default()
        }
    }

    /// Every file lands in exactly one window, in order; a window holds at
    /// most WINDOW_CHUNKS chunks unless one file alone has more.
    #[test]
    fn windows_cover_every_file_once_within_the_bound() {
        let big = WINDOW_CHUNKS + 5;
        let mut chunks = vec![1usize; 3 * WINDOW_CHUNKS + 7];
        chunks.insert(10, big);
        chunks.push(WINDOW_CHUNKS);
        let p = plan(&chunks);
        let write: Vec<usize> = (0..chunks.len()).collect();
        let got: Vec<&[usize]> = windows(&p, &write).collect();
        assert_eq!(got.concat(), write);
        assert!(got.len() >= 5, "{} windows", got.len());
        for w in &got {
            let n: usize = w.iter().map(|&i| chunks[i]).sum();
            assert!(
                n <= WINDOW_CHUNKS || w.len() == 1,
                "{n} chunks in {}",
                w.len()
            );
        }
        assert_eq!(windows(&p, &[]).count(), 0);
    }
}
