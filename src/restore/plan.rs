//! Restore planning: walk the snapshot's trees, apply the selection, and
//! list what to create where. Planning itself never touches the target, so
//! a dry run is the same walk with nothing executed.
//!
//! A restore of millions of files does not hold one plan of every file: the
//! walk hands the plan over in batches of at most [`Limit`] files and
//! chunks ([`plan_batches`]), each executed before the walk goes on, so
//! memory is bounded by a batch and the directories (one entry each, for
//! their metadata at the end), not by the number of files. What must cross
//! batches is small: the first name of each hard-linked inode.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::error::{Error, Result};
use crate::format::object::{self, ObjectMeta};
use crate::format::tree::{Meta, Node, NodeKind, Timestamp, Tree};
use crate::ids::{ChunkId, TreeId};
use crate::repo::Repository;
use crate::restore::planner::{Execute, Planner};

/// Which part of a snapshot to restore.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Start here (a `/`-separated path inside the snapshot) instead of the root.
    pub sub_path: Option<String>,
    /// Restore only paths matching one of these globs (and what is below them).
    pub include: Vec<String>,
    /// Leave out paths matching these globs (and what is below them).
    pub exclude: Vec<String>,
    /// Only files (objects) modified at or after this time: a bucket
    /// snapshot's mtime is the object's LastModified. Directories are kept
    /// when something below them is.
    pub newer_than: Option<Timestamp>,
    /// Only files modified before this time.
    pub older_than: Option<Timestamp>,
    /// Patterns with a `/` that start with neither `/` nor `*` match from
    /// the snapshot's root: a bucket snapshot's root is the backed-up
    /// prefix, so `images/**` names keys. (Off, such a pattern must match
    /// the whole absolute path, as for directory snapshots.)
    pub keys_relative: bool,
}

impl Selection {
    /// Does a non-directory node's modification time pass the time window?
    pub(super) fn in_window(&self, mtime: Timestamp) -> bool {
        self.newer_than.is_none_or(|t| mtime >= t) && self.older_than.is_none_or(|t| mtime < t)
    }
}

/// A regular file to write.
#[derive(Debug, Clone)]
pub struct PlannedFile {
    /// Relative to the target.
    pub path: PathBuf,
    pub size: u64,
    pub content: Vec<ChunkId>,
    pub meta: Meta,
    /// The first name of the inode this file is a hard link of.
    pub link_of: Option<LinkOf>,
    /// A database snapshot (`Sqlite` node): after writing, stale `-wal`/`-shm`
    /// companions are removed and the result is checked.
    pub database: bool,
}

/// Where a hard link's first name is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOf {
    /// An earlier file of the same plan (its index in `files`).
    Planned(usize),
    /// A file an earlier batch restored (its path relative to the target).
    Restored(PathBuf),
}

/// How much one batch of a plan may hold: a batch is handed over before
/// the entry that would take it past either bound (a file is never split,
/// so a file of more chunks than `chunks` is a batch of its own).
/// Entries and chunks of refused names (unsafe bucket keys) do not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Files, symlinks and other non-directories.
    pub entries: usize,
    pub chunks: usize,
}

impl Limit {
    /// No bound: the whole plan at once.
    pub const NONE: Limit = Limit {
        entries: usize::MAX,
        chunks: usize::MAX,
    };
}

/// Everything a restore will create, in creation order.
#[derive(Debug, Default)]
pub struct Plan {
    /// Directories, parents before children.
    pub dirs: Vec<(PathBuf, Meta)>,
    pub files: Vec<PlannedFile>,
    /// Symlinks, devices, fifos, sockets.
    pub others: Vec<(PathBuf, Node)>,
    pub total_bytes: u64,
    /// Objects of a bucket snapshot whose key cannot be a path below the
    /// target (`..`, `.` or empty segments, a leading `/`): not written,
    /// reported as errors. (Their tree names are escaped and safe, but
    /// writing `%..` for `..` would not be the object.)
    pub refused: Vec<(PathBuf, String)>,
}

pub(super) struct Matcher {
    pub(super) include: Option<GlobSet>,
    pub(super) exclude: Option<GlobSet>,
    pub(super) sel: Selection,
}

