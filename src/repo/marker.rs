//! Backup markers: how a running backup makes itself visible to prune
//! without taking a lock or ever waiting (format-spec/12-prune.md).
//!
//! A backup stores `running/<random id>` before it lists snapshots or loads
//! the index it deduplicates against, rewrites it from a background thread
//! so it never expires while the backup runs, and deletes it when the
//! backup ends, however it ends ([`MarkerGuard`] deletes it on drop; a
//! `kill -9` leaves it to expire). Prune lists the markers before it lists
//! snapshots and deletes no pack condemned after the oldest fresh marker's
//! start (minus [`CLOCK_MARGIN`]).
//!
//! The backup trusts its marker only until `ttl / 2` after the start of its
//! last successful write, on its own monotonic clock: past that, a prune on
//! a host whose clock runs up to `ttl / 2 + CLOCK_MARGIN` ahead may already
//! judge it expired. A backup whose marker lapsed even once must not store
//! its snapshot from that attempt ([`MarkerGuard::check`]).

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::crypto::Keys;
use crate::error::{Error, Result};
use crate::format::envelope::{self, ObjectType};
use crate::format::layout;
pub use crate::format::marker::{MarkerId, MarkerRecord};
use crate::repo::Repository;
use crate::storage::Storage;

/// A marker expires this long after it is written: a backup killed with
/// `kill -9` holds back prune's deletions for about this long.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

/// Seconds prune adds for clock differences between hosts and for the time
/// an index file takes to store: a marker counts as fresh until `expires +
/// CLOCK_MARGIN`, and protects packs condemned from `started −
/// CLOCK_MARGIN` on.
pub const CLOCK_MARGIN: i64 = 15 * 60;

/// Timing of a marker: written every `ttl / 6`, trusted for `ttl / 2`.
#[derive(Debug, Clone, Copy)]
pub struct MarkerOptions {
    pub ttl: Duration,
}

impl Default for MarkerOptions {
    fn default() -> Self {
        MarkerOptions { ttl: DEFAULT_TTL }
    }
}

fn unix_now() -> i64 {
    crate::time::now().0.secs
}

/// Storage, keys and key of one marker: what its refresh thread needs.
#[derive(Clone)]
struct Target {
    storage: Arc<dyn Storage>,
    keys: Arc<Keys>,
    key: String,
}

impl Target {
    fn write(&self, record: &MarkerRecord) -> Result<()> {
        let sealed = envelope::seal(&self.keys, ObjectType::Marker, None, &record.encode(), None);
        Ok(self.storage.put(&self.key, Bytes::from(sealed))?)
    }
}

struct State {
    /// Until when the backup may rely on prune seeing its marker.
    trusted_until: Instant,
    /// Set once the marker was not refreshed in time: for good.
    lapsed: bool,
}

/// A running backup's marker, kept fresh until the guard is dropped, which
/// deletes it.
pub struct MarkerGuard {
    target: Target,
    record: MarkerRecord,
    state: Arc<Mutex<State>>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Stores a new marker for a backup starting now and starts refreshing it.
/// Call it before listing snapshots or loading the index.
pub fn start(repo: &Repository, opts: MarkerOptions) -> Result<MarkerGuard> {
    // The snapshots must be listed after the marker is stored.
    repo.drop_prefetched_listing();
    let id = MarkerId::random();
    let target = Target {
        storage: repo.storage().clone(),
        keys: repo.keys().clone(),
        key: layout::marker(&id),
    };
    let started = unix_now();
    let record = record_at(started, started, opts.ttl);
    let written = Instant::now();
    target.write(&record)?;
    let state = Arc::new(Mutex::new(State {
        trusted_until: written + opts.ttl / 2,
        lapsed: false,
    }));
    let (stop, rx) = mpsc::channel::<()>();
    let thread = {
        let (target, state, record) = (target.clone(), state.clone(), record.clone());
        std::thread::spawn(move || refresh_loop(target, record, opts, state, rx))
    };
    Ok(MarkerGuard {
        target,
        record,
        state,
        stop: Some(stop),
        thread: Some(thread),
    })
}

fn record_at(started: i64, now: i64, ttl: Duration) -> MarkerRecord {
    MarkerRecord {
        host: crate::time::hostname(),
        pid: std::process::id(),
        started,
        time: now,
        expires: now.saturating_add(ttl.as_secs().max(1) as i64),
    }
}

impl MarkerGuard {
    /// The object key, for messages.
    pub fn key(&self) -> &str {
        &self.target.key
    }

