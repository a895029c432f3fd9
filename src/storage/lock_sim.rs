//! A stand-in for S3 Object Lock (and R2 bucket locks) in tests: records the
//! retention dates set on objects and refuses to delete an object before
//! its date, on a clock the test moves. Wraps any storage.
//!
//! It behaves like deleting a specific object version on a locked bucket
//! (AccessDenied) or an R2 bucket-lock rule, not like a plain DELETE on a
//! versioned bucket, which "succeeds" by hiding the object behind a delete
//! marker: refusing is the stricter test of a caller that must not try.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::{
    ObjectInfo, RetentionMode, Staged, Storage, StorageError, StorageErrorKind, StorageResult,
    Stray,
};

/// Storage with simulated Object Lock.
pub struct LockSimStorage<S> {
    inner: S,
    until: Mutex<HashMap<String, i64>>,
    clock: Arc<AtomicI64>,
}

impl<S: Storage> LockSimStorage<S> {
    /// `clock` is "now" in Unix seconds, as the storage sees it.
    pub fn new(inner: S, clock: Arc<AtomicI64>) -> Self {
        LockSimStorage {
            inner,
            until: Mutex::new(HashMap::new()),
            clock,
        }
    }

    /// Keys with a retention date that has not passed.
    pub fn locked_keys(&self) -> Vec<String> {
        let now = self.clock.load(Ordering::SeqCst);
        let map = self.until.lock().expect("lock sim poisoned");
        let mut keys: Vec<String> = map
            .iter()
            .filter(|(_, u)| **u > now)
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        keys
    }
}

impl<S: Storage> Storage for LockSimStorage<S> {
    fn put(&self, key: &str, data: Bytes) -> StorageResult<()> {
        self.inner.put(key, data)
    }

    fn put_if_absent(&self, key: &str, data: Bytes) -> StorageResult<bool> {
        self.inner.put_if_absent(key, data)
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
        let now = self.clock.load(Ordering::SeqCst);
        let mut map = self.until.lock().expect("lock sim poisoned");
        if let Some(until) = map.get(key).copied() {
            if now < until {
                return Err(StorageError::new(
                    StorageErrorKind::Permanent,
                    "delete",
                    key,
                    format!("Access Denied: object locked until {until}"),
                ));
            }
            map.remove(key);
        }
        self.inner.delete(key)
    }

    fn location(&self) -> String {
        self.inner.location()
    }

    fn stage(&self) -> StorageResult<Box<dyn Staged + '_>> {
        self.inner.stage()
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
        Ok(true)
    }

    /// Like compliance mode: a date can be extended, never shortened.
    fn set_retention(&self, key: &str, until: i64, _mode: RetentionMode) -> StorageResult<()> {
        let mut map = self.until.lock().expect("lock sim poisoned");
        let slot = map.entry(key.to_string()).or_insert(until);
        *slot = (*slot).max(until);
        Ok(())
    }

    fn retention(&self, key: &str) -> StorageResult<Option<i64>> {
        Ok(self
            .until
            .lock()
            .expect("lock sim poisoned")
            .get(key)
            .copied())
    }
}
