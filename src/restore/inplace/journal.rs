//! The journal of an in-place restore: one small JSON file in the first
//! staging directory saying how far the restore got, so that rerunning the
//! same command after a crash or a stop finishes the job instead of
//! starting over (and does not take a second safety snapshot of files that
//! are already the new ones).
//!
//! It is replaced atomically (written beside, synced, renamed, directory
//! synced). Which files were swapped is not recorded: a staged file is
//! renamed over its destination, so a staged file that is gone was swapped.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::SnapshotId;

/// How far an in-place restore got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum State {
    /// Every file staged and verified; nothing live changed.
    Staged,
    /// The files about to be replaced are backed up (`None`: none existed);
    /// nothing live changed yet.
    Protected { safety_snapshot: Option<SnapshotId> },
    /// Files are being renamed into place.
    Swapping { safety_snapshot: Option<SnapshotId> },
}

impl State {
    pub fn safety_snapshot(&self) -> Option<SnapshotId> {
        match self {
            State::Staged => None,
            State::Protected { safety_snapshot } | State::Swapping { safety_snapshot } => {
                *safety_snapshot
            }
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            State::Staged => "staged",
            State::Protected { .. } => "protected",
            State::Swapping { .. } => "swapping",
        }
    }
}

/// The journal file's content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Journal {
    /// The staging id; a journal of another restore is not ours.
    pub id: String,
    pub snapshot: SnapshotId,
    pub files: usize,
    /// Directories this restore created (their metadata is applied last).
    pub created_dirs: Vec<PathBuf>,
    #[serde(flatten)]
    pub state: State,
}

/// Reads the journal at `path`: `None` when there is none (or it is not
/// one this build can read: the staging is then redone).
pub fn read(path: &Path) -> Result<Option<Journal>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::file("in-place restore journal", path, e)),
    }
}

/// Replaces the journal at `path` atomically and durably.
pub fn write(path: &Path, journal: &Journal) -> Result<()> {
    let err = |e| Error::file("in-place restore journal", path, e);
    let bytes = serde_json::to_vec(journal)
        .map_err(|e| Error::Internal(format!("in-place restore journal: {e}")))?;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(&bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)?;
    sync_dir(path.parent().unwrap_or(Path::new("/")))
}

/// Makes the entries of `dir` (created, renamed, removed files) durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::file("directory to sync", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_reads_back_and_an_unreadable_one_means_start_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        assert!(read(&path).unwrap().is_none());
        let j = Journal {
            id: "0123456789abcdef".into(),
            snapshot: SnapshotId([7; 32]),
            files: 3,
            created_dirs: vec![dir.path().join("new")],
            state: State::Swapping {
                safety_snapshot: Some(SnapshotId([9; 32])),
            },
        };
        write(&path, &j).unwrap();
        let back = read(&path).unwrap().unwrap();
        assert_eq!(back.state, j.state);
        assert_eq!(back.created_dirs, j.created_dirs);
        assert_eq!(back.state.safety_snapshot(), Some(SnapshotId([9; 32])));
        std::fs::write(&path, b"{\"id\": tor").unwrap();
        assert!(
            read(&path).unwrap().is_none(),
            "a torn journal is no journal"
        );
    }
}
