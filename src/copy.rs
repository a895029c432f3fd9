//! Copying snapshots, with their trees and data, from one repository into
//! another without reading the original files again (3-2-1 copies: a local
//! repository and one in R2).
//!
//! Blob ids are keyed per repository (02-crypto.md), so the copy works like
//! a bundle import (15-bundle.md) without the bundle: into a repository
//! with the same id key, ids carry over and every blob the target has is
//! skipped unread; into any other, each data blob's id is recomputed under
//! the target's key and trees are rewritten bottom-up with the new ids.
//! There a file's content is also **re-cut** with the target's chunker (its
//! gear table and parameters), so it deduplicates against the target's own
//! backups of the same bytes; a database snapshot's fixed, page-aligned
//! chunks (16-database.md) cut the same everywhere and are only re-named.
//! A repository made with `init --copy-chunking-from` the source shares its
//! id key: nothing to re-cut, nothing the target has is read.
//!
//! Crash-safe as a backup is: blobs go to packs and index files first and
//! each snapshot is stored only after everything it names is indexed, so an
//! interrupted copy leaves no snapshot pointing at missing data, and a rerun
//! finds the blobs already stored and skips them. The target's maintenance
//! lock keeps prune out meanwhile, as for an import.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::chunker::Chunker;
use crate::error::{Error, Result};
use crate::export::archive::ContentReader;
use crate::format::bundle::ID_KEY_CHECK_INPUT;
use crate::format::index::BlobKind;
use crate::format::tree::NodeKind;
use crate::ids::{BlobId, ChunkId, SnapshotId, TreeId};
use crate::progress::Progress;
use crate::repo::{lock, BlobWriter, Repository, SnapshotFilter, SnapshotRef, WriteStats};

/// What a copy did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CopyStats {
    pub snapshots_copied: u64,
    /// Snapshots the target already had (same content), not stored again.
    pub snapshots_present: u64,
    pub data_blobs_copied: u64,
    pub tree_blobs_copied: u64,
    /// Blobs the target already had.
    pub blobs_known: u64,
    /// Plaintext bytes of the blobs copied.
    pub bytes_copied: u64,
    /// Plaintext bytes of file content read from the source (none for
    /// blobs a target with the same id key already has).
    pub source_bytes_read: u64,
    /// True when the repositories' id keys differ and ids were recomputed.
    pub ids_rewritten: bool,
    pub dry_run: bool,
    pub write: WriteStats,
    /// The objects stored in the target, each one PUT (a billed "class A"
    /// request on S3 and R2): made by this copy, or by a dry run an upper
    /// bound (data counted before compression).
    pub target_puts: TargetPuts,
}

/// Objects a copy stores in the target, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TargetPuts {
    pub packs: u64,
    pub index_files: u64,
    pub snapshots: u64,
    pub total: u64,
}

impl TargetPuts {
    fn new(packs: u64, index_files: u64, snapshots: u64) -> Self {
        let total = packs + index_files + snapshots;
        TargetPuts {
            packs,
            index_files,
            snapshots,
            total,
        }
    }

    /// What a dry run's figures would cost: full data packs, one tree pack
    /// per 4 MiB of trees, and an index file per 8 packs (as
    /// [`BlobWriter`] writes them).
    fn estimate(dst: &Repository, s: &CopyStats, tree_bytes: u64) -> Self {
        let data = (s.bytes_copied - tree_bytes).div_ceil(u64::from(dst.config().pack_size));
        let trees = tree_bytes.div_ceil(crate::repo::TREE_PACK_SIZE as u64);
        let packs = data + trees;
        Self::new(
            packs,
            packs.div_ceil(crate::repo::PACKS_PER_INDEX as u64),
            s.snapshots_copied,
        )
    }
}

/// Do `a` and `b` cut and name blobs alike (the same id key: one made with
/// `init --copy-chunking-from` the other, or one repository)? Then a copy
/// keeps every id; otherwise ids are recomputed for the target.
pub fn same_chunking(a: &Repository, b: &Repository) -> bool {
    a.keys().blob_id(ID_KEY_CHECK_INPUT) == b.keys().blob_id(ID_KEY_CHECK_INPUT)
}

