//! Sources: what a backup reads. A source is an iterator of [`Event`]s that
//! describes one directory hierarchy depth-first, children sorted by
//! byte-exact name, so the backup can build each tree as soon as its
//! directory ends. A new kind of source (a live SQLite database, an S3
//! bucket) is one new module producing the same events.
//!
//! Sources know nothing of the repository.

pub mod bucket;
pub mod command;
pub mod content;
pub mod fs;
pub mod sqlite;
pub mod stdin;

use std::io::Read;
use std::path::PathBuf;

use crate::format::tree::Meta;

/// What an entry is, before its content has been read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File { size: u64 },
    Dir,
    Symlink { target: Vec<u8> },
    BlockDevice { rdev: u64 },
    CharDevice { rdev: u64 },
    Fifo,
    Socket,
}

/// One entry, with the metadata that goes into its tree node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Byte-exact name inside its parent.
    pub name: Vec<u8>,
    /// Where it lives on the source system (for opening and for messages).
    pub path: PathBuf,
    pub kind: EntryKind,
    pub meta: Meta,
    /// `meta.xattrs` is not read yet: listing xattrs costs two path lookups
    /// and syscalls per entry, most of an unchanged re-backup's time, and an
    /// entry the parent snapshot already has with the same inode and ctime
    /// has the same xattrs (setting or removing one changes the ctime). The
    /// consumer calls [`Entry::reuse_xattrs`] or [`Entry::load_xattrs`].
    pub xattrs_deferred: bool,
}

impl Entry {
    /// Reads the xattrs the source deferred (a no-op otherwise).
    pub fn load_xattrs(&mut self) {
        if std::mem::take(&mut self.xattrs_deferred) {
            self.meta.xattrs = fs::read_xattrs(&self.path);
        }
    }

    /// Takes deferred xattrs from an earlier snapshot's node of the same
    /// inode and ctime instead of reading them (a no-op when not deferred).
    pub fn reuse_xattrs(&mut self, earlier: &[crate::format::tree::Xattr]) {
        if std::mem::take(&mut self.xattrs_deferred) {
            self.meta.xattrs = earlier.to_vec();
        }
    }
}

/// One step of a depth-first walk.
pub enum Event {
    /// A directory starts; its children follow, sorted by name, until [`Event::Leave`].
    Enter(Entry),
    /// The most recently entered directory ends.
    Leave,
    /// A non-directory entry; a regular file's content is read from `entry.path`.
    Leaf(Entry),
    /// A regular file whose content comes from a stream rather than a path
    /// (standard input, a database's online backup).
    Stream(Entry, Box<dyn Read + Send>),
    /// A regular file whose content is opened only if the backup needs it:
    /// the consumer first compares the entry with the parent snapshot like
    /// a [`Event::Leaf`] (size, mtime, ctime, inode) and also requires equal
    /// xattrs, and calls the opener only when they differ. Opening may
    /// complete the entry's metadata (a bucket object's HTTP headers are
    /// only known once it is read). Reading costs requests (a bucket).
    Deferred(Entry, OpenFn),
    /// An entry that could not be read: reported, counted, left out.
    Skipped { path: PathBuf, error: String },
}

/// Opens a [`Event::Deferred`] file's content, updating its metadata. An
/// error skips the file (or, wrapping a [`crate::Error`], fails the backup:
/// see [`skippable`]).
pub type OpenFn = Box<dyn FnOnce(&mut Meta) -> std::io::Result<Box<dyn Read + Send>> + Send>;

/// What the parent snapshot recorded for a regular file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentFile {
    pub size: u64,
    pub meta: Meta,
}

impl ParentFile {
    /// Does an entry of this size and metadata count as unchanged for a
    /// [`Event::Deferred`] file? Size, mtime, ctime, inode and xattrs equal.
    pub fn matches(&self, size: u64, meta: &Meta) -> bool {
        same_file((self.size, &self.meta), (size, meta))
    }
}

/// The unchanged test of [`ParentFile::matches`] on (size, metadata) pairs.
pub fn same_file(a: (u64, &Meta), b: (u64, &Meta)) -> bool {
    a.0 == b.0
        && a.1.mtime == b.1.mtime
        && a.1.ctime == b.1.ctime
        && a.1.inode == b.1.inode
        && a.1.xattrs == b.1.xattrs
}

/// Looks up the parent snapshot's regular file at a path (names from the
/// snapshot's root).
pub type ParentLookup<'a> = &'a mut dyn FnMut(&[Vec<u8>]) -> Option<ParentFile>;

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Enter(e) => f.debug_tuple("Enter").field(e).finish(),
            Event::Leave => f.write_str("Leave"),
            Event::Leaf(e) => f.debug_tuple("Leaf").field(e).finish(),
            Event::Stream(e, _) => f.debug_tuple("Stream").field(e).finish(),
            Event::Deferred(e, _) => f.debug_tuple("Deferred").field(e).finish(),
            Event::Skipped { path, error } => f
                .debug_struct("Skipped")
                .field("path", path)
                .field("error", error)
                .finish(),
        }
    }
}

/// A source of entries for one snapshot.
pub trait Source: Iterator<Item = Event> + Send {
    /// The paths recorded in the snapshot (used to find a parent snapshot).
    fn paths(&self) -> Vec<String>;

    /// Called once before the walk with the parent snapshot's files (a
    /// lookup that finds nothing when there is no parent). A source whose
    /// reads cost requests and run ahead of the archiver (a bucket
    /// prefetches objects in parallel) must know before the walk which
    /// files the archiver will not read, or it would fetch them for
    /// nothing; the archiver alone decides too late. Others ignore it.
    fn see_parent(&mut self, _parent: ParentLookup) -> crate::Result<()> {
        Ok(())
    }
}

/// A stream reader ([`Event::Stream`]) can only fail with an I/O error, and
/// a failed read normally skips its file: the snapshot is saved without it.
/// A reader whose failure must fail the whole backup instead (a dump cut
/// short must never become a snapshot) wraps a [`crate::Error`] in the
/// I/O error; this gives back `Ok` with an ordinary read error (skip the
/// file) or `Err` with the wrapped error (fail the backup).
pub fn skippable(e: std::io::Error) -> crate::Result<std::io::Error> {
    if !e.get_ref().is_some_and(|inner| inner.is::<crate::Error>()) {
        return Ok(e);
    }
    match e.into_inner().map(|inner| inner.downcast::<crate::Error>()) {
        Some(Ok(err)) => Err(*err),
        _ => Err(crate::Error::Internal("a stream's error vanished".into())),
    }
}
