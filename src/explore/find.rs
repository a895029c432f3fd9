//! `find`: which files match a glob, in every selected snapshot.
//!
//! A pattern without `/` matches the file *name* at any depth (`*.rs`); a
//! pattern with `/` matches the whole absolute path inside the snapshot
//! (`/home/*/notes.txt`, `**/src/*.rs`), where `*` stops at `/` and `**`
//! crosses it.
//!
//! Searching 100 snapshots of a mostly unchanged tree costs little more than
//! one: the matches below a tree depend only on the tree's id (and, for path
//! patterns, on where it sits), so they are remembered per id, relative to
//! that tree, and re-prefixed when the same subtree turns up again. Trees
//! without a match are remembered too, as an empty list, which is what makes
//! unchanged subtrees free. The memo is bounded by the (approximate) bytes
//! it holds, 64 MiB by default, and simply starts over when full.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use globset::{GlobBuilder, GlobMatcher};
use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::explore::{kind_name, node_size, resolve};
use crate::format::tree::{Node, NodeKind, Timestamp};
use crate::ids::{SnapshotId, TreeId};
use crate::repo::{Repository, SnapshotRef};

/// What to look for.
#[derive(Debug, Clone)]
pub struct FindOptions {
    pub pattern: String,
    pub ignore_case: bool,
    /// Only entries modified at or after this time.
    pub oldest: Option<Timestamp>,
    /// Only entries modified at or before this time.
    pub newest: Option<Timestamp>,
    /// Search only below this `/`-separated path of each snapshot.
    pub under: Option<String>,
    /// Approximate bytes the memo may hold before it starts over.
    pub memo_limit: usize,
}

impl FindOptions {
    pub fn new(pattern: impl Into<String>) -> Self {
        FindOptions {
            pattern: pattern.into(),
            ignore_case: false,
            oldest: None,
            newest: None,
            under: None,
            memo_limit: 64 << 20,
        }
    }
}

/// One match in one snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct FindMatch {
    pub snapshot: SnapshotId,
    /// Absolute path inside the snapshot, byte-exact.
    #[serde(skip)]
    pub path: Vec<u8>,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub size: u64,
    pub mode: u32,
    pub mtime: Timestamp,
    /// A symlink's target, byte-exact.
    #[serde(skip)]
    pub link_target: Option<Vec<u8>>,
}

/// What a search did: `trees_read` against `trees_reused` shows the memo at work.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FindStats {
    pub snapshots: u64,
    /// Snapshots skipped because `--under` is not in them.
    pub snapshots_without_under: u64,
    pub matches: u64,
    /// Tree blobs loaded from the repository.
    pub trees_read: u64,
    /// Subtrees answered from the memo instead.
    pub trees_reused: u64,
}

/// A match relative to the tree it was found in.
#[derive(Debug, Clone)]
struct Hit {
    rel: Vec<u8>,
    kind: &'static str,
    size: u64,
    mode: u32,
    mtime: Timestamp,
    link_target: Option<Vec<u8>>,
}

/// Memo key: a tree id, plus its absolute directory when the pattern looks
/// at whole paths (then the same tree elsewhere may match differently).
type MemoKey = (TreeId, Option<Vec<u8>>);

/// Searches snapshots one after another, sharing the memo between them.
pub struct Finder<'r> {
    repo: &'r Repository,
    opts: FindOptions,
    glob: GlobMatcher,
    by_path: bool,
    memo: HashMap<MemoKey, Arc<Vec<Hit>>>,
    memo_size: usize,
    stats: FindStats,
    /// Trees already prefetched (`Repository::prefetch_below`).
    prefetched: std::collections::HashSet<TreeId>,
}

impl<'r> Finder<'r> {
    pub fn new(repo: &'r Repository, opts: FindOptions) -> Result<Self> {
        let by_path = opts.pattern.contains('/');
        let glob = GlobBuilder::new(&opts.pattern)
            .literal_separator(true)
            .case_insensitive(opts.ignore_case)
            .backslash_escape(true)
            .build()
            .map_err(|e| Error::Usage(format!("bad pattern {:?}: {e}", opts.pattern)))?
            .compile_matcher();
        Ok(Finder {
            repo,
            opts,
            glob,
            by_path,
            memo: HashMap::new(),
            memo_size: 0,
            stats: FindStats::default(),
            prefetched: Default::default(),
        })
    }

    pub fn stats(&self) -> &FindStats {
        &self.stats
    }