    /// When the backup started, as the marker says.
    pub fn started(&self) -> i64 {
        self.record.started
    }

    /// Fails with [`Error::Raced`] unless the marker has been fresh in every
    /// prune's eyes since it was first written: otherwise a prune may have
    /// missed this backup and deleted packs it relies on after checking.
    pub fn check(&self) -> Result<()> {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.lapsed || Instant::now() >= s.trusted_until {
            return Err(Error::Raced(format!(
                "the backup-in-progress marker {} could not be refreshed in time, so a \
                 prune may have deleted data this backup relies on; nothing recorded; \
                 run the backup again",
                self.target.key
            )));
        }
        Ok(())
    }

    fn stop_refreshing(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MarkerGuard {
    /// Stops the refresh thread first (a refresh landing after the delete
    /// would bring the marker back), then deletes the marker.
    fn drop(&mut self) {
        self.stop_refreshing();
        if let Err(e) = self.target.storage.delete(&self.target.key) {
            tracing::warn!(
                "could not delete the backup-in-progress marker {} ({e}); it expires by itself",
                self.target.key
            );
        }
    }
}

fn refresh_loop(
    target: Target,
    first: MarkerRecord,
    opts: MarkerOptions,
    state: Arc<Mutex<State>>,
    stop: mpsc::Receiver<()>,
) {
    let every = (opts.ttl / 6).max(Duration::from_millis(10));
    loop {
        match stop.recv_timeout(every) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let written = Instant::now();
        let next = record_at(first.started, unix_now(), opts.ttl);
        let ok = target.write(&next).is_ok();
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        // Judged before applying this write: a gap already happened.
        if Instant::now() >= s.trusted_until {
            s.lapsed = true;
        }
        if ok {
            s.trusted_until = written + opts.ttl / 2;
        }
        // A failed write is retried at the next tick; the trust deadline
        // bounds how long the backup relies on a marker it cannot refresh.
        // It keeps refreshing after a lapse: later prunes still see it.
    }
}

/// A marker as prune reads it.
#[derive(Debug, Clone)]
pub struct SeenMarker {
    pub key: String,
    /// The record, or why it could not be opened or decoded.
    pub record: std::result::Result<MarkerRecord, String>,
}

impl SeenMarker {
    /// Does it still protect its backup at `now` (prune's clock)? One that
    /// cannot be read is taken as fresh: it may be a live backup's.
    pub fn is_fresh(&self, now: i64) -> bool {
        match &self.record {
            Ok(r) => now < r.expires.saturating_add(CLOCK_MARGIN),
            Err(_) => true,
        }
    }

    /// From when on condemned packs are protected for it: its start minus
    /// the margin, or the beginning of time for a marker that cannot be read.
    pub fn protects_from(&self) -> i64 {
        match &self.record {
            Ok(r) => r.started.saturating_sub(CLOCK_MARGIN),
            Err(_) => i64::MIN,
        }
    }
}

/// Every marker under `running/`, read and opened. A marker deleted between
/// the listing and the read (its backup ended) is left out.
pub fn list(repo: &Repository) -> Result<Vec<SeenMarker>> {
    let mut out = Vec::new();
    for o in repo.storage().list(layout::RUNNING_PREFIX)? {
        if layout::parse_id::<MarkerId>(&o.key).is_none() {
            continue;
        }
        let sealed = match repo.storage().get(&o.key) {
            Ok(b) => b,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        };
        let record = envelope::open(repo.keys(), ObjectType::Marker, None, &sealed, None)
            .and_then(|plain| MarkerRecord::decode(&plain))
            .map_err(|e| e.to_string());
        out.push(SeenMarker { key: o.key, record });
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

#[cfg(test)]
#[path = "marker_tests.rs"]
mod tests;
