//! A held lock: its refresh thread, the holder's view of whether it still
//! holds it, and release.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{record, unix_now, Backend, LockOptions, LockRecord, LockState};
use crate::error::{Error, Result};

struct Shared {
    generation: u64,
    /// Until when the holder may trust its lock (local monotonic clock).
    valid_until: Instant,
    lost: Option<String>,
}

/// A held lock. Check [`LockGuard::check`] before every destructive step.
pub struct LockGuard {
    backend: Backend,
    record: LockRecord,
    shared: Arc<Mutex<Shared>>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// The record of a holder found dead on this host and replaced.
    took_over: Option<LockRecord>,
}

impl LockGuard {
    pub(super) fn start(
        backend: Backend,
        record: LockRecord,
        opts: LockOptions,
        written: Instant,
    ) -> Self {
        let shared = Arc::new(Mutex::new(Shared {
            generation: record.generation,
            valid_until: written + opts.ttl / 2,
            lost: None,
        }));
        let (stop, rx) = mpsc::channel::<()>();
        let thread = {
            let (backend, shared, record) = (backend.clone(), shared.clone(), record.clone());
            std::thread::spawn(move || refresh_loop(backend, record, opts, shared, rx))
        };
        LockGuard {
            backend,
            record,
            shared,
            stop: Some(stop),
            thread: Some(thread),
            took_over: None,
        }
    }

    pub(super) fn taken_over_from(mut self, dead: Option<LockRecord>) -> Self {
        self.took_over = dead;
        self
    }

    /// The unexpired record of a holder on this host whose process is gone,
    /// if this lock was taken from it (worth telling the user).
    pub fn took_over(&self) -> Option<&LockRecord> {
        self.took_over.as_ref()
    }

    /// Fails with [`Error::Locked`] if the lock was taken over or could not
    /// be refreshed in time; then nothing more may be deleted.
    pub fn check(&self) -> Result<()> {
        let s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(why) = &s.lost {
            return Err(Error::Locked(format!("lost the maintenance lock: {why}")));
        }
        if Instant::now() >= s.valid_until {
            return Err(Error::Locked(
                "lost the maintenance lock: it could not be refreshed in time".into(),
            ));
        }
        Ok(())
    }

    /// The generation currently held.
    pub fn generation(&self) -> u64 {
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .generation
    }

    /// Stops refreshing and writes a `Released` generation.
    pub fn release(mut self) -> Result<()> {
        self.release_inner()
    }

    fn release_inner(&mut self) -> Result<()> {
        let Some(stop) = self.stop.take() else {
            return Ok(());
        };
        drop(stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        if s.lost.is_some() {
            return Ok(());
        }
        let released = LockRecord {
            generation: s.generation + 1,
            state: LockState::Released,
            time: unix_now(),
            expires: unix_now(),
            start_time: None,
            ..self.record.clone()
        };
        drop(s);
        if self.backend.create(&released)? {
            self.backend.clean_below(released.generation);
        }
        Ok(())
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = self.release_inner();
    }
}

fn refresh_loop(
    backend: Backend,
    first: LockRecord,
    opts: LockOptions,
    shared: Arc<Mutex<Shared>>,
    stop: mpsc::Receiver<()>,
) {
    let every = (opts.ttl / 6).max(Duration::from_millis(10));
    loop {
        match stop.recv_timeout(every) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let (generation, valid_until) = {
            let s = shared.lock().unwrap_or_else(|p| p.into_inner());
            (s.generation, s.valid_until)
        };
        if Instant::now() >= valid_until {
            // Too late: others may already have taken over by their clocks.
            let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
            s.lost = Some("the refresh came too late".into());
            return;
        }
        let next = record(
            generation + 1,
            LockState::Held,
            &first.operation,
            opts.ttl,
            first.token,
        );
        let started = Instant::now();
        match backend.create(&next) {
            Ok(true) => {
                let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
                s.generation = next.generation;
                s.valid_until = started + opts.ttl / 2;
                drop(s);
                backend.clean_below(next.generation);
            }
            Ok(false) => {
                let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
                s.lost = Some(format!(
                    "generation {} was written by someone else",
                    next.generation
                ));
                return;
            }
            // A failed refresh is retried at the next tick; `valid_until`
            // bounds how long the holder trusts a lock it cannot refresh.
            Err(_) => {}
        }
    }
}
