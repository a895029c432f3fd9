//! `repair snapshots`: for every damaged snapshot, a new snapshot in which
//! everything intact stays restorable.
//!
//! The rule (documented in the README):
//! * a file with lost chunks keeps its chunks up to the first lost one, so
//!   it restores as its intact beginning (possibly empty), and gets the
//!   extended attribute `user.cairn.damaged` saying what was lost;
//! * a directory whose listing (tree) is lost becomes an empty directory
//!   with the same marker;
//! * the new snapshot has the original's host and paths, its time plus one
//!   nanosecond (so `latest` and the next backup's parent pick the repaired
//!   copy, and retention sees the same moment), the tag `repaired`, and
//!   `original` naming the damaged snapshot, which is kept until `forget`
//!   removes it. Nothing is deleted.
//!
//! Unchanged subtrees keep their ids (the tree encoding is canonical), so
//! only the trees on the way to a damaged path are written anew.

use std::collections::HashMap;

use serde::Serialize;

use crate::check::{
    check_and_find_lost, AffectedPath, CheckOptions, CheckReport, LostBlobs, SnapshotStatus,
};
use crate::error::Result;
use crate::format::index::BlobKind;
use crate::format::tree::{Node, NodeKind, Timestamp, Tree, Xattr};
use crate::ids::{BlobId, ChunkId, SnapshotId, TreeId};
use crate::progress::Progress;
use crate::repo::{BlobWriter, Repository};

/// The tag every repaired snapshot carries.
pub const REPAIRED_TAG: &str = "repaired";
/// The extended attribute marking a truncated file or emptied directory.
pub const DAMAGE_XATTR: &str = "user.cairn.damaged";

#[derive(Debug, Clone, Default)]
pub struct SnapshotRepairOptions {
    /// Read every pack first, so blobs damaged inside present packs count
    /// as lost too (without it only missing and unindexed blobs do).
    pub read_data: bool,
    /// Say what would be repaired, write nothing.
    pub dry_run: bool,
}

/// One damaged snapshot and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct RepairedSnapshot {
    pub original: SnapshotId,
    /// The new snapshot (`None` in a dry run, or when it cannot be repaired).
    pub repaired: Option<SnapshotId>,
    /// The snapshot object itself is unreadable: nothing to repair from;
    /// `forget` it.
    pub unreadable: bool,
    /// A repaired copy exists already: left alone.
    pub already_repaired: bool,
    pub affected: Vec<AffectedPath>,
}

/// Checks the repository and writes a repaired copy of each damaged
/// snapshot; returns the check it acted on and one entry per damaged one.
pub fn repair_snapshots(
    repo: &Repository,
    opts: &SnapshotRepairOptions,
    progress: &dyn Progress,
) -> Result<(CheckReport, Vec<RepairedSnapshot>)> {
    let check = CheckOptions {
        read_data: opts.read_data,
        ..Default::default()
    };
    let (report, lost) = check_and_find_lost(repo, &check, progress)?;
    let Some(damage) = &report.damage else {
        return Ok((report, Vec::new()));
    };
    // Rewritten trees deduplicate against the index and the copies are
    // stored as snapshots outside a backup: hold the maintenance lock (as
    // import does) so no prune deletes a pack in between.
    let _lock = match opts.dry_run {
        true => None,
        false => {
            let guard = crate::repo::lock::acquire(repo, "repair snapshots", Default::default())?;
            repo.sync_index()?;
            Some(guard)
        }
    };
    let (readable, _) = repo.readable_snapshots(&Default::default())?;
    let mut out = Vec::new();
    let writer = BlobWriter::new(repo);
    let mut rewriter = Rewriter {
        repo,
        lost: &lost,
        writer: &writer,
        memo: HashMap::new(),
    };
    let mut to_save = Vec::new();
    for s in damage.damaged() {
        let mut r = RepairedSnapshot {
            original: s.id,
            repaired: None,
            unreadable: s.status == SnapshotStatus::Unreadable,
            already_repaired: readable.iter().any(|o| o.snapshot.original == Some(s.id)),
            affected: s.affected.clone(),
        };
        if !r.unreadable && !r.already_repaired && !opts.dry_run {
            let mut snap = repo.load_snapshot(&s.id)?;
            snap.tree = rewriter.rewrite(snap.tree)?;
            snap.original = Some(s.id);
            snap.time = just_after(snap.time);
            snap.tags.push(REPAIRED_TAG.to_string());
            snap.tags.sort();
            snap.tags.dedup();
            to_save.push((out.len(), snap));
        }
        r.affected.shrink_to_fit();
        out.push(r);
    }
    // Snapshots only after the trees they name are indexed.
    writer.finish()?;
    for (i, snap) in to_save {
        out[i].repaired = Some(repo.save_snapshot(&snap)?);
    }
    Ok((report, out))
}

/// A directory being rewritten: its node in the parent, the nodes left to
/// look at, and the nodes of its new version so far.
struct Frame {
    old: TreeId,
    node: Option<Node>,
    rest: std::vec::IntoIter<Node>,
    out: Vec<Node>,
}

