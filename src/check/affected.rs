//! The damage report: given the blobs a check found lost, which snapshots
//! and which paths in them are affected, and which snapshots are intact.
//!
//! Memory does not grow with the number of blobs: chunks are looked up in
//! the set of lost blobs (small) and the index cache (on disk). Each
//! distinct tree is walked once: clean trees are remembered by id alone,
//! damaged ones with the (few) paths they lose, relative to themselves.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::check::lost::LostBlobs;
use crate::error::Result;
use crate::format::tree::{Node, NodeKind, Timestamp};
use crate::ids::{SnapshotId, TreeId};
use crate::repo::Repository;

/// Every snapshot and what damage does to it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DamageReport {
    pub snapshots: Vec<SnapshotDamage>,
}

impl DamageReport {
    pub fn damaged(&self) -> impl Iterator<Item = &SnapshotDamage> {
        self.snapshots
            .iter()
            .filter(|s| s.status != SnapshotStatus::Intact)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotStatus {
    /// Every file restores.
    Intact,
    /// Some paths are lost; the rest restores.
    Damaged,
    /// The snapshot object itself cannot be read.
    Unreadable,
}

/// One snapshot's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotDamage {
    pub id: SnapshotId,
    /// `None` when the snapshot object is unreadable.
    pub time: Option<Timestamp>,
    pub host: String,
    pub paths: Vec<String>,
    pub status: SnapshotStatus,
    /// Affected paths, absolute within the snapshot, in walk order.
    pub affected: Vec<AffectedPath>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AffectedKind {
    /// A file with lost chunks.
    File,
    /// A directory whose listing (tree) is lost: nothing under it restores.
    Directory,
}

/// One lost path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AffectedPath {
    pub path: String,
    pub kind: AffectedKind,
    /// For files: chunks lost, of how many.
    pub lost_chunks: u64,
    pub chunks: u64,
}

impl AffectedPath {
    fn under(&self, dir: &str) -> AffectedPath {
        let path = match (dir.is_empty(), self.path.is_empty()) {
            (true, _) => self.path.clone(),
            (false, true) => dir.to_string(),
            (false, false) => format!("{dir}/{}", self.path),
        };
        AffectedPath {
            path,
            ..self.clone()
        }
    }
}

/// Builds the report for every snapshot in the repository.
pub(crate) fn damage_report(repo: &Repository, lost: &LostBlobs) -> Result<DamageReport> {
    let mut walker = Walker {
        repo,
        lost,
        clean: HashSet::new(),
        damaged: HashMap::new(),
    };
    let mut report = DamageReport::default();
    for id in repo.snapshot_ids()? {
        let snap = match repo.load_snapshot(&id) {
            Ok(s) => s,
            Err(e) if e.kind() == crate::ErrorKind::Corrupt => {
                report.snapshots.push(SnapshotDamage {
                    id,
                    time: None,
                    host: String::new(),
                    paths: Vec::new(),
                    status: SnapshotStatus::Unreadable,
                    affected: Vec::new(),
                });
                continue;
            }
            Err(e) => return Err(e),
        };
        let affected: Vec<AffectedPath> = walker
            .tree(snap.tree)?
            .into_iter()
            .map(|a| AffectedPath {
                path: format!("/{}", a.path),
                ..a
            })
            .collect();
        report.snapshots.push(SnapshotDamage {
            id,
            time: Some(snap.time),
            host: snap.host,
            paths: snap.paths,
            status: if affected.is_empty() {
                SnapshotStatus::Intact
            } else {
                SnapshotStatus::Damaged
            },
            affected,
        });
    }
    report
        .snapshots
        .sort_by(|a, b| a.time.cmp(&b.time).then(a.id.cmp(&b.id)));
    Ok(report)
}

/// A directory being walked: its remaining nodes and what it lost so far.
struct Frame {
    id: TreeId,
    /// Its name in the parent ("" for a root).
    name: String,
    nodes: std::vec::IntoIter<Node>,
    found: Vec<AffectedPath>,
}

struct Walker<'a> {
    repo: &'a Repository,
    lost: &'a LostBlobs,
    clean: HashSet<TreeId>,
    /// Damaged trees and their losses, paths relative to the tree.
    damaged: HashMap<TreeId, Vec<AffectedPath>>,
}

/// A tree either already judged, or loaded and to be walked.
enum Visit {
    Judged(Vec<AffectedPath>),
    Walk(Vec<Node>),
}

impl Walker<'_> {
    /// What tree `root` loses, paths relative to it. Depth-first over an
    /// explicit stack: trees may nest deeper than recursion allows.
    fn tree(&mut self, root: TreeId) -> Result<Vec<AffectedPath>> {
        let nodes = match self.visit(root)? {
            Visit::Judged(v) => return Ok(v),
            Visit::Walk(n) => n,
        };
        let mut stack = vec![frame(root, String::new(), nodes)];
        loop {
            let top = stack
                .last_mut()
                .expect("the stack holds the root until it returns");
            let Some(node) = top.nodes.next() else {
                let done = stack.pop().expect("just looked at it");
                self.remember(done.id, &done.found);
                match stack.last_mut() {
                    Some(parent) => parent
                        .found
                        .extend(done.found.iter().map(|a| a.under(&done.name))),
                    None => return Ok(done.found),
                }
                continue;
            };
            let name = String::from_utf8_lossy(&node.name).into_owned();
            match node.kind {
                NodeKind::File { content, .. } | NodeKind::Sqlite { content, .. } => {
                    let mut lost_chunks = 0;
                    for c in &content {
                        if self.lost.chunk_lost(self.repo, c)? {
                            lost_chunks += 1;
                        }
                    }
                    if lost_chunks > 0 {
                        top.found.push(AffectedPath {
                            path: name,
                            kind: AffectedKind::File,
                            lost_chunks,
                            chunks: content.len() as u64,
                        });
                    }
                }
                NodeKind::Dir { subtree } => match self.visit(subtree)? {
                    Visit::Judged(v) => top.found.extend(v.iter().map(|a| a.under(&name))),
                    Visit::Walk(nodes) => stack.push(frame(subtree, name, nodes)),
                },
                _ => {}
            }
        }
    }

    fn visit(&mut self, id: TreeId) -> Result<Visit> {
        if self.clean.contains(&id) {
            return Ok(Visit::Judged(Vec::new()));
        }
        if let Some(v) = self.damaged.get(&id) {
            return Ok(Visit::Judged(v.clone()));
        }
        let loaded = if self.lost.tree_lost(&id) {
            None
        } else {
            match self.repo.load_tree_from_repository(&id) {
                Ok(t) => Some(t),
                Err(e) if e.kind() == crate::ErrorKind::Corrupt => None,
                Err(e) => return Err(e),
            }
        };
        Ok(match loaded {
            Some(t) => Visit::Walk(t.nodes),
            None => {
                let v = vec![AffectedPath {
                    path: String::new(),
                    kind: AffectedKind::Directory,
                    lost_chunks: 0,
                    chunks: 0,
                }];
                self.damaged.insert(id, v.clone());
                Visit::Judged(v)
            }
        })
    }

    fn remember(&mut self, id: TreeId, found: &[AffectedPath]) {
        if found.is_empty() {
            self.clean.insert(id);
        } else {
            self.damaged.insert(id, found.to_vec());
        }
    }
}

fn frame(id: TreeId, name: String, nodes: Vec<Node>) -> Frame {
    Frame {
        id,
        name,
        nodes: nodes.into_iter(),
        found: Vec::new(),
    }
}
