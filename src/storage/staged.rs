//! Objects written piece by piece (packs), so a writer need not hold a whole
//! pack in memory. A backend that can do better than buffering (a local
//! temporary file renamed into place, a multipart upload) overrides
//! [`crate::storage::Storage::stage`].

use bytes::Bytes;

use crate::storage::{Storage, StorageResult};

/// An object being written. Nothing is visible under any key until
/// [`Staged::commit`] returns; dropping it uncommitted discards it.
pub trait Staged: Send {
    /// Appends bytes.
    fn write(&mut self, data: &[u8]) -> StorageResult<()>;
    /// Bytes written so far.
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Stores everything written under `key`, durably, like `put`.
    fn commit(self: Box<Self>, key: &str) -> StorageResult<()>;
}

/// The default: buffer in memory, then one `put`.
pub struct BufferedStaged<'s> {
    storage: &'s dyn Storage,
    buf: Vec<u8>,
}

impl<'s> BufferedStaged<'s> {
    pub fn new(storage: &'s dyn Storage) -> Self {
        BufferedStaged {
            storage,
            buf: Vec::new(),
        }
    }
}

impl Staged for BufferedStaged<'_> {
    fn write(&mut self, data: &[u8]) -> StorageResult<()> {
        self.buf.extend_from_slice(data);
        Ok(())
    }

    fn len(&self) -> u64 {
        self.buf.len() as u64
    }

    fn commit(self: Box<Self>, key: &str) -> StorageResult<()> {
        self.storage.put(key, Bytes::from(self.buf))
    }
}
