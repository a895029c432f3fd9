//! The job queue and its dispatcher. Jobs wait in submission order; a job
//! starts when no other job of its repository runs (one writer per
//! repository keeps locks and the index cache simple) and fewer than
//! `server.max_parallel_jobs` run in all. Each job runs on its own thread:
//! the library's operations are blocking code.
//!
//! Stopping: [`Jobs::close`] refuses new jobs and starts no queued one;
//! [`Jobs::cancel`] sets a running job's flag, which its [`progress`]
//! observer answers at the library's next safe point.

mod kinds;
mod progress;
mod run;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use cairn::{Error, Result};

use super::history::History;
use super::model::{JobEvent, JobFigures, JobId, JobKind, JobRequest, JobStatus};
use super::Service;

/// What a job that never ran says when the service stops.
const NOT_STARTED: &str = "the service stopped before the job started";

struct Running {
    req: JobRequest,
    cancel: Arc<AtomicBool>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<(JobId, JobRequest)>,
    running: HashMap<JobId, Running>,
    closed: bool,
}

/// The queue, shared by the scheduler, the API and the dispatcher.
pub struct Jobs {
    state: Mutex<State>,
    /// Signalled whenever the queue or the running set changes.
    changed: Condvar,
    events: broadcast::Sender<JobEvent>,
    history: Arc<History>,
}

impl Jobs {
    pub fn new(history: Arc<History>) -> Jobs {
        Jobs {
            state: Mutex::default(),
            changed: Condvar::new(),
            events: broadcast::channel(1024).0,
            history,
        }
    }

    /// Records the job as `queued` and enqueues it; its id at once. After
    /// [`Jobs::close`] (the service is stopping): `Error::Interrupted`.
    pub fn submit(&self, req: JobRequest) -> Result<JobId> {
        let mut st = self.lock();
        if st.closed {
            let why = "the service is stopping: it takes no new jobs";
            return Err(Error::Interrupted(why.into()));
        }
        let id = self.history.insert(&req)?;
        tracing::info!(job = id, kind = ?req.kind, plan = ?req.plan, "job queued");
        st.queue.push_back((id, req));
        drop(st);
        self.emit(JobEvent::Status {
            job: id,
            status: JobStatus::Queued,
        });
        self.changed.notify_all();
        Ok(id)
    }

    /// Cancels a queued job (it never runs) or asks a running one to stop.
    /// `false`: no such job is queued or running.
    pub fn cancel(&self, id: JobId) -> Result<bool> {
        let mut st = self.lock();
        if let Some(r) = st.running.get(&id) {
            let flag = r.cancel.clone();
            drop(st);
            // A job records its end before it leaves `running`: one that
            // has ended is not cancelled (the caller is told so).
            let ended = self
                .history
                .get(id)?
                .is_some_and(|rec| !matches!(rec.status, JobStatus::Queued | JobStatus::Running));
            if !ended {
                flag.store(true, Ordering::Relaxed);
            }
            return Ok(!ended);
        }
        let Some(pos) = st.queue.iter().position(|(q, _)| *q == id) else {
            return Ok(false);
        };
        st.queue.remove(pos);
        drop(st);
        self.finish_unstarted(id, "cancelled before it started")?;
        self.changed.notify_all();
        Ok(true)
    }

    /// Live job events (status changes, progress, log lines).
    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.events.subscribe()
    }

    /// The queued or running job of `plan` and `kind`, if there is one.
    pub fn active(&self, plan: &str, kind: JobKind) -> Option<JobId> {
        let st = self.lock();
        let same = |r: &JobRequest| r.kind == kind && r.plan.as_deref() == Some(plan);
        st.queue
            .iter()
            .find(|(_, r)| same(r))
            .map(|(id, _)| *id)
            .or_else(|| {
                st.running
                    .iter()
                    .find(|(_, r)| same(&r.req))
                    .map(|(id, _)| *id)
            })
    }

    /// Stops taking jobs; queued ones are recorded as cancelled.
    pub fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        let queued: Vec<_> = st.queue.drain(..).map(|(id, _)| id).collect();
        drop(st);
        for id in queued {
            if let Err(e) = self.finish_unstarted(id, NOT_STARTED) {
                tracing::error!("job {id}: {e}");
            }
        }
        self.changed.notify_all();
    }

    /// Asks every running job to stop.
    pub fn cancel_all(&self) {
        for r in self.lock().running.values() {
            r.cancel.store(true, Ordering::Relaxed);
        }
    }

    /// Waits until no job runs, at most `timeout`; whether none runs.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        let mut st = self.lock();
        while !st.running.is_empty() {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            st = self
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    /// Starts the dispatcher thread, which runs until the queue is closed.
    pub fn start(svc: &Arc<Service>) {
        let svc = svc.clone();
        std::thread::Builder::new()
            .name("cairn-jobs".into())
            .spawn(move || dispatch(&svc))
            .expect("spawning the job dispatcher");
    }

    fn finish_unstarted(&self, id: JobId, why: &str) -> Result<()> {
        let fig = JobFigures::default();
        self.history
            .finish(id, JobStatus::Cancelled, &fig, Some(why))?;
        self.emit(JobEvent::Status {
            job: id,
            status: JobStatus::Cancelled,
        });
        Ok(())
    }

    fn emit(&self, ev: JobEvent) {
        // No subscriber is not an error.
        let _ = self.events.send(ev);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The queue position of the job to start now: the oldest whose
/// repository runs no job, if fewer than `max` jobs run.
fn next_to_start(st: &State, max: usize) -> Option<usize> {
    if st.running.len() >= max.max(1) {
        return None;
    }
    let busy = |repo: &str| st.running.values().any(|r| r.req.repository == repo);
    st.queue.iter().position(|(_, r)| !busy(&r.repository))
}

/// Starts each job when its repository is free and a slot is.
fn dispatch(svc: &Arc<Service>) {
    let jobs = &svc.jobs;
    let mut st = jobs.lock();
    loop {
        if st.closed {
            return;
        }
        let max = svc.config().server.max_parallel_jobs;
        let Some(pos) = next_to_start(&st, max) else {
            st = jobs.changed.wait(st).unwrap_or_else(|p| p.into_inner());
            continue;
        };
        let (id, req) = st.queue.remove(pos).expect("position is in the queue");
        let cancel = Arc::new(AtomicBool::new(false));
        let running = Running {
            req: req.clone(),
            cancel: cancel.clone(),
        };
        st.running.insert(id, running);
        let svc2 = svc.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("cairn-job-{id}"))
            .spawn(move || {
                run::run(&svc2, id, &req, cancel);
                svc2.jobs.lock().running.remove(&id);
                svc2.jobs.changed.notify_all();
            });
        if let Err(e) = spawned {
            st.running.remove(&id);
            let _ = jobs.history.finish(
                id,
                JobStatus::Failed,
                &JobFigures::default(),
                Some(&format!("could not start a thread: {e}")),
            );
        }
    }
}

#[cfg(test)]
mod tests;
