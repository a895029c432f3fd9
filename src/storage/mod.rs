//! The backend: opaque keys to immutable bytes. One small trait, so the
//! repository never knows whether it talks to a directory or a bucket.
//! Cross-cutting behaviour (retries, fault injection, statistics) are wrappers
//! implementing the same trait, composed in one place (`open_location`).
//!
//! This module knows nothing of formats, crypto or repositories.

#[doc(hidden)]
pub mod conformance;
pub mod faulty;
pub mod local;
mod location;
pub mod lock_sim;
pub mod memory;
mod pack_buf;
pub mod probe;
pub mod rest;
mod retaining;
pub mod retry;
pub mod s3;
mod staged;
pub mod stats;
mod stray;

use bytes::Bytes;

pub use location::{open_location, open_location_with, OpenedStorage, StorageOptions};
pub use pack_buf::PackBuf;
pub use retaining::{Retaining, RetentionMode};
pub use staged::{BufferedStaged, Pending, PendingSender, Staged};
pub use stray::Stray;

/// How a storage operation failed, which decides whether to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageErrorKind {
    /// The object does not exist.
    NotFound,
    /// Worth retrying: timeouts, dropped connections, 5xx, throttling.
    Transient,
    /// Retrying will not help: permissions, missing bucket, bad request.
    Permanent,
}

/// A failed storage operation.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{op} {key}: {message}")]
pub struct StorageError {
    pub kind: StorageErrorKind,
    pub op: &'static str,
    pub key: String,
    pub message: String,
}

impl StorageError {
    pub fn new(
        kind: StorageErrorKind,
        op: &'static str,
        key: &str,
        message: impl std::fmt::Display,
    ) -> Self {
        StorageError {
            kind,
            op,
            key: key.to_string(),
            message: message.to_string(),
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.kind == StorageErrorKind::NotFound
    }
}

/// Result of a storage operation.
pub type StorageResult<T> = Result<T, StorageError>;

/// A listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The full key, including the listed prefix.
    pub key: String,
    pub size: u64,
    /// When the object was stored (Unix seconds), where the backend says:
    /// the age an R2 bucket-lock rule counts from.
    pub modified: Option<i64>,
}

/// An object store. Keys are `/`-separated relative paths such as
/// `packs/ab/ab12…`; values are immutable once written.
pub trait Storage: Send + Sync {
    /// Stores `data` under `key`, atomically: a reader sees the whole object
    /// or nothing, even if the writer crashes. Returns once it is durable.
    fn put(&self, key: &str, data: Bytes) -> StorageResult<()>;

    /// Like `put`, but only if no object exists under `key`; returns whether
    /// this call created it. Used for locks.
    fn put_if_absent(&self, key: &str, data: Bytes) -> StorageResult<bool>;

    /// The whole object.
    fn get(&self, key: &str) -> StorageResult<Vec<u8>>;

    /// `len` bytes from `offset`. Reading past the end is an error, so a
    /// truncated object is never mistaken for a short one.
    fn get_range(&self, key: &str, offset: u64, len: u64) -> StorageResult<Vec<u8>>;

    /// Every object whose key starts with `prefix`, in no particular order.
    fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectInfo>>;

    /// Removes the object; deleting a missing object is not an error.
    fn delete(&self, key: &str) -> StorageResult<()>;

    /// Where this storage points, for messages (never includes secrets).
    fn location(&self) -> String;

    /// Starts an object to be written piece by piece and stored with
    /// [`Staged::commit`]. The default buffers it in memory and `put`s it.
    fn stage(&self) -> StorageResult<Box<dyn Staged + '_>> {
        Ok(Box::new(BufferedStaged::new(self.as_dyn())))
    }

    /// `self` as a trait object (lets default methods hand themselves out).
    fn as_dyn(&self) -> &dyn Storage;

    /// Leftovers of writes that never finished (a killed writer's temporary
    /// files), which `list` never shows. The default, for backends whose
    /// writes leave nothing behind, is none.
    fn strays(&self) -> StorageResult<Vec<Stray>> {
        Ok(Vec::new())
    }

    /// Removes a leftover [`Storage::strays`] returned; one already gone is
    /// not an error.
    fn remove_stray(&self, _stray: &Stray) -> StorageResult<()> {
        Ok(())
    }

    /// Can objects be given a retention date (S3 Object Lock enabled on the
    /// bucket)? The default, for backends without it, is no.
    fn lock_supported(&self) -> StorageResult<bool> {
        Ok(false)
    }

    /// Sets (or extends) the retention of `key` to `until` (Unix seconds):
    /// until then the storage refuses to delete that version of it.
    fn set_retention(&self, key: &str, _until: i64, _mode: RetentionMode) -> StorageResult<()> {
        Err(StorageError::new(
            StorageErrorKind::Permanent,
            "set_retention",
            key,
            "this storage has no Object Lock",
        ))
    }

    /// The retention date of `key` (Unix seconds), `None` when it has none.
    fn retention(&self, _key: &str) -> StorageResult<Option<i64>> {
        Ok(None)
    }
}

/// Boxed and shared storages are storages too, so wrappers compose over
/// whichever backend a location string chose.
macro_rules! forward_storage {
    ($t:ty) => {
        impl<S: Storage + ?Sized> Storage for $t {
            fn put(&self, key: &str, data: Bytes) -> StorageResult<()> {
                (**self).put(key, data)
            }
            fn put_if_absent(&self, key: &str, data: Bytes) -> StorageResult<bool> {
                (**self).put_if_absent(key, data)
            }
            fn get(&self, key: &str) -> StorageResult<Vec<u8>> {
                (**self).get(key)
            }
            fn get_range(&self, key: &str, offset: u64, len: u64) -> StorageResult<Vec<u8>> {
                (**self).get_range(key, offset, len)
            }
            fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectInfo>> {
                (**self).list(prefix)
            }
            fn delete(&self, key: &str) -> StorageResult<()> {
                (**self).delete(key)
            }
            fn location(&self) -> String {
                (**self).location()
            }
            fn stage(&self) -> StorageResult<Box<dyn Staged + '_>> {
                (**self).stage()
            }
            fn as_dyn(&self) -> &dyn Storage {
                (**self).as_dyn()
            }
            fn strays(&self) -> StorageResult<Vec<Stray>> {
                (**self).strays()
            }
            fn remove_stray(&self, stray: &Stray) -> StorageResult<()> {
                (**self).remove_stray(stray)
            }
            fn lock_supported(&self) -> StorageResult<bool> {
                (**self).lock_supported()
            }
            fn set_retention(
                &self,
                key: &str,
                until: i64,
                mode: RetentionMode,
            ) -> StorageResult<()> {
                (**self).set_retention(key, until, mode)
            }
            fn retention(&self, key: &str) -> StorageResult<Option<i64>> {
                (**self).retention(key)
            }
        }
    };
}

forward_storage!(Box<S>);
forward_storage!(std::sync::Arc<S>);
