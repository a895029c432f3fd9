//! Recording a database snapshot: cut into fixed, page-aligned chunks and
//! stored as a `Sqlite` node in a version-2 repository (a `File` node in a
//! version-1 one), with what went wrong reported and counted.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{node, Archiver};
use crate::chunker::db_chunk_size;
use crate::error::{Error, Result};
use crate::format::tree::NodeKind;
use crate::progress::FileOutcome;
use crate::source::content::Database;
use crate::source::Entry;

/// What a backup did with SQLite databases (the CLI's text and `--json`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct DatabaseReport {
    /// Databases stored as consistent snapshots, read now or unchanged.
    pub count: u64,
    /// Databases whose check failed: stored anyway, marked, reported.
    pub failed_checks: Vec<FailedCheck>,
    /// Databases read through the fallback copy, not the page stream.
    pub fallback: Vec<PathBuf>,
    /// Databases no snapshot could be taken of: stored as raw files.
    pub not_snapshotted: Vec<NotSnapshotted>,
    /// The repository is format version 1: databases were snapshotted but
    /// recorded as plain files (marking them needs version 2).
    pub needs_v2: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailedCheck {
    pub path: PathBuf,
    /// The check's first lines.
    pub report: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct NotSnapshotted {
    pub path: PathBuf,
    pub error: String,
}

impl DatabaseReport {
    /// Nothing to report that makes the backup incomplete.
    pub fn is_clean(&self) -> bool {
        self.failed_checks.is_empty() && self.not_snapshotted.is_empty()
    }
}

impl Archiver<'_, '_> {
    /// Reads a database snapshot into page-aligned chunks and records it.
    pub(super) fn database(&mut self, e: Entry, mut db: Database, is_new: bool) -> Result<()> {
        let chunk_size = db_chunk_size(db.page_size);
        let (read, content) = match self.fixed_content(&mut db.reader, &e.path, chunk_size) {
            Ok(r) => r,
            Err(Error::Io { source, .. }) => {
                db.finish();
                self.skip(e.path, format!("reading the database snapshot: {source}"));
                return Ok(());
            }
            // A stop or a storage failure: the check's result is not wanted.
            Err(other) => return Err(other),
        };
        let (size, page_size, wal, fallback) = (db.size, db.page_size, db.wal, db.fallback);
        let check = db.finish(); // the stream's transaction, the check, our descriptor
        if read != size {
            self.skip(
                e.path,
                format!("the database snapshot gave {read} bytes, {} expected", size),
            );
            return Ok(());
        }
        self.databases.count += 1;
        if fallback {
            self.progress.warn(&format!(
                "{}: the page stream was unavailable; snapshot taken through a temporary copy",
                e.path.display()
            ));
            self.databases.fallback.push(e.path.clone());
        }
        if !check.ok {
            self.failed_check(&e.path, &check.report);
        }
        self.summary.files_new += u64::from(is_new);
        self.summary.files_changed += u64::from(!is_new);
        self.summary.total_bytes += read;
        self.progress.file(&e.path, FileOutcome::read(is_new), read);
        let kind = if self.repo.config().version >= 2 {
            NodeKind::Sqlite {
                size: read,
                content,
                page_size,
                chunk_size,
                check,
                wal,
            }
        } else {
            self.needs_v2();
            NodeKind::File {
                size: read,
                content,
            }
        };
        self.push(node(e.name, e.meta, kind));
        Ok(())
    }

    fn failed_check(&mut self, path: &Path, report: &str) {
        self.progress.warn(&format!(
            "{}: the database check failed (stored anyway, marked): {}",
            path.display(),
            crate::source::sqlite::report_summary(report)
        ));
        self.summary.errors += 1;
        self.databases.failed_checks.push(FailedCheck {
            path: path.to_path_buf(),
            report: report.to_string(),
        });
    }

    /// A database no snapshot could be taken of: its raw bytes are stored.
    pub(super) fn not_snapshotted(&mut self, path: &Path, why: &Error) {
        self.progress.warn(&format!(
            "{}: no consistent snapshot could be taken ({why}); storing the raw file",
            path.display()
        ));
        self.summary.errors += 1;
        self.databases.not_snapshotted.push(NotSnapshotted {
            path: path.to_path_buf(),
            error: why.to_string(),
        });
    }

    /// Said once per backup: a version-1 repository cannot mark databases.
    fn needs_v2(&mut self) {
        if !self.databases.needs_v2 {
            self.databases.needs_v2 = true;
            self.progress.warn(
                "note: this repository is format version 1: databases are stored as consistent \
                 snapshots but recorded as plain files (marking them needs a version-2 repository)",
            );
        }
    }
}
