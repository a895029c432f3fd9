//! Backup: turn a [`Source`]'s events into chunks, blobs, trees and finally
//! a snapshot. The pipeline in order (see [`archiver`]):
//!
//! 1. the calling thread walks the source, skips files the parent snapshot
//!    already has unchanged, reads and chunks the rest, and computes each
//!    chunk's keyed id;
//! 2. chunks the repository does not know go to worker threads, which
//!    compress, seal and pack them ([`BlobWriter`]);
//! 3. each directory's tree is encoded when the walk leaves it;
//! 4. once every pack and index file is stored, and every pack the backup
//!    relies on is confirmed stored, the snapshot is written.
//!
//! Nothing is referenced by a snapshot before it is in a stored index file,
//! so a crash at any point leaves every existing snapshot complete.
//!
//! Backups take no lock and never wait, but prune must see them: before it
//! lists snapshots or loads the index, a backup stores a marker
//! (`repo::marker`) that it keeps fresh until it ends. Before its snapshot
//! it lists `packs/` once to confirm that every pack it relies on is still
//! there ([`verify`]); if one vanished, nothing is recorded: a source that
//! can be read again ([`backup_rereadable`]) is backed up again, storing
//! what vanished anew; otherwise the backup fails with [`Error::Raced`]
//! (format-spec/12-prune.md).
//!
//! With a put-only key (format-spec/18-put-only.md) the parent's trees come
//! from the client's own files cache ([`files_cache`]) instead of the
//! repository, which it cannot read; the rest is the same pipeline.

mod archiver;
mod budget;
mod files_cache;
mod interrupt;
mod open;
mod parent;
mod read_ahead;
mod verify;
mod walk_ahead;

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::format::snapshot::Snapshot;
use crate::format::tree::Timestamp;
use crate::ids::SnapshotId;
use crate::progress::Progress;
use crate::repo::marker::{self, MarkerOptions};
use crate::repo::{BlobWriter, Repository, SnapshotFilter, WriteStats};
use crate::source::Source;
use files_cache::FilesCache;
use parent::ParentTrees;

pub use crate::source::content::DatabaseOptions;
pub use archiver::{DatabaseReport, FailedCheck, NotSnapshotted};

/// Which snapshot to compare against to skip unchanged files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ParentChoice {
    /// The newest snapshot with the same host and paths.
    #[default]
    Auto,
    /// Read every file.
    None,
    /// This snapshot.
    Id(SnapshotId),
}

/// How to take a backup.
#[derive(Debug, Clone, Default)]
pub struct BackupOptions {
    /// Defaults to this machine's host name.
    pub host: Option<String>,
    pub tags: Vec<String>,
    /// The snapshot's time and UTC offset; defaults to now.
    pub time: Option<(Timestamp, i32)>,
    /// Recorded in the snapshot for reference (the source applies them).
    pub excludes: Vec<String>,
    pub parent: ParentChoice,
    /// Read and chunk everything, store nothing.
    pub dry_run: bool,
    /// Worker threads for compression and sealing; defaults to the CPU count.
    pub threads: Option<usize>,
    /// Timing of the backup-in-progress marker.
    pub marker: MarkerOptions,
    /// Which files are taken as SQLite databases (consistent snapshots,
    /// page-aligned chunks) and how they are checked.
    pub databases: DatabaseOptions,
    /// Who took the snapshot; defaults to the current user. Imports
    /// (`import::restic`) record the original's.
    pub username: Option<String>,
    /// The snapshot's `program` field; defaults to `cairn VERSION`. An
    /// import records where the snapshot came from (format-spec/07-snapshot.md).
    pub program: Option<String>,
}

/// How often [`backup_rereadable`] starts over before it gives up.
const MAX_ATTEMPTS: usize = 3;

/// What a backup did.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    /// `None` on a dry run.
    pub snapshot_id: Option<SnapshotId>,
    #[serde(skip)]
    pub snapshot: Snapshot,
    pub parent: Option<SnapshotId>,
    /// Entries that could not be read and were left out.
    pub skipped: Vec<(PathBuf, String)>,
    /// Files whose metadata changed while they were read.
    pub changed_while_read: Vec<PathBuf>,
    pub written: WriteStats,
    /// Databases: how many, failed checks, fallbacks, raw copies.
    pub databases: DatabaseReport,
}

impl BackupReport {
    /// True when every entry of the source made it into the snapshot, and
    /// every database as a consistent snapshot that passed its check.
    pub fn is_complete(&self) -> bool {
        self.skipped.is_empty() && self.databases.is_clean()
    }
}

