//! Backup: turn a [`Source`]'s events into chunks, blobs, trees and finally
//! a snapshot. The pipeline in order (see [`archiver`]):
//!
//! 1. the calling thread walks the source, skips files the parent snapshot
//!    already has unchanged, reads and chunks the rest, and computes each
//!    chunk's keyed id;
//! 2. chunks the repository does not know go to worker threads, which
//!    compress, seal and pack them ([`BlobWriter`]);
//! 3. each directory's tree is encoded when the walk leaves it;
//! 4. once every pack and index file is stored, the snapshot is written.
//!
//! Nothing is referenced by a snapshot before it is in a stored index file,
//! so a crash at any point leaves every existing snapshot complete.

mod archiver;
mod budget;
mod interrupt;
mod open;
mod parent;
mod walk_ahead;

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::format::snapshot::Snapshot;
use crate::format::tree::Timestamp;
use crate::ids::SnapshotId;
use crate::progress::Progress;
use crate::repo::{BlobWriter, Repository, SnapshotFilter, WriteStats};
use crate::source::Source;

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
}

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
}

impl BackupReport {
    /// True when every entry of the source made it into the snapshot.
    pub fn is_complete(&self) -> bool {
        self.skipped.is_empty()
    }
}

/// Backs up `source` into `repo`.
pub fn backup(
    repo: &Repository,
    source: &mut dyn Source,
    opts: &BackupOptions,
    progress: &dyn Progress,
) -> Result<BackupReport> {
    let started = std::time::Instant::now();
    let host = opts.host.clone().unwrap_or_else(crate::time::hostname);
    let paths = source.paths();
    let parent = find_parent(repo, opts, &host, &paths)?;
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
        parent.as_ref().map(|p| p.1.tree),
        opts.dry_run,
        threads,
        progress,
    ) {
        Err(Error::Interrupted(_)) => return Err(interrupt::abandon(writer)),
        other => other?,
    };
    let written = if opts.dry_run {
        outcome.dry_run_stats.clone()
    } else {
        writer.finish()?
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
    let mut tags = opts.tags.clone();
    tags.sort();
    tags.dedup();
    let snapshot = Snapshot {
        time,
        utc_offset_secs,
        host,
        username: crate::time::username(),
        tags,
        paths,
        excludes: opts.excludes.clone(),
        parent: parent.as_ref().map(|p| p.0),
        tree: outcome.root,
        original: None,
        program: format!("cairn {}", env!("CARGO_PKG_VERSION")),
        summary,
    };
    let snapshot_id = if opts.dry_run {
        None
    } else {
        Some(repo.save_snapshot(&snapshot)?)
    };
    Ok(BackupReport {
        snapshot_id,
        parent: snapshot.parent,
        snapshot,
        skipped: outcome.skipped,
        changed_while_read: outcome.changed,
        written,
    })
}

fn find_parent(
    repo: &Repository,
    opts: &BackupOptions,
    host: &str,
    paths: &[String],
) -> Result<Option<(SnapshotId, Snapshot)>> {
    match &opts.parent {
        ParentChoice::None => Ok(None),
        ParentChoice::Id(id) => Ok(Some((*id, repo.load_snapshot(id)?))),
        ParentChoice::Auto => {
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
                .map(|s| (s.id, s.snapshot)))
        }
    }
}
