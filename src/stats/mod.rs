//! `stats`: what snapshots hold and what they cost. Per snapshot: files,
//! logical bytes (the sum of file sizes), the distinct chunks it references
//! and their size before and after compression and sealing (what the
//! repository stores for it, with dedup inside the snapshot), the chunks no
//! other snapshot of the repository references (roughly what forgetting it
//! alone would free), and its largest directories (for a bucket snapshot:
//! its largest prefixes).
//!
//! "Unique" needs every other snapshot's chunks: those are walked once into
//! one set, visiting each shared subtree once (the Merkle property: the same
//! tree id holds the same chunks).

mod walk;

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::format::index::BlobKind;
use crate::ids::{BlobId, ChunkId, SnapshotId};
use crate::progress::{check_cancelled, Progress};
use crate::repo::{Repository, SnapshotFilter};

/// How many of the largest directories to list per snapshot by default.
pub const DEFAULT_TOP: usize = 10;

/// One snapshot's statistics.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SnapshotStats {
    pub snapshot_id: SnapshotId,
    /// Regular files (for a bucket snapshot: objects).
    pub files: u64,
    pub dirs: u64,
    /// Sum of the files' sizes: what a restore writes.
    pub logical_bytes: u64,
    /// Distinct chunks the snapshot references.
    pub chunks: u64,
    /// Their plaintext size: the logical bytes after dedup.
    pub distinct_bytes: u64,
    /// Their size in packs: after dedup, compression and sealing.
    pub stored_bytes: u64,
    /// Chunks no other snapshot references, and their plaintext and stored size.
    pub unique_chunks: u64,
    pub unique_bytes: u64,
    pub unique_stored_bytes: u64,
    /// `logical_bytes / distinct_bytes` (1.0 for an empty snapshot): how
    /// much dedup inside the snapshot saves; compression is apart
    /// (`distinct_bytes / stored_bytes`).
    pub dedup_ratio: f64,
    /// The largest directories (prefixes), biggest first.
    pub largest_prefixes: Vec<PrefixStats>,
}

/// A directory (prefix) and what is below it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PrefixStats {
    /// Absolute path inside the snapshot, with a trailing `/`.
    pub path: String,
    pub files: u64,
    pub logical_bytes: u64,
}

/// Statistics of `ids` (snapshots of `repo`), listing up to `top` prefixes each.
pub fn stats(
    repo: &Repository,
    ids: &[SnapshotId],
    top: usize,
    progress: &dyn Progress,
) -> Result<Vec<SnapshotStats>> {
    let all = repo.snapshots(&SnapshotFilter::default())?;
    let wanted: HashSet<SnapshotId> = ids.iter().copied().collect();
    // The chunks of every snapshot not asked about, in one set.
    let mut others = walk::ChunkSet::default();
    for s in all.iter().filter(|s| !wanted.contains(&s.id)) {
        check_cancelled(progress, || "stats stopped; nothing was written".into())?;
        others.add_tree(repo, s.snapshot.tree)?;
    }
    let mut walked = Vec::new();
    for id in ids {
        check_cancelled(progress, || "stats stopped; nothing was written".into())?;
        let snap = repo.load_snapshot(id)?;
        walked.push(walk::walk(repo, snap.tree, top)?);
    }
    // How many of the asked-for snapshots reference each chunk.
    let mut count: HashMap<ChunkId, u32> = HashMap::new();
    for w in &walked {
        for c in &w.chunks {
            *count.entry(*c).or_default() += 1;
        }
    }
    let mut sizes = HashMap::new();
    let mut out = Vec::new();
    for (id, w) in ids.iter().zip(walked) {
        let mut s = SnapshotStats {
            snapshot_id: *id,
            files: w.files,
            dirs: w.dirs,
            logical_bytes: w.logical_bytes,
            chunks: w.chunks.len() as u64,
            distinct_bytes: 0,
            stored_bytes: 0,
            unique_chunks: 0,
            unique_bytes: 0,
            unique_stored_bytes: 0,
            dedup_ratio: 1.0,
            largest_prefixes: w.prefixes,
        };
        for c in &w.chunks {
            let (raw, stored) = chunk_size(repo, &mut sizes, c)?;
            s.distinct_bytes += raw;
            s.stored_bytes += stored;
            if count[c] == 1 && !others.contains(c) {
                s.unique_chunks += 1;
                s.unique_bytes += raw;
                s.unique_stored_bytes += stored;
            }
        }
        if s.distinct_bytes > 0 {
            s.dedup_ratio = s.logical_bytes as f64 / s.distinct_bytes as f64;
        }
        out.push(s);
    }
    Ok(out)
}

/// A chunk's plaintext and sealed size, from the index (memoised: snapshots
/// asked about together share most chunks).
fn chunk_size(
    repo: &Repository,
    memo: &mut HashMap<ChunkId, (u64, u64)>,
    c: &ChunkId,
) -> Result<(u64, u64)> {
    if let Some(s) = memo.get(c) {
        return Ok(*s);
    }
    let loc = repo
        .locate(BlobKind::Data, &BlobId::from(*c))?
        .ok_or_else(|| Error::corrupt("repository", format!("chunk {c} is in no index")))?;
    let s = (loc.raw_length as u64, loc.length as u64);
    memo.insert(*c, s);
    Ok(s)
}