/// Copies `snaps` (in the order given; oldest first keeps parents first)
/// from `src` into `dst`. With `dry_run` nothing is stored and the figures
/// say what would be.
pub fn copy_snapshots(
    src: &Repository,
    dst: &Repository,
    snaps: &[SnapshotRef],
    dry_run: bool,
    progress: &dyn Progress,
) -> Result<CopyStats> {
    let same_key = same_chunking(src, dst);
    let _lock = match dry_run {
        true => None,
        false => Some(lock::acquire(dst, "copy", Default::default())?),
    };
    dst.sync_index()?;
    let mut c = Copier {
        src,
        dst,
        writer: BlobWriter::new(dst),
        same_key,
        dry_run,
        data: HashMap::new(),
        trees: HashMap::new(),
        planned: HashSet::new(),
        tree_bytes: 0,
        recut: HashMap::new(),
        chunker: std::sync::Arc::new(Chunker::new(dst.config().chunker, dst.keys().gear())?),
        buf: Vec::new(),
        stats: CopyStats {
            ids_rewritten: !same_key,
            dry_run,
            ..Default::default()
        },
        progress,
    };
    progress.start("copy", None, None);
    let mut roots = Vec::with_capacity(snaps.len());
    for s in snaps {
        crate::progress::check_cancelled(progress, || {
            "copy stopped before storing any snapshot; a rerun skips the blobs already stored"
                .into()
        })?;
        roots.push(c.tree(&s.snapshot.tree)?);
    }
    let mut stats = std::mem::take(&mut c.stats);
    stats.write = c.writer.finish()?;
    progress.finish();
    save_snapshots(dst, snaps, &roots, dry_run, &mut stats)?;
    stats.target_puts = match dry_run {
        true => TargetPuts::estimate(dst, &stats, c.tree_bytes),
        false => TargetPuts::new(
            stats.write.packs_added,
            stats.write.index_files_added,
            stats.snapshots_copied,
        ),
    };
    Ok(stats)
}

/// Stores each snapshot with its new tree once every blob is indexed,
/// skipping the ones the target already has. A parent is kept only when it
/// was copied too (its id in the target is known).
fn save_snapshots(
    dst: &Repository,
    snaps: &[SnapshotRef],
    roots: &[TreeId],
    dry_run: bool,
    stats: &mut CopyStats,
) -> Result<()> {
    let mut existing: Vec<_> = dst
        .snapshots(&SnapshotFilter::default())?
        .into_iter()
        .map(|s| s.snapshot)
        .collect();
    let mut new_ids: HashMap<SnapshotId, SnapshotId> = HashMap::new();
    for (s, root) in snaps.iter().zip(roots) {
        let mut snap = s.snapshot.clone();
        snap.tree = *root;
        snap.parent = snap.parent.and_then(|p| new_ids.get(&p).copied());
        let same = |e: &crate::format::snapshot::Snapshot| {
            let mut e = e.clone();
            e.parent = snap.parent;
            e == snap
        };
        if existing.iter().any(same) {
            stats.snapshots_present += 1;
            continue;
        }
        if !dry_run {
            new_ids.insert(s.id, dst.save_snapshot(&snap)?);
        }
        existing.push(snap);
        stats.snapshots_copied += 1;
    }
    Ok(())
}

/// Source ids → target ids, and the writer of what the target lacks.
struct Copier<'a> {
    src: &'a Repository,
    dst: &'a Repository,
    writer: BlobWriter<'a>,
    same_key: bool,
    dry_run: bool,
    data: HashMap<BlobId, BlobId>,
    trees: HashMap<TreeId, TreeId>,
    /// Blobs a dry run would have stored (it stores nothing to ask about).
    planned: HashSet<BlobId>,
    /// Plaintext bytes of the trees copied (packed apart from data).
    tree_bytes: u64,
    /// Re-cut contents by the hash of their source chunk list: an unchanged
    /// file in several snapshots is read and cut once.
    recut: HashMap<[u8; 32], Vec<ChunkId>>,
    /// The target's chunker, built once (an `Arc`: the chunking closure
    /// borrows the copier mutably), and its scratch buffer, reused.
    chunker: std::sync::Arc<Chunker>,
    /// The chunker's scratch buffer, reused across files.
    buf: Vec<u8>,
    stats: CopyStats,
    progress: &'a dyn Progress,
}