/// Backs up `source` into `repo`. A source read once cannot be read again:
/// if packs the backup relies on vanish while it runs, it fails with
/// [`Error::Raced`] and records nothing.
pub fn backup(
    repo: &Repository,
    source: &mut dyn Source,
    opts: &BackupOptions,
    progress: &dyn Progress,
) -> Result<BackupReport> {
    attempt(repo, source, opts, progress)?.map_err(verify::Void::into_error)
}

/// Backs up the source `make_source` opens, opening and reading it again
/// (up to three times in all) when packs the backup relies on vanished
/// while it ran: the next attempt stores their blobs again, reading only
/// what the parent snapshot and the surviving packs do not cover.
pub fn backup_rereadable(
    repo: &Repository,
    make_source: &mut dyn FnMut() -> Result<Box<dyn Source>>,
    opts: &BackupOptions,
    progress: &dyn Progress,
) -> Result<BackupReport> {
    for left in (0..MAX_ATTEMPTS).rev() {
        let mut source = make_source()?;
        match attempt(repo, &mut *source, opts, progress)? {
            Ok(report) => return Ok(report),
            Err(void) if left > 0 => progress.warn(&void.describe()),
            Err(void) => return Err(void.into_error()),
        }
    }
    Err(Error::Internal("no backup attempt was made".into()))
}

/// One pass over the source: a report, or why no snapshot was stored.
fn attempt(
    repo: &Repository,
    source: &mut dyn Source,
    opts: &BackupOptions,
    progress: &dyn Progress,
) -> Result<std::result::Result<BackupReport, verify::Void>> {
    let started = std::time::Instant::now();
    let host = opts.host.clone().unwrap_or_else(crate::time::hostname);
    let paths = source.paths();
    let marker = begin(repo, opts)?;
    let files = repo.is_put_only().then(|| FilesCache::load(repo));
    let trees: &dyn ParentTrees = match &files {
        Some(f) => f,
        None => repo,
    };
    let parent = find_parent(repo, files.as_ref(), opts, &host, &paths)?;
    see_parent(trees, source, parent.map(|p| p.1))?;
    let (time, utc_offset_secs) = opts.time.unwrap_or_else(crate::time::now);

    let writer = BlobWriter::new(repo).stop_when(progress);
    let threads = opts
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let outcome = match archiver::run(
        repo,
        &writer,
        source,
        (parent.map(|p| p.1), trees),
        (opts.dry_run, threads),
        &opts.databases,
        progress,
    ) {
        Err(Error::Interrupted(_)) => return Err(interrupt::abandon(writer)),
        other => other?,
    };
    let (written, relied) = if opts.dry_run {
        (outcome.dry_run_stats.clone(), Default::default())
    } else {
        writer.finish_relied()?
    };
    if progress.cancelled() && !opts.dry_run {
        return Err(interrupt::nothing_recorded(written.bytes_stored));
    }
    let mut summary = outcome.summary;
    summary.blobs_added = written.blobs_added;
    summary.bytes_added = written.bytes_added;
    summary.bytes_added_stored = written.bytes_stored;
    summary.packs_added = written.packs_added;
    summary.duration_ms = started.elapsed().as_millis() as u64;
    let snapshot = Snapshot {
        time,
        utc_offset_secs,
        host,
        username: opts.username.clone().unwrap_or_else(crate::time::username),
        tags: sorted_tags(opts),
        paths,
        excludes: opts.excludes.clone(),
        parent: parent.map(|p| p.0),
        tree: outcome.root,
        original: None,
        program: opts
            .program
            .clone()
            .unwrap_or_else(|| format!("cairn {}", env!("CARGO_PKG_VERSION"))),
        summary,
    };
    let snapshot_id = match &marker {
        None => None,
        Some(marker) => match save_checked(repo, &snapshot, &relied, marker)? {
            Ok(id) => Some(id),
            Err(void) => return Ok(Err(void)),
        },
    };
    // Only now may the marker go (on drop): the snapshot is stored.
    drop(marker);
    if let (Some(files), Some(id)) = (&files, snapshot_id) {
        // The snapshot is stored whatever happens here: a cache that could
        // not be written only makes the next backup read everything.
        if let Err(e) = files.commit(&snapshot.host, &snapshot.paths, id, snapshot.tree) {
            progress.warn(&format!("the put-only files cache was not saved: {e}"));
        }
    }
    Ok(Ok(BackupReport {
        snapshot_id,
        parent: snapshot.parent,
        snapshot,
        skipped: outcome.skipped,
        changed_while_read: outcome.changed,
        written,
        databases: outcome.databases,
    }))
}

