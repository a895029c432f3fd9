//! Writing immutable objects under S3 Object Lock: a wrapper that gives
//! every object it is told is immutable a retention date right after the
//! object is stored. Mutable objects (locks, markers, probes) pass through
//! untouched, so they stay deletable.
//!
//! The date is set with a second request (PutObjectRetention) rather than
//! headers on the PUT itself, so the wrapper works for every backend and
//! every way of writing (plain, create-only, multipart). The cost is one
//! class-A request per immutable object; a crash between the two leaves an
//! object without retention, which `cairn repo extend-lock` repairs.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::{ObjectInfo, Pending, Staged, Storage, StorageResult, Stray};

/// Which S3 Object Lock mode a retention date is set in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionMode {
    /// Nobody can shorten it or delete the object before it ends.
    Compliance,
    /// Principals allowed to bypass governance retention still can.
    Governance,
}

/// Decides which keys are immutable (the repository layout knows).
pub type IsImmutable = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Stores through `inner` and sets `retain` seconds of retention on every
/// immutable object it writes.
pub struct Retaining<S> {
    inner: S,
    retain: i64,
    mode: RetentionMode,
    immutable: IsImmutable,
}

impl<S: Storage> Retaining<S> {
    pub fn new(inner: S, retain: i64, mode: RetentionMode, immutable: IsImmutable) -> Self {
        Retaining {
            inner,
            retain,
            mode,
            immutable,
        }
    }

    /// Gives `key` its retention, if it is immutable.
    fn retain(&self, key: &str) -> StorageResult<()> {
        if !(self.immutable)(key) {
            return Ok(());
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.inner
            .set_retention(key, now.saturating_add(self.retain), self.mode)
    }
}

impl<S: Storage> Storage for Retaining<S> {
    fn put(&self, key: &str, data: Bytes) -> StorageResult<()> {
        self.inner.put(key, data)?;
        self.retain(key)
    }

    fn put_if_absent(&self, key: &str, data: Bytes) -> StorageResult<bool> {
        let created = self.inner.put_if_absent(key, data)?;
        if created {
            self.retain(key)?;
        }
        Ok(created)
    }

    fn get(&self, key: &str) -> StorageResult<Vec<u8>> {
        self.inner.get(key)
    }

    fn get_range(&self, key: &str, offset: u64, len: u64) -> StorageResult<Vec<u8>> {
        self.inner.get_range(key, offset, len)
    }

    fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectInfo>> {
        self.inner.list(prefix)
    }

    fn delete(&self, key: &str) -> StorageResult<()> {
        self.inner.delete(key)
    }

    fn location(&self) -> String {
        self.inner.location()
    }

    fn stage(&self) -> StorageResult<Box<dyn Staged + '_>> {
        Ok(Box::new(RetainingStaged {
            inner: self.inner.stage()?,
            owner: self,
        }))
    }

    fn as_dyn(&self) -> &dyn Storage {
        self
    }

    fn strays(&self) -> StorageResult<Vec<Stray>> {
        self.inner.strays()
    }

    fn remove_stray(&self, stray: &Stray) -> StorageResult<()> {
        self.inner.remove_stray(stray)
    }

    fn lock_supported(&self) -> StorageResult<bool> {
        self.inner.lock_supported()
    }

    fn set_retention(&self, key: &str, until: i64, mode: RetentionMode) -> StorageResult<()> {
        self.inner.set_retention(key, until, mode)
    }

    fn retention(&self, key: &str) -> StorageResult<Option<i64>> {
        self.inner.retention(key)
    }
}

/// A staged object that gets its retention once committed. Commits run in
/// the foreground: the retention can only be set on a stored object.
struct RetainingStaged<'s, S> {
    inner: Box<dyn Staged + 's>,
    owner: &'s Retaining<S>,
}

impl<S: Storage> Staged for RetainingStaged<'_, S> {
    fn write(&mut self, data: &[u8]) -> StorageResult<()> {
        self.inner.write(data)
    }

    fn len(&self) -> u64 {
        self.inner.len()
    }

    fn commit(self: Box<Self>, key: &str) -> StorageResult<()> {
        self.inner.commit(key)?;
        self.owner.retain(key)
    }

    fn commit_background(self: Box<Self>, key: &str) -> StorageResult<Pending> {
        Ok(Pending::ready(self.commit(key)))
    }
}
