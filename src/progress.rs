//! Progress reporting from long operations to whoever renders it. The
//! library only calls the observer; the CLI decides between a bar, JSON
//! lines or nothing.
//!
//! The observer is also the one way back: [`Progress::cancelled`] lets
//! whoever runs an operation ask it to stop (the CLI on Ctrl-C). Long
//! operations poll it at safe points and return
//! [`crate::Error::Interrupted`] saying what state they left, so every
//! long operation can be stopped without a second parameter threaded
//! through every call.

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
    /// Whether the operation should stop at its next safe point. Polled
    /// often: keep it to an atomic load.
    fn cancelled(&self) -> bool {
        false
    }
}

/// `Err(Error::Interrupted(state()))` if `progress` asks to stop: the
/// check at a safe point. `state` says what the operation leaves behind.
pub fn check_cancelled(
    progress: &dyn Progress,
    state: impl FnOnce() -> String,
) -> crate::Result<()> {
    if progress.cancelled() {
        return Err(crate::Error::Interrupted(state()));
    }
    Ok(())
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
