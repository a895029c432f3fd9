//! Retries of transient storage failures, with exponential backoff and full
//! jitter so many clients hitting a throttled bucket spread out.
//!
//! Only `Transient` errors are retried; `NotFound` and `Permanent` are
//! answers, not accidents. Short reads are not this layer's concern: the
//! reader detects them by authenticating what it got.

use std::time::Duration;

use bytes::Bytes;

use super::{
    ObjectInfo, RetentionMode, Storage, StorageError, StorageErrorKind, StorageResult, Stray,
};

/// How hard to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total tries per call, including the first (at least 1).
    pub attempts: u32,
    /// Upper bound of the first backoff; doubles per retry.
    pub base_delay: Duration,
    /// Cap on any single backoff.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The ceiling of the backoff after failed try number `retry` (0-based):
    /// `min(max_delay, base_delay * 2^retry)`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// A "full jitter" backoff: uniform in `0..=ceiling(retry)`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self.ceiling(retry).as_micros().min(u64::MAX as u128) as u64;
        Duration::from_micros(rand::random_range(0..=ceiling))
    }
}

/// A [`Storage`] wrapper that retries transient failures.
#[derive(Debug)]
pub struct RetryStorage<S> {
    inner: S,
    policy: RetryPolicy,
}

impl<S: Storage> RetryStorage<S> {
    pub fn new(inner: S, policy: RetryPolicy) -> Self {
        RetryStorage { inner, policy }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// Runs `call` until it succeeds, fails non-transiently, or the attempts
    /// are used up. `call` gets the number of failed tries so far.
    fn run<T>(
        &self,
        op: &'static str,
        key: &str,
        mut call: impl FnMut(u32) -> StorageResult<T>,
    ) -> StorageResult<T> {
        let attempts = self.policy.attempts.max(1);
        let mut failed = 0;
        loop {
            let err = match call(failed) {
                Ok(value) => return Ok(value),
                Err(e) if e.kind != StorageErrorKind::Transient => return Err(e),
                Err(e) => e,
            };
            failed += 1;
            if failed >= attempts {
                return Err(StorageError {
                    message: format!("{} (gave up after {attempts} attempts)", err.message),
                    ..err
                });
            }
            let delay = self.policy.backoff(failed - 1);
            tracing::warn!(op, key, attempt = failed, error = %err, ?delay, "retrying storage operation");
            std::thread::sleep(delay);
        }
    }
}

impl<S: Storage> Storage for RetryStorage<S> {
    fn put(&self, key: &str, data: Bytes) -> StorageResult<()> {
        // Objects are immutable, so repeating a put that may have succeeded
        // writes the same bytes again: harmless.
        self.run("put", key, |_| self.inner.put(key, data.clone()))
    }

    /// A try that failed transiently may still have created the object. So
    /// when a retry finds the object present, it counts as ours if it holds
    /// exactly our bytes: callers (locks) must make their content unique.
    fn put_if_absent(&self, key: &str, data: Bytes) -> StorageResult<bool> {
        self.run("put_if_absent", key, |failed| {
            let created = self.inner.put_if_absent(key, data.clone())?;
            if created || failed == 0 {
                return Ok(created);
            }
            match self.inner.get(key) {
                Ok(existing) => Ok(existing == data.as_ref()),
                // Gone again (deleted by its owner?): the slot is free.
                Err(e) if e.is_not_found() => self.inner.put_if_absent(key, data.clone()),
                Err(e) => Err(e),
            }
        })
    }

    fn get(&self, key: &str) -> StorageResult<Vec<u8>> {
        self.run("get", key, |_| self.inner.get(key))
    }

    fn get_range(&self, key: &str, offset: u64, len: u64) -> StorageResult<Vec<u8>> {
        self.run("get_range", key, |_| self.inner.get_range(key, offset, len))
    }

    fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectInfo>> {
        self.run("list", prefix, |_| self.inner.list(prefix))
    }

    fn delete(&self, key: &str) -> StorageResult<()> {
        self.run("delete", key, |_| self.inner.delete(key))
    }

