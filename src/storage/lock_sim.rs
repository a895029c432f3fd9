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

use super::staged::BufferedStaged;
use super::{
    ObjectInfo, RetentionMode, Staged, Storage, StorageError, StorageErrorKind, StorageResult,
    Stray,
};

/// Which keys a bucket-lock rule protects.
pub type RuleKeys = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Storage with simulated Object Lock.
pub struct LockSimStorage<S> {
    inner: S,
    until: Mutex<HashMap<String, i64>>,
    clock: Arc<AtomicI64>,
    /// An R2-style bucket-lock rule: keys it matches are locked for this
    /// many seconds from their upload, whatever the writer asked.
    rule: Option<(i64, RuleKeys)>,
}

impl<S: Storage> LockSimStorage<S> {
    /// `clock` is "now" in Unix seconds, as the storage sees it.
    pub fn new(inner: S, clock: Arc<AtomicI64>) -> Self {
        LockSimStorage {
            inner,
            until: Mutex::new(HashMap::new()),
            clock,
            rule: None,
        }
    }

    /// Adds a bucket-lock rule (set outside the S3 API, as on R2): every
    /// key `keys` matches is locked for `age_secs` from its upload.
    pub fn with_rule(mut self, age_secs: i64, keys: RuleKeys) -> Self {
        self.rule = Some((age_secs, keys));
        self
    }

    /// Applies the bucket-lock rule to `key`, just uploaded.
    fn uploaded(&self, key: &str) {
        if let Some((age, keys)) = &self.rule {
            if keys(key) {
                let until = self.clock.load(Ordering::SeqCst) + age;
                let mut map = self.until.lock().expect("lock sim poisoned");
                let slot = map.entry(key.to_string()).or_insert(until);
                *slot = (*slot).max(until);
            }
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
        self.inner.put(key, data)?;
        self.uploaded(key);
        Ok(())
    }

    fn put_if_absent(&self, key: &str, data: Bytes) -> StorageResult<bool> {
        let stored = self.inner.put_if_absent(key, data)?;
        if stored {
            self.uploaded(key);
        }
        Ok(stored)
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
        match self.rule {
            // Through `put`, so the rule sees the upload.
            Some(_) => Ok(Box::new(BufferedStaged::new(self))),
            None => self.inner.stage(),
        }
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
