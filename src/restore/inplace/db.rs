//! What an in-place restore asks about SQLite databases, through
//! [`crate::source::sqlite`]: whether a staged file is one (database nodes
//! are, and so is a plain file with the SQLite header: a version-1
//! repository or `--no-sqlite` stores databases as files), whether it
//! passes `quick_check`, and removing the companions of the database it
//! replaces (a stale `-wal` or hot `-journal` would be replayed into the
//! new file by the next opener).

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::source::sqlite::{self, CheckLevel};

/// Whether the file at `path` starts with the SQLite header (never
/// following a symlink or blocking on a fifo).
pub fn is_database(path: &Path) -> bool {
    crate::source::content::is_database(path)
}

/// Runs `quick_check` on the staged database at `path`: the first lines
/// of its report when it fails. The file's bytes are verified against the
/// snapshot afterwards, so a check that changed them would be caught.
pub fn quick_check(path: &Path) -> Result<Option<String>> {
    let c = sqlite::check_file(path, CheckLevel::Quick)?;
    Ok((!c.ok).then(|| sqlite::report_summary(&c.report)))
}

/// Removes the `-wal`, `-shm` and `-journal` next to `path`; returns what
/// it removed.
pub fn remove_companions(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    sqlite::remove_stale_companions(path)
}