    fn location(&self) -> String {
        self.inner.location()
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

    // Retention is forwarded, not left to the trait's defaults: those say
    // "no Object Lock" and "no retention", which would let prune delete
    // (or try to) what the backend retains.

    fn lock_supported(&self) -> StorageResult<bool> {
        self.run("lock_supported", "", |_| self.inner.lock_supported())
    }

    /// Setting the same date again is harmless, so retrying is safe.
    fn set_retention(&self, key: &str, until: i64, mode: RetentionMode) -> StorageResult<()> {
        self.run("set_retention", key, |_| {
            self.inner.set_retention(key, until, mode)
        })
    }

    fn retention(&self, key: &str) -> StorageResult<Option<i64>> {
        self.run("retention", key, |_| self.inner.retention(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::conformance;
    use crate::storage::faulty::{FaultConfig, FaultyStorage};
    use crate::storage::memory::MemoryStorage;

    fn tiny(attempts: u32) -> RetryPolicy {
        RetryPolicy {
            attempts,
            base_delay: Duration::from_micros(200),
            max_delay: Duration::from_millis(2),
        }
    }

    #[test]
    fn conformance_through_transient_faults() {
        let faulty =
            FaultyStorage::new(MemoryStorage::new(), FaultConfig::transient_only(42, 0.25));
        let s = RetryStorage::new(faulty, tiny(14));
        conformance::run_all(&s);
        let counts = s.inner().counts();
        assert!(counts.transient_before > 10, "{counts:?}");
        assert!(counts.transient_after_put > 5, "{counts:?}");
        assert!(counts.transient_after_create > 0, "{counts:?}");
    }

    #[test]
    fn gives_up_after_the_configured_attempts() {
        let faulty = FaultyStorage::new(MemoryStorage::new(), FaultConfig::seeded(1));
        faulty.set_dead(true);
        let s = RetryStorage::new(faulty, tiny(4));
        let err = s.get("x").unwrap_err();
        assert_eq!(err.kind, StorageErrorKind::Transient);
        assert!(err.message.contains("gave up after 4 attempts"), "{err}");
        assert_eq!(s.inner().counts().dead, 4);
    }

    #[test]
    fn never_retries_permanent_or_not_found() {
        let config = FaultConfig {
            permanent_prefixes: vec!["bad/".into()],
            ..FaultConfig::seeded(1)
        };
        let s = RetryStorage::new(FaultyStorage::new(MemoryStorage::new(), config), tiny(5));
        let err = s.put("bad/x", Bytes::new()).unwrap_err();
        assert_eq!(err.kind, StorageErrorKind::Permanent);
        assert_eq!(s.inner().counts().permanent, 1);
        // NotFound comes back at once: the dead switch would turn a second
        // try into a counted fault.
        assert!(s.get("missing").unwrap_err().is_not_found());
        assert_eq!(s.inner().counts().failures(), 1);
    }

    #[test]
    fn ambiguous_create_is_recognised_as_ours_but_not_theirs() {
        let config = FaultConfig {
            transient_after_create: 1.0,
            ..FaultConfig::seeded(9)
        };
        let s = RetryStorage::new(FaultyStorage::new(MemoryStorage::new(), config), tiny(3));
        assert!(s
            .put_if_absent("locks/a", Bytes::from_static(b"me"))
            .unwrap());
        assert!(!s
            .put_if_absent("locks/a", Bytes::from_static(b"you"))
            .unwrap());
        assert_eq!(s.inner().inner().get("locks/a").unwrap(), b"me");
    }

    #[test]
    fn retention_reaches_the_backend() {
        use crate::storage::lock_sim::LockSimStorage;
        use std::sync::atomic::AtomicI64;
        use std::sync::Arc;
        let clock = Arc::new(AtomicI64::new(100));
        let s = RetryStorage::new(LockSimStorage::new(MemoryStorage::new(), clock), tiny(3));
        assert!(s.lock_supported().unwrap());
        s.put("packs/x", Bytes::from_static(b"x")).unwrap();
        s.set_retention("packs/x", 200, RetentionMode::Compliance)
            .unwrap();
        assert_eq!(s.retention("packs/x").unwrap(), Some(200));
        assert!(s.delete("packs/x").is_err(), "deleted a retained object");
        assert_eq!(s.inner().locked_keys(), ["packs/x"]);
    }

    #[test]
    fn backoff_is_bounded_full_jitter() {
        let p = RetryPolicy::default();
        assert_eq!(p.ceiling(0), Duration::from_millis(100));
        assert_eq!(p.ceiling(3), Duration::from_millis(800));
        assert_eq!(p.ceiling(20), Duration::from_secs(10));
        assert_eq!(p.ceiling(u32::MAX), Duration::from_secs(10));
        let samples: Vec<_> = (0..200).map(|_| p.backoff(2)).collect();
        assert!(samples.iter().all(|d| *d <= Duration::from_millis(400)));
        assert!(samples.iter().any(|d| *d < Duration::from_millis(100)));
        assert!(samples.iter().any(|d| *d > Duration::from_millis(300)));
    }
}