fn globset(patterns: &[String], keys_relative: bool) -> Result<Option<GlobSet>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        // A pattern without a slash matches a name at any depth.
        let p = if keys_relative && p.contains('/') && !p.starts_with(['/', '*']) {
            format!("/{p}")
        } else if p.contains('/') {
            p.clone()
        } else {
            format!("**/{p}")
        };
        let g = Glob::new(&p).map_err(|e| Error::Usage(format!("bad pattern {p:?}: {e}")))?;
        b.add(g);
    }
    b.build()
        .map(Some)
        .map_err(|e| Error::Usage(format!("bad patterns: {e}")))
}

/// Builds the plan for restoring `root` with `sel` into a directory.
pub fn plan(repo: &Repository, root: TreeId, sel: &Selection) -> Result<Plan> {
    plan_for(repo, root, sel, true)
}

/// [`plan`], for a directory target (`paths`: refuse bucket objects whose
/// keys are no path) or a bucket target (every key is fine).
pub(crate) fn plan_for(
    repo: &Repository,
    root: TreeId,
    sel: &Selection,
    paths: bool,
) -> Result<Plan> {
    let mut whole = None;
    walk(repo, root, sel, paths, Limit::NONE, &mut |p, _| {
        whole = Some(p);
        Ok(Vec::new())
    })?;
    Ok(whole.unwrap_or_default())
}

/// Plans restoring `root` with `sel` into a directory a batch at a time,
/// in tree order: `execute` gets each batch and whether it is the last
/// (which may be empty), and
/// runs it before the walk goes on, returning the indexes of the batch's
/// files it did not restore. A later hard link to a file it restored links
/// to it ([`LinkOf::Restored`]); one to a file it did not gets its own copy.
/// Directories are in the batch that reaches them, parents first.
pub fn plan_batches(
    repo: &Repository,
    root: TreeId,
    sel: &Selection,
    limit: Limit,
    execute: &mut dyn FnMut(Plan, bool) -> Result<Vec<usize>>,
) -> Result<()> {
    walk(repo, root, sel, true, limit, execute)
}

fn walk(
    repo: &Repository,
    root: TreeId,
    sel: &Selection,
    paths: bool,
    limit: Limit,
    execute: Execute,
) -> Result<()> {
    let m = Matcher {
        include: globset(&sel.include, sel.keys_relative)?,
        exclude: globset(&sel.exclude, sel.keys_relative)?,
        sel: sel.clone(),
    };
    let mut p = Planner::new(repo, m, paths, limit, execute);
    p.walk(root, sel)?;
    p.hand_over(true)
}

/// Follows a `/`-separated path from the root tree.
pub(super) fn find(repo: &Repository, mut tree: Tree, sub: &str) -> Result<(Node, PathBuf)> {
    let parts: Vec<&str> = sub
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let mut snap_path = PathBuf::from("/");
    for (i, part) in parts.iter().enumerate() {
        let node = tree
            .nodes
            .iter()
            .find(|n| n.name == part.as_bytes())
            .cloned()
            .ok_or_else(|| Error::Usage(format!("{sub:?} is not in the snapshot")))?;
        snap_path.push(OsStr::from_bytes(&node.name));
        if i + 1 == parts.len() {
            return Ok((node, snap_path));
        }
        match &node.kind {
            NodeKind::Dir { subtree } => tree = repo.load_tree(subtree)?,
            _ => return Err(Error::Usage(format!("{sub:?} is not in the snapshot"))),
        }
    }
    Err(Error::Usage(
        "an empty path selects the whole snapshot; leave it out".into(),
    ))
}

/// Why a bucket object's key cannot be restored as a path, if it cannot.
pub(super) fn unsafe_key(snap_path: &Path, node: &Node) -> Option<String> {
    if !object::is_object(node) {
        return None;
    }
    let tree_path = snap_path.as_os_str().as_bytes().strip_prefix(b"/")?;
    let key = ObjectMeta::from_xattrs(tree_path, &node.meta)?.key;
    let bad = key
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == ".." || s.contains('\0'));
    bad.then(|| {
        format!(
            "object key {key:?} has an empty, `.` or `..` segment: it is no path below the target"
        )
    })
}
