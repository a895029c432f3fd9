//! One restic snapshot as a [`Source`]: its trees walked depth-first,
//! each file's content streamed blob by blob into the backup's chunker
//! (restic's chunk boundaries are not cairn's). A tree or blob that cannot
//! be read (pack missing, MAC failure) skips the directory or file it
//! belongs to, with its path; the backup reports and counts it.

use std::collections::VecDeque;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;

use super::{ResticNode, ResticRepo};
use crate::error::{Error, ErrorKind, Result};
use crate::source::{Event, Source};

/// A directory being walked: its nodes (sorted by name) and the next one.
struct Frame {
    nodes: std::vec::IntoIter<(Vec<u8>, ResticNode)>,
    path: PathBuf,
}

/// The walk over one snapshot's trees.
pub struct SnapshotSource {
    repo: Arc<ResticRepo>,
    paths: Vec<String>,
    stack: Vec<Frame>,
}

impl SnapshotSource {
    /// Loads the root tree; failing that, there is nothing to import.
    pub fn new(repo: Arc<ResticRepo>, root: &[u8; 32], paths: Vec<String>) -> Result<Self> {
        let nodes = sorted(repo.tree(root)?.nodes.unwrap_or_default());
        Ok(SnapshotSource {
            repo,
            paths,
            stack: vec![Frame {
                nodes: nodes.into_iter(),
                // Absolute paths inside the snapshot, for reports.
                path: PathBuf::from("/"),
            }],
        })
    }

    fn event(&mut self, node: ResticNode, path: PathBuf) -> Event {
        let what = format!("restic node {}", path.display());
        let entry = match node.entry(path.clone()) {
            Ok(e) => e,
            Err(e) => return skipped(path, e),
        };
        match node.kind.as_str() {
            "dir" => match node.subtree(&what).and_then(|id| self.repo.tree(&id)) {
                Ok(tree) => {
                    self.stack.push(Frame {
                        nodes: sorted(tree.nodes.unwrap_or_default()).into_iter(),
                        path,
                    });
                    Event::Enter(entry)
                }
                Err(e) => skipped(path, e),
            },
            "file" => match node.content(&what) {
                Ok(blobs) => Event::Stream(
                    entry,
                    Box::new(BlobStream {
                        repo: self.repo.clone(),
                        blobs: blobs.into(),
                        buf: Vec::new(),
                        at: 0,
                    }),
                ),
                Err(e) => skipped(path, e),
            },
            _ => Event::Leaf(entry),
        }
    }
}

/// Is `e` damage in the restic repository (a missing pack, bytes failing
/// their MAC or id), which leaves the file or directory out, rather than
/// a failure to read it (permissions, a backend still failing after its
/// retries), which must stop the import: a snapshot stored without those
/// files would count as imported and a rerun would never fetch them.
fn is_damage(e: &Error) -> bool {
    match e {
        Error::Storage(s) => s.is_not_found(),
        e => e.kind() == ErrorKind::Corrupt,
    }
}

/// A blob read error as the backup's stream error: damage skips the file,
/// anything else (wrapping the typed error) fails the backup.
fn as_io(e: Error) -> std::io::Error {
    match is_damage(&e) {
        true => std::io::Error::other(e.to_string()),
        false => std::io::Error::other(e),
    }
}

/// A directory whose tree is damaged is left out; one whose tree could not
/// be read fails the import. A [`Source`] has no "fail" event, so that is a
/// stream whose first read fails with the typed error (which the backup
/// turns into its own failure, storing no snapshot).
fn skipped(path: PathBuf, e: Error) -> Event {
    if is_damage(&e) {
        return Event::Skipped {
            path,
            error: e.to_string(),
        };
    }
    let entry = crate::source::Entry {
        name: path
            .file_name()
            .map(|n| n.as_bytes().to_vec())
            .unwrap_or_default(),
        path,
        kind: crate::source::EntryKind::File { size: 0 },
        meta: Default::default(),
        xattrs_deferred: false,
    };
    Event::Stream(entry, Box::new(FailedRead(Some(std::io::Error::other(e)))))
}

/// A stream that fails with its error on the first read.
struct FailedRead(Option<std::io::Error>);

impl Read for FailedRead {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(self
            .0
            .take()
            .unwrap_or_else(|| std::io::Error::other("read after failure")))
    }
}

/// With their byte-exact names, sorted, duplicates dropped: what a cairn
/// tree requires.
fn sorted(nodes: Vec<ResticNode>) -> Vec<(Vec<u8>, ResticNode)> {
    let mut named: Vec<_> = nodes.into_iter().map(|n| (n.name_bytes(), n)).collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named.dedup_by(|a, b| a.0 == b.0);
    named
}

impl Iterator for SnapshotSource {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        let frame = self.stack.last_mut()?;
        let Some((name, node)) = frame.nodes.next() else {
            self.stack.pop();
            // The root frame ends the walk; any other ends a directory.
            return (!self.stack.is_empty()).then_some(Event::Leave);
        };
        let path = frame.path.join(std::ffi::OsStr::from_bytes(&name));
        if !crate::format::tree::is_safe_name(&name) {
            return Some(Event::Skipped {
                path,
                error: format!("unsafe name {:?}", node.name),
            });
        }
        Some(self.event(node, path))
    }
}

impl Source for SnapshotSource {
    fn paths(&self) -> Vec<String> {
        self.paths.clone()
    }
}

/// A file's content: its blobs read one at a time, in order. A blob that
/// cannot be read is an ordinary I/O error, so the backup skips the file
/// and records why.
struct BlobStream {
    repo: Arc<ResticRepo>,
    blobs: VecDeque<[u8; 32]>,
    buf: Vec<u8>,
    at: usize,
}

impl Read for BlobStream {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.buf.len() {
            let Some(id) = self.blobs.pop_front() else {
                return Ok(0);
            };
            self.buf = self.repo.blob(&id, false).map_err(as_io)?;
            self.at = 0;
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
