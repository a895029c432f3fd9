//! Bundles: whole snapshots in one encrypted file (format-spec chapter 15).
//!
//! A bundle is sealed under a key derived from a *bundle password*
//! (Argon2id, parameters in the clear header), not under any repository's
//! key, so it can be opened by whoever imports it. Blobs keep their
//! plaintext-determined content, so import never re-chunks:
//!
//! - into a repository with the same id key (the same repository, or one
//!   sharing its master key), ids carry over unchanged, are verified, and
//!   everything already present is deduplicated;
//! - into any other repository, import recomputes each data blob's id under
//!   the target's key (a hash, no re-chunking) and rewrites trees bottom-up
//!   with the new ids. Chunk boundaries stay those of the source's chunker,
//!   so dedup against the target's own backups is by whole chunk only.
//!
//! Import verifies everything before recording anything: a first pass
//! checks every blob's checksum, seal, length and id and builds the new
//! trees in memory-light form (an id map); only then does a second pass
//! write packs and index files, and snapshots come last.

mod read;
mod write;

pub use read::{import_bundle, ImportStats};
pub use write::{export_bundle, ExportStats};

use crate::crypto::{KdfParams, Keys, MasterKey};
use crate::error::Result;
use crate::format::bundle::BundleHeader;
use crate::format::envelope::ObjectType;
use crate::format::index::BlobKind;

/// Derives the keys a bundle is sealed with from its password: the
/// Argon2id output plays the part of a master key.
fn bundle_keys(header: &BundleHeader, password: &[u8]) -> Result<Keys> {
    let kek = header.kdf.derive(password, &header.salt)?;
    Ok(MasterKey::from_bytes(*kek).derive())
}

/// The envelope type a blob of `kind` is sealed as.
fn object_type(kind: BlobKind) -> ObjectType {
    match kind {
        BlobKind::Data => ObjectType::DataBlob,
        BlobKind::Tree => ObjectType::TreeBlob,
    }
}

/// How hard export makes the bundle password to guess.
#[derive(Debug, Clone, Copy)]
pub struct ExportOptions {
    pub kdf: KdfParams,
    /// zstd level for the sealed blobs.
    pub compression: Option<i32>,
}
