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

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}
