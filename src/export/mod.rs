//! Taking snapshots out of the repository as single files: [`archive`]
//! streams a directory as tar or zip to any `Write`; [`bundle`] packs whole
//! snapshots, with their trees and data, into one encrypted file that
//! another repository can import without re-chunking.

pub mod archive;
pub mod bundle;