    /// Searches one snapshot, calling `f` with each match in tree order.
    /// A snapshot that does not hold `under` has nothing below it to match:
    /// it is skipped and counted, not an error, since the directory may
    /// simply be newer or older than that snapshot.
    pub fn search(
        &mut self,
        snap: &SnapshotRef,
        f: &mut dyn FnMut(&FindMatch) -> Result<()>,
    ) -> Result<()> {
        self.stats.snapshots += 1;
        let (start, node) = match &self.opts.under {
            Some(sub) => match resolve(self.repo, snap.snapshot.tree, sub) {
                Ok(found) => found,
                // Not there, or a file stands where a directory would.
                Err(e) if e.kind() == ErrorKind::Usage => {
                    self.stats.snapshots_without_under += 1;
                    return Ok(());
                }
                Err(e) => return Err(e),
            },
            None => (
                std::path::PathBuf::from("/"),
                super::root_node(snap.snapshot.tree),
            ),
        };
        let start = start.as_os_str().as_bytes().to_vec();
        let found: Vec<(Vec<u8>, Hit)> = match &node.kind {
            NodeKind::Dir { subtree } => {
                self.repo.prefetch_below(&[*subtree], &mut self.prefetched);
                let hits = self.search_tree(*subtree, &start)?;
                hits.iter()
                    .map(|h| (join(&start, &h.rel), h.clone()))
                    .collect()
            }
            _ => self
                .hit(&node, &start)
                .map(|h| (start.clone(), h))
                .into_iter()
                .collect(),
        };
        for (path, h) in found {
            self.stats.matches += 1;
            f(&FindMatch {
                snapshot: snap.id,
                path,
                kind: h.kind,
                size: h.size,
                mode: h.mode,
                mtime: h.mtime,
                link_target: h.link_target.clone(),
            })?;
        }
        Ok(())
    }

    /// The node as a hit if it matches (`full` is its absolute path).
    fn hit(&self, node: &Node, full: &[u8]) -> Option<Hit> {
        let subject: &[u8] = if self.by_path { full } else { &node.name };
        let t = node.meta.mtime;
        let matched = self.glob.is_match(Path::new(OsStr::from_bytes(subject)))
            && self.opts.oldest.is_none_or(|o| t >= o)
            && self.opts.newest.is_none_or(|n| t <= n);
        matched.then(|| Hit {
            rel: node.name.clone(),
            kind: kind_name(&node.kind),
            size: node_size(node),
            mode: node.meta.mode,
            mtime: t,
            link_target: match &node.kind {
                NodeKind::Symlink { target } => Some(target.clone()),
                _ => None,
            },
        })
    }

    /// Every match below tree `id` (whose absolute path is `dir`), with
    /// paths relative to it, from the memo when possible.
    fn search_tree(&mut self, id: TreeId, dir: &[u8]) -> Result<Arc<Vec<Hit>>> {
        let key = (id, self.by_path.then(|| dir.to_vec()));
        if let Some(hits) = self.memo.get(&key) {
            self.stats.trees_reused += 1;
            return Ok(hits.clone());
        }
        let tree = self.repo.load_tree(&id)?;
        self.stats.trees_read += 1;
        let mut hits = Vec::new();
        for node in &tree.nodes {
            let full = join(dir, &node.name);
            if let Some(h) = self.hit(node, &full) {
                hits.push(h);
            }
            if let NodeKind::Dir { subtree } = &node.kind {
                let below = self.search_tree(*subtree, &full)?;
                hits.extend(below.iter().map(|h| Hit {
                    rel: join(&node.name, &h.rel),
                    ..h.clone()
                }));
            }
        }
        let hits = Arc::new(hits);
        // What an entry costs: the key, and each hit's struct and path.
        let cost = 96
            + hits
                .iter()
                .map(|h| 64 + h.rel.len() + h.link_target.as_ref().map_or(0, Vec::len))
                .sum::<usize>();
        self.memo_size += cost;
        if self.memo_size > self.opts.memo_limit {
            self.memo.clear();
            self.memo_size = cost;
        }
        self.memo.insert(key, hits.clone());
        Ok(hits)
    }
}

/// `dir/name` without doubling the root's `/`.
pub(crate) fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(dir.len() + 1 + name.len());
    out.extend_from_slice(dir);
    if !out.ends_with(b"/") {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

#[cfg(test)]
mod tests {
    use super::join;

    #[test]
    fn join_does_not_double_the_root() {
        assert_eq!(join(b"/", b"a"), b"/a");
        assert_eq!(join(b"/a", b"b"), b"/a/b");
        assert_eq!(join(b"a", b"b/c"), b"a/b/c");
    }
}
