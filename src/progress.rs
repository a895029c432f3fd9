//! Progress reporting from long operations to whoever renders it. The
//! library only calls the observer; the CLI decides between a bar, JSON
//! lines or nothing.

use std::path::Path;

/// Receives progress from an operation. Every method has a no-op default, and
/// implementations must be cheap: they are called from worker threads.
pub trait Progress: Send + Sync {
    /// A phase starts, with totals when they are known.
    fn start(&self, _phase: &str, _total_items: Option<u64>, _total_bytes: Option<u64>) {}
    /// One item (file) done.
    fn item(&self, _path: &Path) {}
    /// `n` more bytes processed.
    fn bytes(&self, _n: u64) {}
    /// A backup stored a file: read it (new or modified) or took its content
    /// from the parent snapshot (unmodified). `size` is the file's size.
    fn file(&self, _path: &Path, _outcome: FileOutcome, _size: u64) {}
    /// Something was skipped or is suspicious; the operation goes on.
    fn warn(&self, _message: &str) {}
    /// The phase is over.
    fn finish(&self) {}
}

/// What a backup did with one file, as `backup -v` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOutcome {
    /// Not in the parent snapshot: read.
    New,
    /// In the parent snapshot but changed (or its data is gone): read again.
    Modified,
    /// Unchanged since the parent snapshot: its content was reused, not read.
    Unmodified,
}

impl FileOutcome {
    /// The outcome of a file that was read: new unless the parent has it.
    pub fn read(is_new: bool) -> Self {
        if is_new {
            FileOutcome::New
        } else {
            FileOutcome::Modified
        }
    }

    /// The word `backup -v` and its JSON print.
    pub fn name(self) -> &'static str {
        match self {
            FileOutcome::New => "new",
            FileOutcome::Modified => "modified",
            FileOutcome::Unmodified => "unmodified",
        }
    }
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}
