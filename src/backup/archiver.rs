//! The backup loop: source events in, trees and queued chunks out.
//! Submodules: `file` (one regular file), `content` (reading and
//! chunking), `database` (snapshots), `deferred` (opened only if changed).

mod content;
mod database;
mod deferred;
mod file;

pub use database::{DatabaseReport, FailedCheck, NotSnapshotted};

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;

use crossbeam_channel::{bounded, Sender};

use crate::backup::budget::Budget;
use crate::backup::open::SeenLink;
use crate::backup::parent::{ParentCursor, ParentTrees};
use crate::backup::read_ahead::{Early, ReadAhead};
use crate::backup::walk_ahead::WalkAhead;
use crate::chunker::Chunker;
use crate::error::{Error, Result};
use crate::format::index::BlobKind;
use crate::format::snapshot::Summary;
use crate::format::tree::{Meta, Node, NodeKind, Tree};
use crate::ids::{BlobId, ChunkId, TreeId};
use crate::progress::{FileOutcome, Progress};
use crate::repo::{BlobWriter, Repository, WriteStats};
use crate::source::content::DatabaseOptions;
use crate::source::{Entry, EntryKind, Event, Source};

/// What the loop produced.
pub struct Outcome {
    pub root: TreeId,
    pub summary: Summary,
    pub skipped: Vec<(PathBuf, String)>,
    pub changed: Vec<PathBuf>,
    pub dry_run_stats: WriteStats,
    pub databases: DatabaseReport,
}

/// Bytes of chunks between the reader and the workers (queued or being
/// sealed). Enough to keep two workers busy; small enough that memory does
/// not grow with the chunk size limit.
const IN_FLIGHT_BYTES: usize = 12 * 1024 * 1024;
/// Small files make many small chunks: cap their count too.
const IN_FLIGHT_CHUNKS: usize = 256;
/// Chunks cross to the workers in batches of up to this many, or of
/// [`BATCH_BYTES`]: one wake-up of a waiting worker per chunk cost a
/// futex call and several `sched_yield`s per small file.
const BATCH_CHUNKS: usize = 32;
const BATCH_BYTES: usize = 1024 * 1024;

/// Chunks sent to the sealing workers together.
type Batch = Vec<(BlobId, Vec<u8>)>;

/// Builds the snapshot's trees on this thread from a walk running on
/// another ([`WalkAhead`]), with `threads` sealing workers.
pub fn run<'r>(
    repo: &'r Repository,
    writer: &BlobWriter<'r>,
    source: &mut dyn Source,
    (parent_root, trees): (Option<TreeId>, &'r dyn ParentTrees),
    (dry_run, threads): (bool, usize),
    db: &DatabaseOptions,
    progress: &dyn Progress,
) -> Result<Outcome> {
    let chunker = Chunker::new(repo.config().chunker, repo.keys().gear())?;
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let budget = Budget::new(IN_FLIGHT_BYTES);
    std::thread::scope(|s| {
        let (tx, rx) = bounded::<Batch>(IN_FLIGHT_CHUNKS / BATCH_CHUNKS);
        if !dry_run {
            for _ in 0..threads {
                let rx = rx.clone();
                let (failure, budget) = (&failure, &budget);
                s.spawn(move || {
                    let mut failed = false;
                    for (id, data) in rx.into_iter().flatten() {
                        // Released even if sealing panics, so the reader is
                        // never left waiting for budget nobody will free.
                        let _release = budget.hold(data.len());
                        // After a failure, keep draining for the same reason.
                        if !failed {
                            if let Err(e) = writer.add_if_new(BlobKind::Data, id, &data) {
                                let mut f = failure.lock().unwrap_or_else(|p| p.into_inner());
                                f.get_or_insert(e);
                                failed = true;
                            }
                        }
                    }
                });
            }
        }
        drop(rx);
        // A first backup reads every file: read small ones ahead.
        let chunk_max = repo.config().chunker.max_size as u64;
        let read_ahead = parent_root
            .is_none()
            .then(|| ReadAhead::new(chunk_max))
            .flatten();
        let events = WalkAhead::spawn(s, source, read_ahead);
        let mut a = Archiver {
            repo,
            writer,
            chunker: &chunker,
            parent: ParentCursor::new(trees, parent_root)?,
            tx: (!dry_run).then_some(tx),
            batch: (Vec::new(), 0),
            failure: &failure,
            budget: &budget,
            dry_run,
            dry_seen: HashSet::new(),
            dry_stats: WriteStats::default(),
            stack: vec![Frame {
                entry: None,
                nodes: Vec::new(),
            }],
            links: HashMap::new(),
            buf: Vec::new(),
            summary: Summary::default(),
            skipped: Vec::new(),
            changed: Vec::new(),
            db,
            databases: DatabaseReport::default(),
            progress,
            early: None,
        };
        let root = a.walk(events);
        // Closing the queue lets the workers drain and exit.
        a.tx = None;
        let root = root?;
        Ok(Outcome {
            root,
            summary: a.summary,
            skipped: a.skipped,
            changed: a.changed,
            dry_run_stats: a.dry_stats,
            databases: a.databases,
        })
    })
    .and_then(
        |o: Outcome| match failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(e) => Err(e),
            None => Ok(o),
        },
    )
}

