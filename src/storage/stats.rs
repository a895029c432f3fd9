//! Request and traffic counters, for `--stats` and for tests that assert how
//! many requests an operation costs. Object stores bill writes and lists
//! ("class A") far above reads ("class B"), so those are counted apart.
//!
//! It counts storage operations as the layer below it sees them: under a
//! retry wrapper (`Retry<Stats<S>>`) every retried call counts. Over the S3
//! backend, which retries inside the SDK, a retried request and a multipart
//! upload each count once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde::Serialize;

use super::{ObjectInfo, Pending, Staged, Storage, StorageResult, Stray};

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StorageStats {
    /// `put` and `put_if_absent` requests.
    pub puts: u64,
    pub lists: u64,
    /// `get` and `get_range` requests.
    pub gets: u64,
    pub deletes: u64,
    /// Writes plus lists: the expensive class on object stores.
    pub write_list_requests: u64,
    /// Reads: the cheap class.
    pub read_requests: u64,
    /// Payload bytes of puts sent (including failed ones).
    pub bytes_up: u64,
    /// Payload bytes of successful reads received.
    pub bytes_down: u64,
    /// Requests that returned an error of any kind, NotFound included.
    pub errors: u64,
    /// What went over the network, for backends that count it (S3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wire: Option<WireStats>,
}

/// HTTP requests a backend really sent, by billing class: SDK retries and
/// every part of a multipart upload count, unlike the operations above.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WireStats {
    pub requests: u64,
    /// Writes and lists (PUT, POST, list GETs).
    pub class_a: u64,
    /// Reads (GET, HEAD).
    pub class_b: u64,
    /// Deletes (not billed by R2).
    pub free: u64,
}

/// The billing class of one HTTP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestClass {
    A,
    B,
    Free,
}

/// Counts HTTP requests; the backend holds one and records every attempt.
#[derive(Debug, Clone, Default)]
pub struct WireCounter(Arc<[AtomicU64; 3]>);

