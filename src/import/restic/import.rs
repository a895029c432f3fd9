//! [`import_restic`]: every restic snapshot, oldest first, becomes a cairn
//! snapshot written by [`crate::backup::backup`] from a
//! [`SnapshotSource`], so packs, index and snapshot are stored in the
//! order (and with the crash safety) of any backup. Each cairn snapshot
//! records the restic snapshot it came from in its `program` field
//! (`cairn VERSION import-restic ID`, format-spec/07-snapshot.md): a rerun
//! skips those, and file contents already stored deduplicate.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use super::source::SnapshotSource;
use super::{ResticRepo, ResticSnapshot};
use crate::backup::{backup, BackupOptions, ParentChoice};
use crate::error::Result;
use crate::ids::SnapshotId;
use crate::progress::Progress;
use crate::repo::{Repository, SnapshotFilter};

/// The marker in a cairn snapshot's `program` before the restic id.
const MARK: &str = " import-restic ";

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Say what would be imported; read and store nothing.
    pub dry_run: bool,
    /// Worker threads per snapshot (see [`BackupOptions::threads`]).
    pub threads: Option<usize>,
}

/// What became of one restic snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotOutcome {
    Imported,
    /// A cairn snapshot already records this restic id.
    AlreadyImported,
    /// A dry run: it would be imported.
    WouldImport,
    /// Its snapshot file or root tree could not be read: nothing stored.
    Failed,
}

/// A file left out of an imported snapshot, and why.
#[derive(Debug, Clone, Serialize)]
pub struct DamagedFile {
    pub path: PathBuf,
    pub error: String,
}

/// One restic snapshot's import.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotReport {
    pub restic_id: String,
    pub outcome: SnapshotOutcome,
    pub cairn_id: Option<SnapshotId>,
    /// RFC 3339, in the restic snapshot's UTC offset.
    pub time: Option<String>,
    pub host: String,
    pub paths: Vec<String>,
    /// Why a `failed` snapshot was not imported.
    pub error: Option<String>,
    /// Files and directories that could not be read (a missing pack, a
    /// blob failing its MAC): the snapshot was stored without them.
    pub damaged: Vec<DamagedFile>,
    pub files: u64,
    pub bytes_read: u64,
    pub bytes_added: u64,
}

/// The whole import.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub imported: u64,
    pub already_imported: u64,
    pub failed: u64,
    pub files: u64,
    pub bytes_read: u64,
    pub bytes_added: u64,
    pub snapshots: Vec<SnapshotReport>,
}

impl ImportReport {
    /// Every snapshot imported (or already there) with every file.
    pub fn is_complete(&self) -> bool {
        self.failed == 0 && self.snapshots.iter().all(|s| s.damaged.is_empty())
    }
}

/// Imports every snapshot of `restic` into `repo`, oldest first, calling
/// `each` as each snapshot is done. Unreadable snapshots and files are
/// reported, not fatal; errors of `repo` itself (or an interruption) stop
/// the import, leaving the snapshots stored so far complete.
pub fn import_restic(
    repo: &Repository,
    restic: Arc<ResticRepo>,
    opts: &ImportOptions,
    progress: &dyn Progress,
    each: &mut dyn FnMut(&SnapshotReport),
) -> Result<ImportReport> {
    let mut mapped = already_imported(repo)?;
    let mut report = ImportReport::default();
    let snapshots = restic.snapshots()?;
    let total = snapshots.len();
    for (n, (id, snap)) in snapshots.into_iter().enumerate() {
        let hex_id = hex::encode(id);
        progress.start(
            &format!("restic snapshot {} ({}/{total})", &hex_id[..8], n + 1),
            None,
            None,
        );
        let r = match (snap, mapped.get(&id)) {
            (Err(e), _) => failed(hex_id, None, e),
            (Ok(s), Some(cairn)) => outcome(
                hex_id,
                Some(&s),
                SnapshotOutcome::AlreadyImported,
                Some(*cairn),
            ),
            (Ok(s), None) if opts.dry_run => {
                outcome(hex_id, Some(&s), SnapshotOutcome::WouldImport, None)
            }
            (Ok(s), None) => import_one(repo, &restic, (id, s), &mapped, opts, progress)?,
        };
        if let Some(cairn) = r.cairn_id {
            mapped.insert(id, cairn);
        }
        tally(&mut report, &r);
        each(&r);
        report.snapshots.push(r);
    }
    progress.finish();
    Ok(report)
}

