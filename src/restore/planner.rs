//! The walk behind a restore plan: the snapshot's trees in tree order,
//! selected entries added to the current batch, and the batch handed over
//! to be executed whenever the next entry would take it past its
//! [`Limit`]. Between batches only the directory stack of the walk and the
//! first names of hard-linked inodes are kept.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::tree::{is_safe_name, Node, NodeKind, Tree};
use crate::ids::{ChunkId, TreeId};
use crate::repo::Repository;
use crate::restore::plan::{find, unsafe_key, Limit, LinkOf, Matcher, Plan, PlannedFile};
use crate::restore::Selection;

/// Runs one batch (and whether it is the last) and returns the indexes of
/// its files it did not restore.
pub(super) type Execute<'e> = &'e mut dyn FnMut(Plan, bool) -> Result<Vec<usize>>;

pub(super) struct Planner<'r, 'e> {
    repo: &'r Repository,
    m: Matcher,
    /// The current batch.
    plan: Plan,
    /// The first name of each hard-linked inode seen, by (device, inode).
    links: HashMap<(u64, u64), First>,
    /// Restoring to paths: refuse objects whose keys are no path.
    paths: bool,
    limit: Limit,
    execute: Execute<'e>,
    /// Files planned in earlier batches: the current batch's first file is
    /// file number `base` of the whole walk.
    base: usize,
    /// Chunks of the current batch's files.
    chunks: usize,
    /// Batches handed over so far.
    handed: usize,
}

/// The first name of a hard-linked inode.
struct First {
    /// Its number among all files planned.
    file: usize,
    path: PathBuf,
    size: u64,
    content: Vec<ChunkId>,
    /// Whether it was restored, once its batch ran.
    restored: Option<bool>,
    /// Names of the inode not met yet (its link count less those seen):
    /// at 0 the entry is dropped, so the map holds only inodes whose names
    /// are still to come, not every hard-linked inode of the snapshot.
    names_left: u64,
}

impl<'r, 'e> Planner<'r, 'e> {
    pub(super) fn new(
        repo: &'r Repository,
        m: Matcher,
        paths: bool,
        limit: Limit,
        execute: Execute<'e>,
    ) -> Self {
        Planner {
            repo,
            m,
            plan: Plan::default(),
            links: HashMap::new(),
            paths,
            limit,
            execute,
            base: 0,
            chunks: 0,
            handed: 0,
        }
    }

    /// Walks from the root, or from the selected sub-path.
    pub(super) fn walk(&mut self, root: TreeId, sel: &Selection) -> Result<()> {
        let repo = self.repo;
        let tree = repo.load_tree(&root)?;
        let Some(sub) = &sel.sub_path else {
            repo.prefetch_below(&[root], &mut Default::default());
            self.dir(&tree, Path::new("/"), Path::new(""), false)?;
            return Ok(());
        };
        let (node, snap_path) = find(repo, tree, sub)?;
        match &node.kind {
            NodeKind::Dir { subtree } => {
                repo.prefetch_below(&[*subtree], &mut Default::default());
                let t = repo.load_tree(subtree)?;
                self.dir(&t, &snap_path, Path::new(""), false)?;
            }
            _ => {
                let single = Tree { nodes: vec![node] };
                let parent = snap_path.parent().unwrap_or(Path::new("/")).to_path_buf();
                self.dir(&single, &parent, Path::new(""), false)?;
            }
        }
        Ok(())
    }

    /// Hands the current batch over to be executed, and learns which of
    /// its hard-linked first names were restored.
    pub(super) fn hand_over(&mut self, last: bool) -> Result<()> {
        let batch = std::mem::take(&mut self.plan);
        let (base, end) = (self.base, self.base + batch.files.len());
        let failed: HashSet<usize> = (self.execute)(batch, last)?.into_iter().collect();
        for f in self.links.values_mut() {
            if (base..end).contains(&f.file) {
                f.restored = Some(!failed.contains(&(f.file - base)));
            }
        }
        self.base = end;
        self.chunks = 0;
        self.handed += 1;
        Ok(())
    }

    /// Hands the batch over first if an entry of `chunks` chunks would take
    /// it past the limit.
    fn make_room(&mut self, chunks: usize) -> Result<()> {
        let entries = self.plan.files.len() + self.plan.others.len();
        if entries >= self.limit.entries
            || (entries > 0 && self.chunks.saturating_add(chunks) > self.limit.chunks)
        {
            self.hand_over(false)?;
        }
        self.chunks += chunks;
        Ok(())
    }

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
                    let (at, handed) = (self.plan.dirs.len(), self.handed);
                    self.plan.dirs.push((rel.clone(), node.meta.clone()));
                    let sub = self.repo.load_tree(subtree)?;
                    let below = self.dir(&sub, &snap_path, &rel, here)?;
                    if here || below {
                        any = true;
                    } else if handed == self.handed {
                        // Nothing selected inside: do not create it. (A
                        // batch handed over inside had something selected.)
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
                    self.make_room(content.len())?;
                    self.file(rel, node, *size, content);
                }
                _ => {
                    any = true;
                    self.make_room(0)?;
                    self.plan.others.push((rel, node.clone()));
                }
            }
        }
        Ok(any)
    }

    /// Adds a regular file (or database) to the batch.
    fn file(&mut self, rel: PathBuf, node: &Node, size: u64, content: &[ChunkId]) {
        let key = (node.meta.device, node.meta.inode);
        let linked = node.meta.links > 1;
        // Same inode is not enough: the names were read at different
        // moments, so link only identical content.
        let first = self
            .links
            .get(&key)
            .filter(|f| linked && f.size == size && f.content == content);
        let link_of = match first {
            None => None,
            Some(f) if f.file >= self.base => Some(LinkOf::Planned(f.file - self.base)),
            Some(f) if f.restored == Some(true) => Some(LinkOf::Restored(f.path.clone())),
            // Its first name could not be restored: a copy of its own.
            Some(_) => None,
        };
        if linked {
            let known = first.is_some();
            let left = self
                .links
                .get(&key)
                .map_or(node.meta.links - 1, |f| f.names_left.saturating_sub(1));
            if left == 0 {
                self.links.remove(&key);
            } else if let (true, Some(f)) = (known, self.links.get_mut(&key)) {
                f.names_left = left;
            } else {
                let f = First {
                    file: self.base + self.plan.files.len(),
                    path: rel.clone(),
                    size,
                    content: content.to_vec(),
                    restored: None,
                    names_left: left,
                };
                self.links.insert(key, f);
            }
        }
        if link_of.is_none() {
            self.plan.total_bytes += size;
        }
        self.plan.files.push(PlannedFile {
            path: rel,
            size,
            content: content.to_vec(),
            meta: node.meta.clone(),
            link_of,
            database: matches!(node.kind, NodeKind::Sqlite { .. }),
        });
    }
}
