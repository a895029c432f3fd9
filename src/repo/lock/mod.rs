//! The maintenance lock: what keeps two deleting operations (prune, key
//! removal) apart. Backups take no lock: everything they write is new and
//! content-named, and prune's two-phase deletion protects them instead.
//!
//! The lock is a chain of generations `locks/<n>`, each created with a
//! create-only write (`Storage::put_if_absent`). The newest generation
//! decides: it holds the lock if its state is `Held` and it has not
//! expired. Every transition (acquire, take over an expired lock, refresh,
//! release, unlock) creates generation `n + 1`, so of two clients racing
//! for the same transition exactly one succeeds, and a holder whose refresh
//! fails to create `n + 1` learns that it lost the lock. The protocol and
//! its argument are in format-spec/11-lock.md.
//!
//! A record whose holder ran on this host and is provably gone (its PID
//! is free or belongs to a process started later: `holder.rs`) is taken
//! over at once instead of after it expires.

mod guard;
mod holder;
#[cfg(test)]
mod tests;

pub use guard::LockGuard;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::crypto::Keys;
use crate::error::{Error, Result};
use crate::format::envelope::{self, ObjectType};
use crate::format::layout;
pub use crate::format::lock::{LockRecord, LockState};
use crate::repo::Repository;
use crate::storage::Storage;

/// A record expires this long after it is written, so a crashed holder
/// blocks others for at most this long.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30 * 60);

/// Timing of a lock. The holder refreshes every `ttl / 6` and stops
/// trusting its lock `ttl / 2` after its last successful refresh, which
/// tolerates clocks up to `ttl / 2` apart between holder and contender.
#[derive(Debug, Clone, Copy)]
pub struct LockOptions {
    pub ttl: Duration,
}

impl Default for LockOptions {
    fn default() -> Self {
        LockOptions { ttl: DEFAULT_TTL }
    }
}

/// The newest generation and its record, if there is one.
#[derive(Debug, Clone)]
pub struct LockStatus {
    pub generation: u64,
    pub record: Result<LockRecord, String>,
}

/// What `unlock` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnlockOutcome {
    /// Nothing held the lock.
    NotLocked,
    /// A holder's record was overridden; `was_expired` tells whether its
    /// holder could still have been running.
    Released {
        previous: Option<LockRecord>,
        was_expired: bool,
    },
}

fn unix_now() -> i64 {
    crate::time::now().0.secs
}

/// Storage and keys: all the lock needs, shareable with its refresh thread.
#[derive(Clone)]
struct Backend {
    storage: Arc<dyn Storage>,
    keys: Arc<Keys>,
}

impl Backend {
    fn of(repo: &Repository) -> Self {
        Backend {
            storage: repo.storage().clone(),
            keys: repo.keys().clone(),
        }
    }