impl WireCounter {
    pub fn record(&self, class: RequestClass) {
        let i = match class {
            RequestClass::A => 0,
            RequestClass::B => 1,
            RequestClass::Free => 2,
        };
        self.0[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> WireStats {
        let [a, b, free] = [0, 1, 2].map(|i| self.0[i].load(Ordering::Relaxed));
        WireStats {
            requests: a + b + free,
            class_a: a,
            class_b: b,
            free,
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    puts: AtomicU64,
    lists: AtomicU64,
    gets: AtomicU64,
    deletes: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    errors: AtomicU64,
    wire: OnceLock<WireCounter>,
}

/// A cheap, cloneable handle to read the counters after the storage itself
/// has been handed to the repository.
#[derive(Debug, Clone, Default)]
pub struct StatsHandle(Arc<Counters>);

impl StatsHandle {
    pub fn snapshot(&self) -> StorageStats {
        let c = &self.0;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (puts, lists, gets) = (get(&c.puts), get(&c.lists), get(&c.gets));
        StorageStats {
            puts,
            lists,
            gets,
            deletes: get(&c.deletes),
            write_list_requests: puts + lists,
            read_requests: gets,
            bytes_up: get(&c.bytes_up),
            bytes_down: get(&c.bytes_down),
            errors: get(&c.errors),
            wire: c.wire.get().map(WireCounter::snapshot),
        }
    }

    /// Adds the backend's own count of HTTP requests to the snapshots.
    pub fn attach_wire(&self, wire: WireCounter) {
        let _ = self.0.wire.set(wire);
    }
}

/// A [`Storage`] wrapper that counts requests and bytes.
#[derive(Debug)]
pub struct StatsStorage<S> {
    inner: S,
    counters: StatsHandle,
}

impl<S: Storage> StatsStorage<S> {
    pub fn new(inner: S) -> Self {
        StatsStorage {
            inner,
            counters: StatsHandle::default(),
        }
    }

    pub fn handle(&self) -> StatsHandle {
        self.counters.clone()
    }

    pub fn snapshot(&self) -> StorageStats {
        self.counters.snapshot()
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn count<T>(&self, class: &AtomicU64, result: StorageResult<T>) -> StorageResult<T> {
        class.fetch_add(1, Ordering::Relaxed);
        if result.is_err() {
            self.counters.0.errors.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    fn count_read(&self, result: StorageResult<Vec<u8>>) -> StorageResult<Vec<u8>> {
        if let Ok(data) = &result {
            self.counters
                .0
                .bytes_down
                .fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        self.count(&self.counters.0.gets, result)
    }

    fn count_upload(&self, data: &Bytes) {
        self.counters
            .0
            .bytes_up
            .fetch_add(data.len() as u64, Ordering::Relaxed);
    }
}

impl<S: Storage> Storage for StatsStorage<S> {
    fn put(&self, key: &str, data: Bytes) -> StorageResult<()> {
        self.count_upload(&data);
        self.count(&self.counters.0.puts, self.inner.put(key, data))
    }

    fn put_if_absent(&self, key: &str, data: Bytes) -> StorageResult<bool> {
        self.count_upload(&data);
        self.count(&self.counters.0.puts, self.inner.put_if_absent(key, data))
    }

    fn get(&self, key: &str) -> StorageResult<Vec<u8>> {
        self.count_read(self.inner.get(key))
    }

    fn get_range(&self, key: &str, offset: u64, len: u64) -> StorageResult<Vec<u8>> {
        self.count_read(self.inner.get_range(key, offset, len))
    }

    fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectInfo>> {
        self.count(&self.counters.0.lists, self.inner.list(prefix))
    }

    fn delete(&self, key: &str) -> StorageResult<()> {
        self.count(&self.counters.0.deletes, self.inner.delete(key))
    }

    fn location(&self) -> String {
        self.inner.location()
    }

    /// Keeps the backend's own staging (a temporary file, a background
    /// upload) and counts the commit as one put.
    fn stage(&self) -> StorageResult<Box<dyn Staged + '_>> {
        Ok(Box::new(StatsStaged {
            inner: self.inner.stage()?,
            counters: self.counters.clone(),
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

    /// Counted as a write (S3 bills PutObjectRetention as class A).
    fn set_retention(
        &self,
        key: &str,
        until: i64,
        mode: super::RetentionMode,
    ) -> StorageResult<()> {
        let result = self.inner.set_retention(key, until, mode);
        self.count(&self.counters.0.puts, result)
    }

    /// Counted as a read (GetObjectRetention is class B).
    fn retention(&self, key: &str) -> StorageResult<Option<i64>> {
        self.count(&self.counters.0.gets, self.inner.retention(key))
    }
}

/// A counted staged object.
struct StatsStaged<'s> {
    inner: Box<dyn Staged + 's>,
    counters: StatsHandle,
}

impl StatsStaged<'_> {
    fn count_commit(&self) {
        let c = &self.counters.0;
        c.puts.fetch_add(1, Ordering::Relaxed);
        c.bytes_up.fetch_add(self.inner.len(), Ordering::Relaxed);
    }
}

impl Staged for StatsStaged<'_> {
    fn write(&mut self, data: &[u8]) -> StorageResult<()> {
        self.inner.write(data)
    }

    fn len(&self) -> u64 {
        self.inner.len()
    }

    fn commit(self: Box<Self>, key: &str) -> StorageResult<()> {
        self.count_commit();
        let result = self.inner.commit(key);
        if result.is_err() {
            self.counters.0.errors.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    fn commit_background(self: Box<Self>, key: &str) -> StorageResult<Pending> {
        self.count_commit();
        let counters = self.counters.clone();
        let pending = self.inner.commit_background(key).inspect_err(|_| {
            counters.0.errors.fetch_add(1, Ordering::Relaxed);
        })?;
        Ok(pending.on_finish(move |r| {
            if r.is_err() {
                counters.0.errors.fetch_add(1, Ordering::Relaxed);
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::conformance;
    use crate::storage::faulty::{FaultConfig, FaultyStorage};
    use crate::storage::memory::MemoryStorage;
    use crate::storage::retry::{RetryPolicy, RetryStorage};

    #[test]
    fn counts_requests_by_class_and_bytes() {
        let s = StatsStorage::new(MemoryStorage::new());
        let handle = s.handle();
        s.put("a", Bytes::from(vec![0u8; 100])).unwrap();
        assert!(!s.put_if_absent("a", Bytes::from(vec![0u8; 10])).unwrap());
        assert_eq!(s.get_range("a", 10, 20).unwrap().len(), 20);
        assert_eq!(s.get("a").unwrap().len(), 100);
        assert!(s.get("missing").is_err());
        assert_eq!(s.list("").unwrap().len(), 1);
        s.delete("a").unwrap();
        let expected = StorageStats {
            puts: 2,
            lists: 1,
            gets: 3,
            deletes: 1,
            write_list_requests: 3,
            read_requests: 3,
            bytes_up: 110,
            bytes_down: 120,
            errors: 1,
            wire: None,
        };
        assert_eq!(handle.snapshot(), expected);
        let json = serde_json::to_value(handle.snapshot()).unwrap();
        assert_eq!(json["write_list_requests"], 3);
    }

    #[test]
    fn under_retry_counts_every_attempt() {
        let faulty = FaultyStorage::new(MemoryStorage::new(), FaultConfig::seeded(5));
        faulty.set_dead(true);
        let policy = RetryPolicy {
            attempts: 3,
            base_delay: std::time::Duration::from_micros(100),
            max_delay: std::time::Duration::from_micros(100),
        };
        let s = RetryStorage::new(StatsStorage::new(faulty), policy);
        assert!(s.get("k").is_err());
        let stats = s.inner().snapshot();
        assert_eq!((stats.gets, stats.errors), (3, 3));
    }

    #[test]
    fn staged_commits_count_as_puts() {
        let s = StatsStorage::new(MemoryStorage::new());
        let mut st = s.stage().unwrap();
        st.write(&[1u8; 300]).unwrap();
        st.commit_background("p").unwrap().wait().unwrap();
        let mut st = s.stage().unwrap();
        st.write(&[2u8; 50]).unwrap();
        st.commit("q").unwrap();
        let stats = s.snapshot();
        assert_eq!((stats.puts, stats.bytes_up, stats.errors), (2, 350, 0));
        assert_eq!(s.inner().get("p").unwrap().len(), 300);
    }

    #[test]
    fn passes_conformance_suite() {
        let s = StatsStorage::new(MemoryStorage::new());
        conformance::run_all(&s);
        assert!(s.snapshot().bytes_up > 20 << 20);
    }
}