fn import_one(
    repo: &Repository,
    restic: &Arc<ResticRepo>,
    (id, snap): ([u8; 32], ResticSnapshot),
    mapped: &HashMap<[u8; 32], SnapshotId>,
    opts: &ImportOptions,
    progress: &dyn Progress,
) -> Result<SnapshotReport> {
    let hex_id = hex::encode(id);
    let mut source = match SnapshotSource::new(restic.clone(), &snap.tree, snap.paths.clone()) {
        Ok(s) => s,
        Err(e) => return Ok(failed(hex_id, Some(&snap), e)),
    };
    let parent = snap.parent.and_then(|p| mapped.get(&p).copied());
    let backup_opts = BackupOptions {
        host: Some(snap.hostname.clone()),
        tags: snap.tags.clone(),
        time: Some(snap.time),
        excludes: snap.excludes.clone(),
        parent: parent.map_or(ParentChoice::None, ParentChoice::Id),
        threads: opts.threads,
        username: Some(snap.username.clone()),
        program: Some(format!("cairn {}{MARK}{hex_id}", env!("CARGO_PKG_VERSION"))),
        ..Default::default()
    };
    let done = backup(repo, &mut source, &backup_opts, progress)?;
    let mut r = outcome(
        hex_id,
        Some(&snap),
        SnapshotOutcome::Imported,
        done.snapshot_id,
    );
    let s = &done.snapshot.summary;
    (r.files, r.bytes_read, r.bytes_added) = (s.files_new, s.bytes_read, s.bytes_added);
    r.damaged = done
        .skipped
        .into_iter()
        .map(|(path, error)| DamagedFile { path, error })
        .collect();
    Ok(r)
}

/// The restic ids the repository's snapshots record, and their cairn ids.
fn already_imported(repo: &Repository) -> Result<HashMap<[u8; 32], SnapshotId>> {
    let (snaps, _damaged) = repo.readable_snapshots(&SnapshotFilter::default())?;
    let mut out = HashMap::new();
    for s in snaps {
        if let Some(id) = restic_origin(&s.snapshot.program) {
            out.insert(id, s.id);
        }
    }
    Ok(out)
}

/// The restic snapshot id an imported snapshot's `program` names.
pub fn restic_origin(program: &str) -> Option<[u8; 32]> {
    let (_, id) = program.rsplit_once(MARK)?;
    super::parse_id(id, "program").ok()
}

fn outcome(
    restic_id: String,
    s: Option<&ResticSnapshot>,
    outcome: SnapshotOutcome,
    cairn_id: Option<SnapshotId>,
) -> SnapshotReport {
    SnapshotReport {
        restic_id,
        outcome,
        cairn_id,
        time: s.map(|s| crate::time::rfc3339(s.time.0, s.time.1)),
        host: s.map(|s| s.hostname.clone()).unwrap_or_default(),
        paths: s.map(|s| s.paths.clone()).unwrap_or_default(),
        error: None,
        damaged: Vec::new(),
        files: 0,
        bytes_read: 0,
        bytes_added: 0,
    }
}

fn failed(restic_id: String, s: Option<&ResticSnapshot>, e: crate::Error) -> SnapshotReport {
    let mut r = outcome(restic_id, s, SnapshotOutcome::Failed, None);
    r.error = Some(e.to_string());
    r
}

fn tally(report: &mut ImportReport, r: &SnapshotReport) {
    match r.outcome {
        SnapshotOutcome::Imported => report.imported += 1,
        SnapshotOutcome::AlreadyImported => report.already_imported += 1,
        SnapshotOutcome::Failed => report.failed += 1,
        SnapshotOutcome::WouldImport => {}
    }
    report.files += r.files;
    report.bytes_read += r.bytes_read;
    report.bytes_added += r.bytes_added;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_field_names_the_restic_snapshot() {
        let id = [0xab; 32];
        let p = format!("cairn 1.2.3{MARK}{}", hex::encode(id));
        assert_eq!(restic_origin(&p), Some(id));
        assert_eq!(restic_origin("cairn 1.2.3"), None);
        assert_eq!(restic_origin("cairn 1.2.3 import-restic xyz"), None);
    }
}