struct Frame {
    entry: Option<Entry>,
    nodes: Vec<Node>,
}

struct Archiver<'a, 'r> {
    repo: &'r Repository,
    writer: &'a BlobWriter<'r>,
    chunker: &'a Chunker,
    parent: ParentCursor<'r>,
    tx: Option<Sender<Batch>>,
    /// Chunks not yet sent to the workers, and their bytes.
    batch: (Batch, usize),
    failure: &'a Mutex<Option<Error>>,
    budget: &'a Budget,
    dry_run: bool,
    dry_seen: HashSet<BlobId>,
    dry_stats: WriteStats,
    stack: Vec<Frame>,
    /// Chunk lists of multiply-linked files already read, by (device, inode).
    links: HashMap<(u64, u64), SeenLink>,
    buf: Vec<u8>,
    summary: Summary,
    skipped: Vec<(PathBuf, String)>,
    changed: Vec<PathBuf>,
    db: &'a DatabaseOptions,
    databases: DatabaseReport,
    progress: &'a dyn Progress,
    /// The current event's file, if it was read ahead (read_ahead.rs).
    early: Option<Early>,
}

impl Archiver<'_, '_> {
    /// Builds the trees from the walk's events; dropping `events` on an
    /// early return stops the walking thread.
    fn walk(&mut self, mut events: WalkAhead) -> Result<TreeId> {
        while let Some((event, early)) = events.next_event()? {
            if self.worker_failed() {
                break;
            }
            self.early = early;
            match event {
                Event::Enter(mut e) => {
                    self.complete_xattrs(&mut e);
                    self.parent.enter(&e.name);
                    self.stack.push(Frame {
                        entry: Some(e),
                        nodes: Vec::new(),
                    });
                }
                Event::Leave => self.leave()?,
                Event::Leaf(mut e) => {
                    self.complete_xattrs(&mut e);
                    self.leaf(e)?
                }
                Event::Stream(mut e, reader) => {
                    self.complete_xattrs(&mut e);
                    self.stream(e, reader)?
                }
                Event::Deferred(mut e, open) => {
                    self.complete_xattrs(&mut e);
                    self.deferred(e, open)?
                }
                Event::Skipped { path, error } => self.skip(path, error),
            }
        }
        if let Some(e) = self
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            return Err(e);
        }
        if self.stack.len() != 1 {
            return Err(Error::Internal("source ended inside a directory".into()));
        }
        let root = self.stack.pop().map(|f| f.nodes).unwrap_or_default();
        let root = self.store_tree(root)?;
        self.send_batch()?;
        Ok(root)
    }

    /// Fills in xattrs the source deferred: from the parent snapshot when
    /// the entry is provably the same inode unchanged, else read now.
    fn complete_xattrs(&self, e: &mut Entry) {
        if !e.xattrs_deferred {
            return;
        }
        match self.parent.same_xattrs(&e.name, &e.meta) {
            Some(earlier) => e.reuse_xattrs(earlier),
            None => e.load_xattrs(),
        }
    }

    fn worker_failed(&self) -> bool {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    fn skip(&mut self, path: PathBuf, error: String) {
        self.progress
            .warn(&format!("skipped {}: {error}", path.display()));
        self.summary.errors += 1;
        self.skipped.push((path, error));
    }

    fn leave(&mut self) -> Result<()> {
        let frame = self
            .stack
            .pop()
            .filter(|_| !self.stack.is_empty())
            .ok_or_else(|| {
                Error::Internal("source left more directories than it entered".into())
            })?;
        self.parent.leave();
        let entry = frame
            .entry
            .ok_or_else(|| Error::Internal("source left the root".into()))?;
        let subtree = self.store_tree(frame.nodes)?;
        self.summary.dirs += 1;
        self.push(node(entry.name, entry.meta, NodeKind::Dir { subtree }));
        Ok(())
    }

    fn push_file(&mut self, name: Vec<u8>, meta: Meta, size: u64, content: Vec<ChunkId>) {
        self.push(node(name, meta, NodeKind::File { size, content }));
    }

    fn push(&mut self, n: Node) {
        if let Some(top) = self.stack.last_mut() {
            top.nodes.push(n);
        }
    }

    fn store_tree(&mut self, nodes: Vec<Node>) -> Result<TreeId> {
        let mut tree = Tree { nodes };
        tree.sort();
        if tree.nodes.windows(2).any(|w| w[0].name == w[1].name) {
            return Err(Error::Internal("source produced a duplicate name".into()));
        }
        let bytes = tree.encode();
        let id = TreeId(self.repo.keys().blob_id(&bytes));
        self.parent.note_tree(&id, &bytes);
        self.store(BlobKind::Tree, id.into(), bytes)?;
        Ok(id)
    }

    /// Stores a blob unless the repository has it: trees inline, chunks via
    /// the workers.
    fn store(&mut self, kind: BlobKind, id: BlobId, data: Vec<u8>) -> Result<()> {
        if self.dry_run {
            if !self.writer.is_known(kind, &id)? && self.dry_seen.insert(id) {
                self.dry_stats.blobs_added += 1;
                self.dry_stats.bytes_added += data.len() as u64;
            }
            return Ok(());
        }
        match kind {
            BlobKind::Tree => {
                self.writer.add_if_new(kind, id, &data)?;
            }
            BlobKind::Data => {
                if !self.writer.is_known(kind, &id)? && self.tx.is_some() {
                    self.batch.1 += data.len();
                    self.batch.0.push((id, data));
                    if self.batch.0.len() >= BATCH_CHUNKS || self.batch.1 >= BATCH_BYTES {
                        self.send_batch()?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Hands the chunks gathered so far to the workers, within the byte
    /// budget (acquired here, so a batch never waits on its own bytes).
    fn send_batch(&mut self) -> Result<()> {
        let (batch, bytes) = std::mem::take(&mut self.batch);
        let Some(tx) = self.tx.as_ref().filter(|_| !batch.is_empty()) else {
            return Ok(());
        };
        self.budget.acquire(bytes);
        // A send fails only when every worker has stopped on an error.
        if tx.send(batch).is_err() {
            return Err(self.take_failure());
        }
        Ok(())
    }

    fn take_failure(&self) -> Error {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_else(|| Error::Internal("backup workers stopped".into()))
    }

    fn leaf(&mut self, e: Entry) -> Result<()> {
        let kind = match e.kind {
            EntryKind::File { size } => return self.file(e, size),
            EntryKind::Dir => return Err(Error::Internal("directory given as a leaf".into())),
            EntryKind::Symlink { ref target } => NodeKind::Symlink {
                target: target.clone(),
            },
            EntryKind::BlockDevice { rdev } => NodeKind::BlockDevice { rdev },
            EntryKind::CharDevice { rdev } => NodeKind::CharDevice { rdev },
            EntryKind::Fifo => NodeKind::Fifo,
            EntryKind::Socket => NodeKind::Socket,
        };
        self.push(node(e.name, e.meta, kind));
        Ok(())
    }

    fn all_known(&self, content: &[ChunkId]) -> Result<bool> {
        for c in content {
            if !self.writer.is_known(BlobKind::Data, &BlobId::from(*c))? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn stream(&mut self, e: Entry, mut reader: Box<dyn Read + Send>) -> Result<()> {
        self.progress.item(&e.path);
        let (read, content) = match self.stream_content(&mut reader) {
            Ok(r) => r,
            Err(Error::Io { source, .. }) => {
                self.skip(e.path, crate::source::skippable(source)?.to_string());
                return Ok(());
            }
            Err(other) => return Err(other),
        };
        self.summary.files_new += 1;
        self.summary.total_bytes += read;
        self.progress.file(&e.path, FileOutcome::New, read);
        self.push_file(e.name, e.meta, read, content);
        Ok(())
    }
}

fn node(name: Vec<u8>, meta: Meta, kind: NodeKind) -> Node {
    Node { name, kind, meta }
}
