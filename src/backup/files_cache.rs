//! A put-only client's files cache (format-spec/18-put-only.md): it cannot
//! read the parent snapshot's trees from the repository, so it keeps the
//! trees of its own last committed backup per (host, paths) on local disk.
//! The archiver reads them through [`ParentTrees`] exactly as it reads the
//! repository's, so an unchanged file reuses its chunk list unread.
//!
//! The file is replaced atomically, and only after the snapshot is stored:
//! a crash leaves the previous backup's trees, which are still true. A
//! damaged or missing file only costs a full read.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::backup::parent::ParentTrees;
use crate::crypto::Keys;
use crate::error::{Error, Result};
use crate::format::tree::{NodeKind, Tree};
use crate::ids::{SnapshotId, TreeId};
use crate::repo::Repository;

const MAGIC: &[u8; 8] = b"CAIRNFC1";
const FILE_NAME: &str = "files.bin";

/// The last committed backup of one (host, paths).
#[derive(Clone, Serialize, Deserialize)]
struct Root {
    host: String,
    paths: Vec<String>,
    snapshot: [u8; 32],
    tree: [u8; 32],
}

#[derive(Serialize, Deserialize)]
struct Stored {
    roots: Vec<Root>,
    /// Encoded trees by id: everything reachable from `roots`.
    trees: Vec<([u8; 32], serde_bytes::ByteBuf)>,
}

pub(crate) struct FilesCache {
    path: Option<PathBuf>,
    roots: Vec<Root>,
    trees: HashMap<TreeId, Vec<u8>>,
    /// Trees this backup encoded, by id.
    noted: RefCell<HashMap<TreeId, Vec<u8>>>,
}

impl FilesCache {
    /// The cache of the put-only key `repo` was opened with; empty when
    /// there is none yet, or it cannot be read.
    pub(crate) fn load(repo: &Repository) -> Self {
        let path = repo.local_dir().map(|d| d.join(FILE_NAME));
        let stored = path
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| decode(&b, repo.keys()));
        let (roots, trees) = stored.unwrap_or_default();
        FilesCache {
            path,
            roots,
            trees,
            noted: Default::default(),
        }
    }

    /// The last backup of these paths from this host, as (snapshot, root tree).
    pub(crate) fn parent(&self, host: &str, paths: &[String]) -> Option<(SnapshotId, TreeId)> {
        self.roots
            .iter()
            .find(|r| r.host == host && r.paths == paths)
            .map(|r| (SnapshotId(r.snapshot), TreeId(r.tree)))
    }

    /// Records `snapshot` (root tree `tree`) as the last backup of (host,
    /// paths) and replaces the file with the trees every kept root reaches.
    pub(crate) fn commit(
        &self,
        host: &str,
        paths: &[String],
        snapshot: SnapshotId,
        tree: TreeId,
    ) -> Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut roots: Vec<Root> = self
            .roots
            .iter()
            .filter(|r| !(r.host == host && r.paths == paths))
            .cloned()
            .collect();
        roots.push(Root {
            host: host.to_string(),
            paths: paths.to_vec(),
            snapshot: snapshot.0,
            tree: tree.0,
        });
        let trees = self.reachable(roots.iter().map(|r| TreeId(r.tree)));
        let mut bytes = MAGIC.to_vec();
        let stored = Stored { roots, trees };
        bytes.extend(postcard::to_allocvec(&stored).map_err(|e| Error::Internal(e.to_string()))?);
        write_atomically(path, &bytes)
    }

    /// Every tree reachable from `roots` that this cache knows, encoded.
    fn reachable(
        &self,
        roots: impl Iterator<Item = TreeId>,
    ) -> Vec<([u8; 32], serde_bytes::ByteBuf)> {
        let noted = self.noted.borrow();
        let mut seen: HashMap<TreeId, &Vec<u8>> = HashMap::new();
        let mut todo: Vec<TreeId> = roots.collect();
        while let Some(id) = todo.pop() {
            if seen.contains_key(&id) {
                continue;
            }
            let Some(bytes) = noted.get(&id).or_else(|| self.trees.get(&id)) else {
                continue;
            };
            seen.insert(id, bytes);
            if let Ok(tree) = Tree::decode(bytes) {
                todo.extend(tree.nodes.iter().filter_map(|n| match n.kind {
                    NodeKind::Dir { subtree } => Some(subtree),
                    _ => None,
                }));
            }
        }
        let mut out: Vec<_> = seen
            .into_iter()
            .map(|(id, b)| (id.0, serde_bytes::ByteBuf::from(b.clone())))
            .collect();
        out.sort_by_key(|t| t.0);
        out
    }
}

impl ParentTrees for FilesCache {
    fn load_tree(&self, id: &TreeId) -> Result<Tree> {
        let noted = self.noted.borrow();
        let bytes = noted
            .get(id)
            .or_else(|| self.trees.get(id))
            .ok_or_else(|| Error::corrupt("files cache", format!("tree {id} not cached")))?;
        Tree::decode(bytes)
    }

    fn note_tree(&self, id: &TreeId, encoded: &[u8]) {
        self.noted
            .borrow_mut()
            .entry(*id)
            .or_insert_with(|| encoded.to_vec());
    }
}

/// Roots and the trees whose keyed id matches their bytes (others are
/// dropped: a damaged tree only means those files are read again).
type Decoded = (Vec<Root>, HashMap<TreeId, Vec<u8>>);

fn decode(bytes: &[u8], keys: &Keys) -> Option<Decoded> {
    let body = bytes.strip_prefix(MAGIC.as_slice())?;
    let stored: Stored = postcard::from_bytes(body).ok()?;
    let trees = stored
        .trees
        .into_iter()
        .filter(|(id, b)| keys.blob_id(b) == *id)
        .map(|(id, b)| (TreeId(id), b.into_vec()))
        .collect();
    Some((stored.roots, trees))
}

/// Temporary file in the same directory, synced, then renamed over `path`.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}
