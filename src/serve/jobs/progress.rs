//! A job's [`Progress`] observer: counts files and bytes, sends a
//! [`JobEvent::Progress`] at most a few times a second (a backup reports
//! every chunk), writes warnings to the job's log, and answers
//! `cancelled()` from the job's flag, so the library stops at its next
//! safe point when the API or SIGTERM asks.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn::progress::Progress;

use crate::serve::history::History;
use crate::serve::model::{JobEvent, JobId};

/// Progress events are at least this far apart.
const EVERY: Duration = Duration::from_millis(250);

pub struct JobProgress {
    id: JobId,
    cancel: Arc<AtomicBool>,
    history: Arc<History>,
    events: tokio::sync::broadcast::Sender<JobEvent>,
    files: AtomicU64,
    bytes: AtomicU64,
    /// When the last event went out, and the byte count then.
    last: Mutex<(Instant, u64)>,
}

impl JobProgress {
    pub fn new(
        id: JobId,
        cancel: Arc<AtomicBool>,
        history: Arc<History>,
        events: tokio::sync::broadcast::Sender<JobEvent>,
    ) -> Self {
        JobProgress {
            id,
            cancel,
            history,
            events,
            files: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            last: Mutex::new((Instant::now(), 0)),
        }
    }

    /// Writes a line to the job's log and its event stream.
    pub fn log(&self, line: &str) {
        if let Err(e) = self.history.append_log(self.id, line) {
            tracing::error!("job {}: {e}", self.id);
        }
        let _ = self.events.send(JobEvent::Log {
            job: self.id,
            line: line.to_string(),
        });
    }

    fn tick(&self) {
        let Ok(mut last) = self.last.try_lock() else {
            return; // another thread is sending one right now
        };
        let elapsed = last.0.elapsed();
        if elapsed < EVERY {
            return;
        }
        let bytes = self.bytes.load(Ordering::Relaxed);
        let rate = (bytes.saturating_sub(last.1) as f64 / elapsed.as_secs_f64()) as u64;
        *last = (Instant::now(), bytes);
        let _ = self.events.send(JobEvent::Progress {
            job: self.id,
            files: self.files.load(Ordering::Relaxed),
            bytes,
            rate,
        });
    }
}

impl Progress for JobProgress {
    fn item(&self, _path: &Path) {
        self.files.fetch_add(1, Ordering::Relaxed);
        self.tick();
    }

    fn bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
        self.tick();
    }

    fn warn(&self, message: &str) {
        self.log(&format!("warning: {message}"));
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::model::{JobKind, JobRequest, Trigger};

    #[test]
    fn events_are_throttled_warnings_logged_and_cancel_read_from_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let history = Arc::new(History::open(dir.path()).unwrap());
        let req = JobRequest {
            kind: JobKind::Backup,
            plan: None,
            repository: "r".into(),
            trigger: Trigger::Api,
            tags: vec![],
            restore: None,
            check: None,
        };
        let id = history.insert(&req).unwrap();
        let (tx, mut rx) = tokio::sync::broadcast::channel(100_000);
        let cancel = Arc::new(AtomicBool::new(false));
        let p = JobProgress::new(id, cancel.clone(), history.clone(), tx);
        let started = Instant::now();
        for _ in 0..20_000 {
            p.item(Path::new("f"));
            p.bytes(10);
        }
        let elapsed = started.elapsed();
        let mut progress = 0;
        while let Ok(ev) = rx.try_recv() {
            assert!(matches!(ev, JobEvent::Progress { .. }));
            progress += 1;
        }
        let allowed = elapsed.as_millis() / EVERY.as_millis() + 1;
        assert!(
            progress as u128 <= allowed,
            "{progress} events in {elapsed:?}"
        );
        p.warn("file vanished");
        assert!(matches!(rx.try_recv(), Ok(JobEvent::Log { .. })));
        assert_eq!(history.log(id).unwrap()[0].1, "warning: file vanished");
        assert!(!p.cancelled());
        cancel.store(true, Ordering::Relaxed);
        assert!(p.cancelled());
    }
}