struct Rewriter<'a, 'r> {
    repo: &'a Repository,
    lost: &'a LostBlobs,
    writer: &'a BlobWriter<'r>,
    /// Old tree id → new tree id, so each distinct tree is rewritten once.
    memo: HashMap<TreeId, TreeId>,
}

impl Rewriter<'_, '_> {
    /// The id of `root` rewritten without its lost parts. Depth-first over
    /// an explicit stack, like the check's walk.
    fn rewrite(&mut self, root: TreeId) -> Result<TreeId> {
        if let Some(id) = self.memo.get(&root) {
            return Ok(*id);
        }
        let Some(tree) = self.load(root)? else {
            return self.empty_tree(root);
        };
        let mut stack = vec![frame(root, None, tree)];
        loop {
            let top = stack.last_mut().expect("the root stays until it returns");
            let Some(mut node) = top.rest.next() else {
                let done = stack.pop().expect("just looked at it");
                let id = self.store(done.old, Tree { nodes: done.out })?;
                match (stack.last_mut(), done.node) {
                    (Some(parent), Some(mut node)) => {
                        node.kind = NodeKind::Dir { subtree: id };
                        parent.out.push(node);
                    }
                    _ => return Ok(id),
                }
                continue;
            };
            match node.kind {
                NodeKind::File { .. } | NodeKind::Sqlite { .. } => {
                    self.trim_file(&mut node)?;
                    top.out.push(node);
                }
                NodeKind::Dir { subtree: old } => {
                    if let Some(id) = self.memo.get(&old) {
                        node.kind = NodeKind::Dir { subtree: *id };
                        top.out.push(node);
                    } else if let Some(tree) = self.load(old)? {
                        stack.push(frame(old, Some(node), tree));
                    } else {
                        node.kind = NodeKind::Dir {
                            subtree: self.empty_tree(old)?,
                        };
                        mark(&mut node, "directory listing lost".into());
                        top.out.push(node);
                    }
                }
                _ => top.out.push(node),
            }
        }
    }

    /// Cuts a file with lost chunks to its intact beginning and marks it.
    fn trim_file(&self, node: &mut Node) -> Result<()> {
        let Some((size, content)) = node.kind.file_content_mut() else {
            return Ok(());
        };
        let Some(first) = self.first_lost(content)? else {
            return Ok(());
        };
        let (lost, total, old_size) = (content.len() - first, content.len(), *size);
        content.truncate(first);
        let kept = self.length_of(content)?;
        *size = kept;
        mark(
            node,
            format!("lost {lost} of {total} chunks: kept the first {kept} of {old_size} bytes"),
        );
        Ok(())
    }

    fn load(&self, id: TreeId) -> Result<Option<Tree>> {
        if self.lost.tree_lost(&id) {
            return Ok(None);
        }
        match self.repo.load_tree(&id) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == crate::ErrorKind::Corrupt => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores a rewritten tree if it changed; remembers the mapping.
    fn store(&mut self, old: TreeId, tree: Tree) -> Result<TreeId> {
        let bytes = tree.encode();
        let id = TreeId(self.repo.keys().blob_id(&bytes));
        if id != old {
            self.writer
                .add_if_new(BlobKind::Tree, BlobId::from(id), &bytes)?;
        }
        self.memo.insert(old, id);
        Ok(id)
    }

    /// The empty tree that replaces a lost one.
    fn empty_tree(&mut self, old: TreeId) -> Result<TreeId> {
        self.store(old, Tree::default())
    }

    fn first_lost(&self, content: &[ChunkId]) -> Result<Option<usize>> {
        for (i, c) in content.iter().enumerate() {
            if self.lost.chunk_lost(self.repo, c)? {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Plaintext length of intact chunks, from the index.
    fn length_of(&self, content: &[ChunkId]) -> Result<u64> {
        let mut n = 0;
        for c in content {
            if let Some(loc) = self.repo.locate(BlobKind::Data, &BlobId::from(*c))? {
                n += loc.raw_length as u64;
            }
        }
        Ok(n)
    }
}

fn frame(old: TreeId, node: Option<Node>, tree: Tree) -> Frame {
    Frame {
        old,
        node,
        rest: tree.nodes.into_iter(),
        out: Vec::new(),
    }
}

/// One nanosecond later.
fn just_after(t: Timestamp) -> Timestamp {
    if t.nanos >= 999_999_999 {
        Timestamp {
            secs: t.secs.saturating_add(1),
            nanos: 0,
        }
    } else {
        Timestamp {
            nanos: t.nanos + 1,
            ..t
        }
    }
}

/// Sets the damage marker, keeping xattrs sorted by name.
fn mark(node: &mut Node, why: String) {
    let name = DAMAGE_XATTR.as_bytes();
    node.meta.xattrs.retain(|x| x.name != name);
    node.meta.xattrs.push(Xattr {
        name: name.to_vec(),
        value: why.into_bytes(),
    });
    node.meta.xattrs.sort();
}
