//! Fault injection for tests: wraps any storage and makes it misbehave the
//! ways real backends do, in seeded, reproducible proportions.
//!
//! Some faults are honest errors (transient before the operation, permanent
//! on a broken prefix, a dead backend); some are lies that higher layers must
//! catch themselves: an error reported after a write actually succeeded, and
//! truncated reads returned as if they were whole (a broken proxy).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{ObjectInfo, Storage, StorageError, StorageErrorKind, StorageResult, Stray};

/// Which faults to inject and how often (probabilities in `0.0..=1.0`, drawn
/// per call).
#[derive(Debug, Clone, Default)]
pub struct FaultConfig {
    /// RNG seed: the same seed and call sequence give the same faults.
    pub seed: u64,
    /// Fail any operation with a Transient error before doing it.
    pub transient_before: f64,
    /// Do a `put`, then report a Transient error anyway.
    pub transient_after_put: f64,
    /// Do a `put_if_absent`, then report a Transient error anyway: a retry
    /// will find the object and the caller must work out it was its own.
    pub transient_after_create: f64,
    /// Return a shortened object from `get`/`get_range`, without an error.
    pub truncated_read: f64,
    /// Sleep `slow_delay` before the operation.
    pub slow: f64,
    pub slow_delay: Duration,
    /// Keys (or list prefixes) starting with any of these fail Permanently.
    pub permanent_prefixes: Vec<String>,
}

impl FaultConfig {
    /// No faults; set the fields you want.
    pub fn seeded(seed: u64) -> Self {
        FaultConfig {
            seed,
            ..Self::default()
        }
    }

    /// Transient errors only, before and after writes: a backend that a
    /// retrying wrapper must make look perfect.
    pub fn transient_only(seed: u64, p: f64) -> Self {
        FaultConfig {
            transient_before: p,
            transient_after_put: p,
            transient_after_create: p,
            ..Self::seeded(seed)
        }
    }
}

/// How many faults of each kind were injected so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub transient_before: u64,
    pub transient_after_put: u64,
    pub transient_after_create: u64,
    pub truncated_reads: u64,
    pub slow: u64,
    pub permanent: u64,
    /// Calls failed by [`FaultyStorage::set_dead`].
    pub dead: u64,
}

impl FaultCounts {
    /// Every injected fault except slowness, which is not a failure.
    pub fn failures(&self) -> u64 {
        self.transient_before
            + self.transient_after_put
            + self.transient_after_create
            + self.truncated_reads
            + self.permanent
            + self.dead
    }
}

#[derive(Debug, Default)]
struct Counters {
    transient_before: AtomicU64,
    transient_after_put: AtomicU64,
    transient_after_create: AtomicU64,
    truncated_reads: AtomicU64,
    slow: AtomicU64,
    permanent: AtomicU64,
    dead: AtomicU64,
}

/// A [`Storage`] wrapper that injects faults per a [`FaultConfig`].
#[derive(Debug)]
pub struct FaultyStorage<S> {
    inner: S,
    config: FaultConfig,
    rng: Mutex<StdRng>,
    dead: AtomicBool,
    counters: Counters,
}

impl<S: Storage> FaultyStorage<S> {
    pub fn new(inner: S, config: FaultConfig) -> Self {
        FaultyStorage {
            rng: Mutex::new(StdRng::seed_from_u64(config.seed)),
            inner,
            config,
            dead: AtomicBool::new(false),
            counters: Counters::default(),
        }
    }

    /// The wrapped storage, to inspect what really got stored.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// From now on (until set back) every call fails Transiently without
    /// reaching the inner storage, like a backend that went away.
    pub fn set_dead(&self, dead: bool) {
        self.dead.store(dead, Ordering::SeqCst);
    }

    pub fn counts(&self) -> FaultCounts {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        FaultCounts {
            transient_before: get(&c.transient_before),
            transient_after_put: get(&c.transient_after_put),
            transient_after_create: get(&c.transient_after_create),
            truncated_reads: get(&c.truncated_reads),
            slow: get(&c.slow),
            permanent: get(&c.permanent),
            dead: get(&c.dead),
        }
    }

    fn roll(&self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        rng.random_bool(p.min(1.0))
    }

    /// Faults decided before the inner call: death, broken prefixes,
    /// slowness, transient errors.
    fn before(&self, op: &'static str, key: &str) -> StorageResult<()> {
        if self.dead.load(Ordering::SeqCst) {
            self.counters.dead.fetch_add(1, Ordering::Relaxed);
            return Err(injected(
                StorageErrorKind::Transient,
                op,
                key,
                "backend is dead",
            ));
        }
        if self
            .config
            .permanent_prefixes
            .iter()
            .any(|p| key.starts_with(p.as_str()))
        {
            self.counters.permanent.fetch_add(1, Ordering::Relaxed);
            return Err(injected(
                StorageErrorKind::Permanent,
                op,
                key,
                "broken prefix",
            ));
        }
        if self.roll(self.config.slow) {
            self.counters.slow.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(self.config.slow_delay);
        }
        if self.roll(self.config.transient_before) {
            self.counters
                .transient_before
                .fetch_add(1, Ordering::Relaxed);
            return Err(injected(
                StorageErrorKind::Transient,
                op,
                key,
                "transient failure",
            ));
        }
        Ok(())
    }