impl Copier<'_> {
    /// The target id of source tree `id`, its subtrees and chunks copied
    /// first (each blob once per copy, however many snapshots share it).
    fn tree(&mut self, id: &TreeId) -> Result<TreeId> {
        if let Some(done) = self.trees.get(id) {
            return Ok(*done);
        }
        let mut tree = self.src.load_tree(id)?;
        for node in &mut tree.nodes {
            if let NodeKind::Dir { subtree } = &mut node.kind {
                *subtree = self.tree(subtree)?;
            } else if let (NodeKind::File { size, content }, false) =
                (&mut node.kind, self.same_key)
            {
                *content = self.recut(content, *size, &node.name)?;
            } else if let Some((_, content)) = node.kind.file_content_mut() {
                for chunk in content.iter_mut() {
                    *chunk = ChunkId(self.data(BlobId::from(*chunk))?.0);
                }
            }
        }
        let bytes = tree.encode();
        let new = BlobId(self.writer_keys_id(&bytes));
        if self.same_key && new.0 != id.0 {
            return Err(Error::corrupt(
                "tree",
                format!("{id} does not match its id after decoding"),
            ));
        }
        self.store(BlobKind::Tree, new, &bytes)?;
        let new = TreeId(new.0);
        self.trees.insert(*id, new);
        Ok(new)
    }

    /// The target id of source data blob `id`, stored in the target unless
    /// it has it. With the same id key a known blob is not read at all.
    fn data(&mut self, id: BlobId) -> Result<BlobId> {
        if let Some(done) = self.data.get(&id) {
            return Ok(*done);
        }
        if self.same_key && self.known(&id)? {
            self.stats.blobs_known += 1;
            self.data.insert(id, id);
            return Ok(id);
        }
        let plain = self.src.read_blob(BlobKind::Data, &id)?;
        self.stats.source_bytes_read += plain.len() as u64;
        let new = BlobId(self.writer_keys_id(&plain));
        if self.same_key && new != id {
            return Err(Error::corrupt(
                "data blob",
                format!("{id} does not match its content"),
            ));
        }
        self.store(BlobKind::Data, new, &plain)?;
        self.data.insert(id, new);
        Ok(new)
    }

    /// A file's content cut again with the target's chunker, each new
    /// chunk stored unless the target has it.
    fn recut(&mut self, content: &[ChunkId], size: u64, name: &[u8]) -> Result<Vec<ChunkId>> {
        let mut h = blake3::Hasher::new();
        content.iter().for_each(|c| {
            h.update(&c.0);
        });
        let key = *h.finalize().as_bytes();
        if let Some(done) = self.recut.get(&key) {
            return Ok(done.clone());
        }
        let chunker = self.chunker.clone();
        let mut reader = ContentReader::new(self.src, content);
        let mut buf = std::mem::take(&mut self.buf);
        let mut out = Vec::new();
        let done = chunker.chunk_reader(&mut reader, &mut buf, |chunk| {
            let id = BlobId(self.writer_keys_id(chunk));
            self.store(BlobKind::Data, id, chunk)?;
            out.push(ChunkId(id.0));
            Ok(())
        });
        self.buf = buf;
        self.stats.source_bytes_read += reader.finish_with(done, size, name)?;
        self.recut.insert(key, out.clone());
        Ok(out)
    }

    fn writer_keys_id(&self, bytes: &[u8]) -> [u8; 32] {
        self.dst.keys().blob_id(bytes)
    }

    fn known(&self, id: &BlobId) -> Result<bool> {
        Ok(self.planned.contains(id) || self.writer.is_known(BlobKind::Data, id)?)
    }

    /// Stores `bytes` as `id` unless the target has it (counted either way).
    fn store(&mut self, kind: BlobKind, id: BlobId, bytes: &[u8]) -> Result<()> {
        if self.planned.contains(&id) || self.writer.is_known(kind, &id)? {
            self.stats.blobs_known += 1;
            return Ok(());
        }
        match kind {
            BlobKind::Data => self.stats.data_blobs_copied += 1,
            BlobKind::Tree => {
                self.stats.tree_blobs_copied += 1;
                self.tree_bytes += bytes.len() as u64;
            }
        }
        self.stats.bytes_copied += bytes.len() as u64;
        self.progress.bytes(bytes.len() as u64);
        if self.dry_run {
            self.planned.insert(id);
        } else {
            self.writer.add_if_new(kind, id, bytes)?;
        }
        Ok(())
    }
}