    /// The newest generation, `None` when there is no lock object at all.
    fn status(&self) -> Result<Option<LockStatus>> {
        for _ in 0..8 {
            let newest = self
                .storage
                .list(layout::LOCKS_PREFIX)?
                .iter()
                .filter_map(|o| layout::parse_lock(&o.key))
                .max();
            let Some(generation) = newest else {
                return Ok(None);
            };
            match self.read(generation) {
                Ok(Some(record)) => {
                    return Ok(Some(LockStatus {
                        generation,
                        record: Ok(record),
                    }))
                }
                // Cleaned up between list and get: someone moved on; look again.
                Ok(None) => continue,
                Err(e) if e.kind() == crate::ErrorKind::Corrupt => {
                    return Ok(Some(LockStatus {
                        generation,
                        record: Err(e.to_string()),
                    }))
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::Locked("the lock keeps changing; try again".into()))
    }

    fn read(&self, generation: u64) -> Result<Option<LockRecord>> {
        let sealed = match self.storage.get(&layout::lock(generation)) {
            Ok(b) => b,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let plain = envelope::open(&self.keys, ObjectType::Lock, None, &sealed, None)?;
        let record = LockRecord::decode(&plain)?;
        if record.generation != generation {
            return Err(Error::corrupt(
                "lock",
                format!("generation {} stored as {generation}", record.generation),
            ));
        }
        Ok(Some(record))
    }

    /// Creates the record's generation; `Ok(false)` if another client got
    /// there first. An ambiguous outcome (an error or "exists" after a
    /// retried create) is settled by reading the object back: it is ours if
    /// it carries our token and state.
    fn create(&self, record: &LockRecord) -> Result<bool> {
        let key = layout::lock(record.generation);
        let sealed = envelope::seal(&self.keys, ObjectType::Lock, None, &record.encode(), None);
        let first = self.storage.put_if_absent(&key, Bytes::from(sealed));
        if let Ok(true) = first {
            return Ok(true);
        }
        match self.read(record.generation) {
            Ok(Some(r)) => Ok(r.token == record.token && r.state == record.state),
            Ok(None) => match first {
                Err(e) => Err(e.into()),
                Ok(_) => Err(Error::Locked(format!("{key} vanished while being created"))),
            },
            Err(e) => Err(e),
        }
    }

    /// Deletes every generation older than `generation`; failures only
    /// leave clutter that the next transition removes.
    fn clean_below(&self, generation: u64) {
        if let Ok(list) = self.storage.list(layout::LOCKS_PREFIX) {
            for o in list {
                if layout::parse_lock(&o.key).is_some_and(|g| g < generation) {
                    let _ = self.storage.delete(&o.key);
                }
            }
        }
    }
}

fn record(
    generation: u64,
    state: LockState,
    operation: &str,
    ttl: Duration,
    token: [u8; 16],
) -> LockRecord {
    let now = unix_now();
    LockRecord {
        generation,
        state,
        operation: operation.to_string(),
        host: crate::time::hostname(),
        pid: std::process::id(),
        time: now,
        expires: now.saturating_add(ttl.as_secs().max(1) as i64),
        token,
        // Only a holder needs to be judged alive; `Released` records keep
        // the old layout, which every reader decodes.
        start_time: (state == LockState::Held)
            .then(holder::own_start_time)
            .flatten(),
    }
}

/// Who holds the lock, for an error message.
pub fn describe(r: &LockRecord) -> String {
    let now = unix_now();
    format!(
        "held by {} on {} (pid {}) since {}, expires in {} s",
        r.operation,
        r.host,
        r.pid,
        crate::time::format_local(crate::format::tree::Timestamp {
            secs: r.time,
            nanos: 0
        }),
        (r.expires - now).max(0)
    )
}

/// The lock's current state, for `unlock` and messages.
pub fn status(repo: &Repository) -> Result<Option<LockStatus>> {
    Backend::of(repo).status()
}

/// Takes the maintenance lock for `operation`, or fails with
/// [`Error::Locked`] naming the holder. The lock is refreshed by a
/// background thread until the guard is released or dropped.
pub fn acquire(repo: &Repository, operation: &str, opts: LockOptions) -> Result<LockGuard> {
    // What the holder does next must list the repository after this.
    repo.drop_prefetched_listing();
    let backend = Backend::of(repo);
    let mut token = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut token);
    for _ in 0..8 {
        let mut dead_holder = None;
        let next = match backend.status()? {
            None => 1,
            Some(LockStatus { record: Ok(r), generation }) if r.holds_at(unix_now()) => {
                if !holder::is_dead(&r) {
                    return Err(Error::Locked(describe(&r)));
                }
                dead_holder = Some(r);
                generation + 1
            }
            Some(LockStatus { record: Ok(_), generation }) => generation + 1,
            Some(LockStatus { record: Err(e), generation }) => {
                return Err(Error::Locked(format!(
                    "lock generation {generation} is unreadable ({e}); `cairn unlock --force` removes it"
                )))
            }
        };
        let mine = record(next, LockState::Held, operation, opts.ttl, token);
        let started = Instant::now();
        if backend.create(&mine)? {
            backend.clean_below(next);
            let guard = LockGuard::start(backend, mine, opts, started);
            return Ok(guard.taken_over_from(dead_holder));
        }
    }
    Err(Error::Locked(
        "lost the race for the lock repeatedly".into(),
    ))
}

/// Overrides whatever holds the lock by writing a `Released` generation.
/// Refuses a record that has not expired unless `force`: its holder may be
/// running, and it will abort at its next refresh, midway.
pub fn unlock(repo: &Repository, force: bool) -> Result<UnlockOutcome> {
    let backend = Backend::of(repo);
    let mut token = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut token);
    for _ in 0..8 {
        let Some(st) = backend.status()? else {
            return Ok(UnlockOutcome::NotLocked);
        };
        let previous = st.record.clone().ok();
        let was_expired = match &st.record {
            Ok(r) if r.state == LockState::Released => return Ok(UnlockOutcome::NotLocked),
            Ok(r) => !r.holds_at(unix_now()),
            Err(_) => false,
        };
        if !was_expired && !force {
            return Err(Error::Locked(match &st.record {
                Ok(r) => format!("{}; use --force if you know it is not running", describe(r)),
                Err(e) => format!("lock is unreadable ({e}); use --force to remove it"),
            }));
        }
        let released = record(
            st.generation + 1,
            LockState::Released,
            "unlock",
            Duration::ZERO,
            token,
        );
        if backend.create(&released)? {
            backend.clean_below(released.generation);
            return Ok(UnlockOutcome::Released {
                previous,
                was_expired,
            });
        }
    }
    Err(Error::Locked("the lock keeps changing; try again".into()))
}
