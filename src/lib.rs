//! cairn: encrypted, deduplicating, content-addressed backups.

pub mod chunker;
pub mod crypto;
pub mod error;
pub mod format;
pub mod ids;
pub mod progress;
pub mod source;
pub mod storage;

pub use error::{Error, ErrorKind, Result};
