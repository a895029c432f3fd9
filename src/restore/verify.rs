//! Checking files on disk against a snapshot's chunk lists: used by
//! `restore --verify` and to decide whether an existing file differs.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::format::index::BlobKind;
use crate::ids::{BlobId, ChunkId};
use crate::repo::Repository;
use crate::restore::Plan;

/// Does the file at `path` hold exactly `content` (`size` bytes)?
pub fn file_matches(
    repo: &Repository,
    path: &Path,
    content: &[ChunkId],
    size: u64,
) -> Result<bool> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(path, e)),
    };
    if !meta.is_file() || meta.len() != size {
        return Ok(false);
    }
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut buf = Vec::new();
    for c in content {
        let id = BlobId::from(*c);
        let loc = repo
            .locate(BlobKind::Data, &id)?
            .ok_or_else(|| Error::corrupt("repository", format!("blob {id} is in no index")))?;
        buf.resize(loc.raw_length as usize, 0);
        if f.read_exact(&mut buf).is_err() || repo.keys().blob_id(&buf) != c.0 {
            return Ok(false);
        }
    }
    // Nothing may follow the last chunk.
    Ok(f.read(&mut [0u8; 1]).map_err(|e| Error::io(path, e))? == 0)
}

/// Re-reads every written file of `plan` under `target`; returns the ones
/// that do not match.
pub fn verify(
    repo: &Repository,
    plan: &Plan,
    target: &Path,
    not_written: &HashSet<usize>,
) -> Result<Vec<(PathBuf, String)>> {
    let results: Vec<Option<(PathBuf, String)>> = plan
        .files
        .par_iter()
        .enumerate()
        .filter(|(i, _)| !not_written.contains(i))
        .map(|(_, f)| {
            let path = target.join(&f.path);
            match file_matches(repo, &path, &f.content, f.size) {
                Ok(true) => None,
                Ok(false) => Some((f.path.clone(), "content differs from the snapshot".into())),
                Err(e) => Some((f.path.clone(), e.to_string())),
            }
        })
        .collect();
    Ok(results.into_iter().flatten().collect())
}
