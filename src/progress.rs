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
    /// Something was skipped or is suspicious; the operation goes on.
    fn warn(&self, _message: &str) {}
    /// The phase is over.
    fn finish(&self) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}
