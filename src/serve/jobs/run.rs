//! Running one job: mark it running, call the library for its kind
//! (`kinds.rs`), and record how it ended. A job stopped through its cancel
//! flag ends `cancelled` (the library returned `Interrupted` at a safe
//! point: nothing half-written is recorded); any other error ends it
//! `failed` with the error's message, which never holds a secret.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use cairn::storage::stats::{StatsHandle, StorageStats};
use cairn::Error;

use super::progress::JobProgress;
use crate::serve::model::{JobEvent, JobFigures, JobId, JobKind, JobRequest, JobStatus};
use crate::serve::notify::{notify, NotifyEvent};
use crate::serve::Service;

/// What a job does as it runs: its observer and its figures.
pub struct Ctx<'a> {
    pub svc: &'a Service,
    pub req: &'a JobRequest,
    pub progress: JobProgress,
    pub figures: JobFigures,
    /// The counters of the storage the job opened, and their values then.
    stats: Option<(StatsHandle, StorageStats)>,
}

impl Ctx<'_> {
    /// Counts the job's backend requests from now on.
    pub fn count_requests(&mut self, stats: &StatsHandle) {
        self.stats = Some((stats.clone(), stats.snapshot()));
    }

    pub fn log(&self, line: &str) {
        self.progress.log(line);
    }

    fn requests(&mut self) {
        let Some((handle, before)) = &self.stats else {
            return;
        };
        let now = handle.snapshot();
        let (a, b) = match (now.wire, before.wire) {
            (Some(n), Some(b)) => (n.class_a - b.class_a, n.class_b - b.class_b),
            _ => (
                now.write_list_requests - before.write_list_requests,
                now.read_requests - before.read_requests,
            ),
        };
        self.figures.requests_class_a = Some(a);
        self.figures.requests_class_b = Some(b);
    }
}

/// Runs job `id` to its end and records it.
pub fn run(svc: &Arc<Service>, id: JobId, req: &JobRequest, cancel: Arc<AtomicBool>) {
    let history = svc.history.clone();
    let events = svc.jobs.events.clone();
    if let Err(e) = history.set_running(id) {
        tracing::error!("job {id}: {e}");
    }
    let _ = events.send(JobEvent::Status {
        job: id,
        status: JobStatus::Running,
    });
    tracing::info!(job = id, kind = ?req.kind, plan = ?req.plan, "job started");
    announce(svc, id, NotifyEvent::Start);
    let mut ctx = Ctx {
        svc,
        req,
        progress: JobProgress::new(id, cancel, history.clone(), events.clone()),
        figures: JobFigures::default(),
        stats: None,
    };
    let result = match req.kind {
        JobKind::Backup => super::kinds::backup(&mut ctx),
        JobKind::Cleanup => super::kinds::cleanup(&mut ctx),
        JobKind::Prune => super::kinds::prune(&mut ctx),
        JobKind::Check => super::kinds::check(&mut ctx),
        JobKind::Restore => super::kinds::restore(&mut ctx),
        JobKind::Test => super::kinds::test(&mut ctx),
    };
    if result.is_ok()
        && matches!(
            req.kind,
            JobKind::Backup | JobKind::Cleanup | JobKind::Prune
        )
    {
        ctx.figures.repository_bytes = repository_bytes(svc, &req.repository);
    }
    ctx.requests();
    svc.repos.snapshots_changed(&req.repository);
    let (status, error) = match result {
        Ok(()) => (JobStatus::Succeeded, None),
        Err(Error::Interrupted(state)) => (JobStatus::Cancelled, Some(state)),
        Err(e) => (JobStatus::Failed, Some(e.to_string())),
    };
    if let Some(e) = &error {
        ctx.log(e);
    }
    match status {
        JobStatus::Succeeded => tracing::info!(job = id, "job succeeded"),
        _ => tracing::warn!(job = id, ?status, error = error.as_deref(), "job ended"),
    }
    if let Err(e) = history.finish(id, status, &ctx.figures, error.as_deref()) {
        tracing::error!("job {id}: {e}");
    }
    svc.repos.release_memory(&req.repository);
    crate::serve::process::trim_heap();
    let _ = events.send(JobEvent::Status { job: id, status });
    let event = match status {
        JobStatus::Succeeded => NotifyEvent::Success,
        _ => NotifyEvent::Failure,
    };
    announce(svc, id, event);
}

/// The repository's size after a job that changed it, for the dashboard's
/// chart (`None`, logged, if the listing failed: the job still succeeded).
fn repository_bytes(svc: &Service, name: &str) -> Option<u64> {
    let measured = svc
        .repos
        .open_for_backup(&svc.config(), name)
        .and_then(|o| crate::serve::repos::pack_totals(&o.repo));
    match measured {
        Ok((bytes, _)) => Some(bytes),
        Err(e) => {
            tracing::warn!(repository = name, "could not measure the repository: {e}");
            None
        }
    }
}

/// Counts a finished job in the metrics and tells its plan's receivers
/// (webhook, healthchecks) how it went.
fn announce(svc: &Service, id: JobId, event: NotifyEvent) {
    let Ok(Some(rec)) = svc.history.get(id) else {
        return;
    };
    if event != NotifyEvent::Start {
        svc.metrics.job_finished(&rec);
    }
    let config = svc.config();
    if let Some(plan) = rec.plan.as_ref().and_then(|p| config.plans.get(p)) {
        // Delivery runs on its own thread, with retries.
        drop(notify(&plan.notify, &rec, event));
    }
}
