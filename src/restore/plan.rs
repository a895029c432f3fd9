//! Restore planning: walk the snapshot's trees, apply the selection, and
//! list what to create where. Nothing touches the target here, so a plan
//! gives dry runs and progress totals for free.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::error::{Error, Result};
use crate::format::object::{self, ObjectMeta};
use crate::format::tree::{is_safe_name, Meta, Node, NodeKind, Timestamp, Tree};
use crate::ids::{ChunkId, TreeId};
use crate::repo::Repository;

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
    fn in_window(&self, mtime: Timestamp) -> bool {
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
    /// Index of an earlier planned file this one is a hard link of.
    pub link_of: Option<usize>,
    /// A database snapshot (`Sqlite` node): after writing, stale `-wal`/`-shm`
    /// companions are removed and the result is checked.
    pub database: bool,
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

struct Matcher {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
    sel: Selection,
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
    let m = Matcher {
        include: globset(&sel.include, sel.keys_relative)?,
        exclude: globset(&sel.exclude, sel.keys_relative)?,
        sel: sel.clone(),
    };
    let mut p = Planner {
        repo,
        m,
        plan: Plan::default(),
        links: HashMap::new(),
        paths,
    };
    let tree = repo.load_tree(&root)?;
    match &sel.sub_path {
        None => {
            repo.prefetch_below(&[root], &mut Default::default());
            p.dir(&tree, Path::new("/"), Path::new(""), false)?;
        }
        Some(sub) => {
            let (node, snap_path) = find(repo, tree, sub)?;
            match &node.kind {
                NodeKind::Dir { subtree } => {
                    repo.prefetch_below(&[*subtree], &mut Default::default());
                    let t = repo.load_tree(subtree)?;
                    p.dir(&t, &snap_path, Path::new(""), false)?;
                }
                _ => {
                    let single = Tree { nodes: vec![node] };
                    let parent = snap_path.parent().unwrap_or(Path::new("/")).to_path_buf();
                    p.dir(&single, &parent, Path::new(""), false)?;
                }
            }
        }
    }
    Ok(p.plan)
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
fn unsafe_key(snap_path: &Path, node: &Node) -> Option<String> {
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

struct Planner<'r> {
    repo: &'r Repository,
    m: Matcher,
    plan: Plan,
    links: HashMap<(u64, u64), usize>,
    /// Restoring to paths: refuse objects whose keys are no path.
    paths: bool,
}

impl Planner<'_> {
    /// Plans the children of one directory. `included` is true when an
    /// ancestor already matched an include pattern. Returns whether anything
    /// below was selected.
    fn dir(
        &mut self,
        tree: &Tree,
        snap_dir: &Path,
        rel_dir: &Path,
        included: bool,
    ) -> Result<bool> {
        let mut any = false;
        for node in &tree.nodes {
            // Tree::decode already refuses these; check again where it matters.
            if !is_safe_name(&node.name) {
                return Err(Error::corrupt("tree", "unsafe node name"));
            }
            let name = OsStr::from_bytes(&node.name);
            let snap_path = snap_dir.join(name);
            let rel = rel_dir.join(name);
            if self
                .m
                .exclude
                .as_ref()
                .is_some_and(|g| g.is_match(&snap_path))
            {
                continue;
            }
            let here = included
                || self
                    .m
                    .include
                    .as_ref()
                    .is_none_or(|g| g.is_match(&snap_path));
            match &node.kind {
                NodeKind::Dir { subtree } => {
                    let at = self.plan.dirs.len();
                    self.plan.dirs.push((rel.clone(), node.meta.clone()));
                    let sub = self.repo.load_tree(subtree)?;
                    let below = self.dir(&sub, &snap_path, &rel, here)?;
                    if here || below {
                        any = true;
                    } else {
                        // Nothing selected inside: do not create it.
                        self.plan.dirs.truncate(at);
                    }
                }
                _ if !here || !self.m.sel.in_window(node.meta.mtime) => {}
                NodeKind::File { .. } if self.paths && unsafe_key(&snap_path, node).is_some() => {
                    let why = unsafe_key(&snap_path, node).unwrap_or_default();
                    self.plan.refused.push((rel, why));
                }
                NodeKind::File { size, content } | NodeKind::Sqlite { size, content, .. } => {
                    any = true;
                    let key = (node.meta.device, node.meta.inode);
                    // Same inode is not enough: the names were read at
                    // different moments, so link only identical content.
                    let link_of = if node.meta.links > 1 {
                        self.links.get(&key).copied().filter(|&first| {
                            let f = &self.plan.files[first];
                            f.size == *size && f.content == *content
                        })
                    } else {
                        None
                    };
                    if node.meta.links > 1 && link_of.is_none() {
                        self.links.insert(key, self.plan.files.len());
                    }
                    if link_of.is_none() {
                        self.plan.total_bytes += size;
                    }
                    self.plan.files.push(PlannedFile {
                        path: rel,
                        size: *size,
                        content: content.clone(),
                        meta: node.meta.clone(),
                        link_of,
                        database: matches!(node.kind, NodeKind::Sqlite { .. }),
                    });
                }
                _ => {
                    any = true;
                    self.plan.others.push((rel, node.clone()));
                }
            }
        }
        Ok(any)
    }
}
