//! Leftovers of writes that never finished: a process killed while it wrote
//! leaves a local temporary file (or, on a bucket, an unfinished multipart
//! upload). They are invisible to `list`, so without this nothing would
//! ever see or reclaim them: `check` reports old ones, `prune` removes them.

use std::fs;
use std::io;
use std::path::Path;
use std::time::SystemTime;

use super::local::TEMP_PREFIX;
use super::{StorageError, StorageErrorKind, StorageResult};

/// One leftover of an unfinished write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stray {
    /// Backend-specific name (a path relative to the root), for messages
    /// and [`crate::storage::Storage::remove_stray`].
    pub name: String,
    pub size: u64,
    /// When it was last written to: a fresh one may belong to a running
    /// writer and must be left alone.
    pub modified: SystemTime,
}

impl Stray {
    /// Whether it was last written to more than `age` before `now`.
    pub fn older_than(&self, age: std::time::Duration, now: SystemTime) -> bool {
        now.duration_since(self.modified)
            .is_ok_and(|elapsed| elapsed > age)
    }
}

/// Every temporary file below `root`, named by its path relative to it.
pub(super) fn local_strays(root: &Path) -> StorageResult<Vec<Stray>> {
    let mut out = Vec::new();
    walk(root, "", &mut out).map_err(|e| {
        StorageError::new(StorageErrorKind::Transient, "list", "temporary files", e)
    })?;
    Ok(out)
}

fn walk(dir: &Path, base: &str, out: &mut Vec<Stray>) -> io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            walk(&entry.path(), &format!("{base}{name}/"), out)?;
        } else if file_type.is_file() && name.starts_with(TEMP_PREFIX) {
            // Gone since it was listed: its writer finished or removed it.
            let Ok(meta) = entry.metadata() else { continue };
            out.push(Stray {
                name: format!("{base}{name}"),
                size: meta.len(),
                modified: meta.modified()?,
            });
        }
    }
    Ok(())
}

/// Removes the temporary file `name` below `root`; refuses any name that is
/// not a temporary file inside the root, so it never deletes an object.
pub(super) fn remove_local_stray(root: &Path, name: &str) -> StorageResult<()> {
    let refuse = |why: &str| {
        Err(StorageError::new(
            StorageErrorKind::Permanent,
            "remove temporary file",
            name,
            why,
        ))
    };
    let mut parts: Vec<&str> = name.split('/').collect();
    let file = parts.pop().unwrap_or_default();
    if !file.starts_with(TEMP_PREFIX) || file.contains('\\') || file.contains('\0') {
        return refuse("not a temporary file name");
    }
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return refuse("not a path inside the repository");
    }
    match fs::remove_file(root.join(name)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::new(
            StorageErrorKind::Transient,
            "remove temporary file",
            name,
            e,
        )),
    }
}