/// Stores the marker, then brings the index up to date: the index and
/// the snapshots the backup reads are as of after the marker, so a prune
/// that misses the marker condemned nothing the backup can rely on. A dry
/// run stores nothing and needs no marker.
fn begin(repo: &Repository, opts: &BackupOptions) -> Result<Option<marker::MarkerGuard>> {
    if opts.dry_run {
        return Ok(None);
    }
    let m = marker::start(repo, opts.marker)?;
    repo.sync_index()?;
    Ok(Some(m))
}

fn sorted_tags(opts: &BackupOptions) -> Vec<String> {
    let mut tags = opts.tags.clone();
    tags.sort();
    tags.dedup();
    tags
}

/// Stores the snapshot if every pack it relies on is there and its marker
/// was fresh throughout; otherwise stores nothing (and forgets the vanished
/// packs, so the next attempt stores their blobs again).
fn save_checked(
    repo: &Repository,
    snapshot: &Snapshot,
    relied: &std::collections::HashSet<crate::ids::PackId>,
    marker: &marker::MarkerGuard,
) -> Result<std::result::Result<SnapshotId, verify::Void>> {
    if let Err(e) = marker.check() {
        return lapsed(e);
    }
    let gone = verify::vanished(repo, relied)?;
    if !gone.is_empty() {
        repo.cache().forget_packs(&gone)?;
        return Ok(Err(verify::Void::Vanished(gone.len())));
    }
    let id = repo.save_snapshot(snapshot)?;
    // Lapsed while the snapshot was stored: a prune that missed the marker
    // may be deleting now. Take the snapshot back rather than leave one
    // that could reference a deleted pack.
    if let Err(e) = marker.check() {
        repo.storage()
            .delete(&crate::format::layout::snapshot(&id))?;
        return lapsed(e);
    }
    Ok(Ok(id))
}

fn lapsed<T>(e: Error) -> Result<std::result::Result<T, verify::Void>> {
    match e.kind() {
        ErrorKind::Raced => Ok(Err(verify::Void::Lapsed(e))),
        _ => Err(e),
    }
}

/// Finds the parent snapshot the backup of `source` would use and shows
/// it to the source ([`Source::see_parent`]) without reading anything: what
/// a dry run that must not download needs. Returns the parent's id.
pub fn prepare_source(
    repo: &Repository,
    source: &mut dyn Source,
    opts: &BackupOptions,
) -> Result<Option<SnapshotId>> {
    let host = opts.host.clone().unwrap_or_else(crate::time::hostname);
    let files = repo.is_put_only().then(|| FilesCache::load(repo));
    let trees: &dyn ParentTrees = match &files {
        Some(f) => f,
        None => repo,
    };
    let parent = find_parent(repo, files.as_ref(), opts, &host, &source.paths())?;
    see_parent(trees, source, parent.map(|p| p.1))?;
    Ok(parent.map(|p| p.0))
}

fn see_parent(
    trees: &dyn ParentTrees,
    source: &mut dyn Source,
    root: Option<crate::ids::TreeId>,
) -> Result<()> {
    let mut files = root.map(|r| parent::ParentFiles::new(trees, r));
    source.see_parent(&mut |path| files.as_mut()?.file(path))
}

/// The parent snapshot and its root tree. A put-only client finds it in
/// its files cache (it cannot list snapshots); `ParentChoice::Id` needs a
/// full key.
fn find_parent(
    repo: &Repository,
    files: Option<&FilesCache>,
    opts: &BackupOptions,
    host: &str,
    paths: &[String],
) -> Result<Option<(SnapshotId, crate::ids::TreeId)>> {
    match (&opts.parent, files) {
        (ParentChoice::None, _) => Ok(None),
        (ParentChoice::Id(_), Some(_)) => Err(Error::PutOnlyKey("--parent".into())),
        (ParentChoice::Id(id), None) => Ok(Some((*id, repo.load_snapshot(id)?.tree))),
        (ParentChoice::Auto, Some(files)) => Ok(files.parent(host, paths)),
        (ParentChoice::Auto, None) => {
            let filter = SnapshotFilter {
                hosts: vec![host.to_string()],
                ..Default::default()
            };
            // A damaged snapshot must not stop backups: it just cannot be a parent.
            Ok(repo
                .readable_snapshots(&filter)?
                .0
                .into_iter()
                .rev()
                .find(|s| s.snapshot.paths == paths)
                .map(|s| (s.id, s.snapshot.tree)))
        }
    }
}