    /// Maybe drops a random, non-empty tail of `data`.
    fn maybe_truncate(&self, mut data: Vec<u8>) -> Vec<u8> {
        if !data.is_empty() && self.roll(self.config.truncated_read) {
            let keep = {
                let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
                rng.random_range(0..data.len())
            };
            data.truncate(keep);
            self.counters
                .truncated_reads
                .fetch_add(1, Ordering::Relaxed);
        }
        data
    }
}

fn injected(kind: StorageErrorKind, op: &'static str, key: &str, what: &str) -> StorageError {
    StorageError::new(kind, op, key, format!("injected fault: {what}"))
}

impl<S: Storage> Storage for FaultyStorage<S> {
    fn put(&self, key: &str, data: Bytes) -> StorageResult<()> {
        self.before("put", key)?;
        self.inner.put(key, data)?;
        if self.roll(self.config.transient_after_put) {
            self.counters
                .transient_after_put
                .fetch_add(1, Ordering::Relaxed);
            return Err(injected(
                StorageErrorKind::Transient,
                "put",
                key,
                "timeout after write",
            ));
        }
        Ok(())
    }

    fn put_if_absent(&self, key: &str, data: Bytes) -> StorageResult<bool> {
        self.before("put_if_absent", key)?;
        let created = self.inner.put_if_absent(key, data)?;
        if created && self.roll(self.config.transient_after_create) {
            self.counters
                .transient_after_create
                .fetch_add(1, Ordering::Relaxed);
            let what = "timeout after create";
            return Err(injected(
                StorageErrorKind::Transient,
                "put_if_absent",
                key,
                what,
            ));
        }
        Ok(created)
    }

    fn get(&self, key: &str) -> StorageResult<Vec<u8>> {
        self.before("get", key)?;
        Ok(self.maybe_truncate(self.inner.get(key)?))
    }

    fn get_range(&self, key: &str, offset: u64, len: u64) -> StorageResult<Vec<u8>> {
        self.before("get_range", key)?;
        Ok(self.maybe_truncate(self.inner.get_range(key, offset, len)?))
    }

    fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectInfo>> {
        self.before("list", prefix)?;
        self.inner.list(prefix)
    }

    fn delete(&self, key: &str) -> StorageResult<()> {
        self.before("delete", key)?;
        self.inner.delete(key)
    }

    fn location(&self) -> String {
        format!("faulty:{}", self.inner.location())
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::MemoryStorage;

    fn outcomes(seed: u64) -> Vec<bool> {
        let f = FaultyStorage::new(
            MemoryStorage::new(),
            FaultConfig {
                transient_before: 0.5,
                ..FaultConfig::seeded(seed)
            },
        );
        (0..64)
            .map(|i| f.put(&format!("k{i}"), Bytes::new()).is_ok())
            .collect()
    }

    #[test]
    fn same_seed_same_faults() {
        assert_eq!(outcomes(7), outcomes(7));
        assert_ne!(outcomes(7), outcomes(8));
        let failures = outcomes(7).iter().filter(|ok| !**ok).count();
        assert!((10..54).contains(&failures), "{failures} of 64 at p=0.5");
    }

    #[test]
    fn transient_after_put_stores_the_object() {
        let f = FaultyStorage::new(
            MemoryStorage::new(),
            FaultConfig {
                transient_after_put: 1.0,
                ..FaultConfig::seeded(1)
            },
        );
        let err = f.put("a", Bytes::from_static(b"data")).unwrap_err();
        assert_eq!(err.kind, StorageErrorKind::Transient);
        assert_eq!(f.inner().get("a").unwrap(), b"data");
        assert_eq!(f.counts().transient_after_put, 1);
    }

    #[test]
    fn truncated_reads_return_short_data_without_error() {
        let f = FaultyStorage::new(
            MemoryStorage::new(),
            FaultConfig {
                truncated_read: 1.0,
                ..FaultConfig::seeded(2)
            },
        );
        f.put("a", Bytes::from(vec![1u8; 1000])).unwrap();
        assert!(f.get("a").unwrap().len() < 1000);
        assert!(f.get_range("a", 100, 500).unwrap().len() < 500);
        assert_eq!(f.counts().truncated_reads, 2);
    }

    #[test]
    fn permanent_prefix_and_dead_switch() {
        let config = FaultConfig {
            permanent_prefixes: vec!["packs/ff".into()],
            ..FaultConfig::seeded(3)
        };
        let f = FaultyStorage::new(MemoryStorage::new(), config);
        f.put("packs/aa/1", Bytes::new()).unwrap();
        assert_eq!(
            f.put("packs/ff/1", Bytes::new()).unwrap_err().kind,
            StorageErrorKind::Permanent
        );
        assert_eq!(
            f.list("packs/ff").unwrap_err().kind,
            StorageErrorKind::Permanent
        );
        f.set_dead(true);
        for _ in 0..3 {
            assert_eq!(
                f.get("packs/aa/1").unwrap_err().kind,
                StorageErrorKind::Transient
            );
        }
        f.set_dead(false);
        assert!(f.get("packs/aa/1").is_ok());
        let counts = f.counts();
        assert_eq!(
            (counts.permanent, counts.dead, counts.failures()),
            (2, 3, 5)
        );
    }

    #[test]
    fn slow_responses_sleep() {
        let config = FaultConfig {
            slow: 1.0,
            slow_delay: Duration::from_millis(20),
            ..FaultConfig::seeded(4)
        };
        let f = FaultyStorage::new(MemoryStorage::new(), config);
        let start = std::time::Instant::now();
        let _ = f.get("missing");
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert_eq!(f.counts().slow, 1);
    }
}
