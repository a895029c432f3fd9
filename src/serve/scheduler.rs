//! The scheduler: turns the plans' schedules (backup, prune, check) into
//! jobs. One tokio task sleeps until the earliest due time (or a
//! configuration reload), submits what is due and computes each entry's
//! next time. A plan whose previous job of the same kind is still queued
//! or running is not queued twice: the skipped run is a warning in the
//! service's log (it is no job, so it has no history row).
//!
//! `run_missed`: at start, a plan whose last run (from the history) is
//! older than a due time, or was lost when the service stopped, gets one
//! job with trigger `missed`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use cairn::Result;

use super::history::STOPPED_WHILE_RUNNING;
use super::model::{JobKind, JobRequest, JobStatus, Trigger};
use super::Service;
use crate::config::Schedule;

/// The scheduler wakes at least this often (history pruning, clock jumps).
const MAX_SLEEP: Duration = Duration::from_secs(3600);

/// One schedule of one plan.
#[derive(Debug, Clone)]
pub struct Entry {
    pub plan: String,
    pub repository: String,
    pub kind: JobKind,
    /// When, with its jitter (a random delay after each due time).
    pub schedule: Schedule,
    pub next: DateTime<Utc>,
}

impl Entry {
    fn advance(&mut self, now: DateTime<Utc>) {
        let jitter = chrono::Duration::from_std(self.schedule.jitter()).unwrap_or_default();
        self.next = self.schedule.next_after(now) + jitter;
    }
}

/// Every schedule the configuration names, each due at its next time after `now`.
pub fn entries(svc: &Service, now: DateTime<Utc>) -> Vec<Entry> {
    let config = svc.config();
    let mut out = Vec::new();
    for (name, p) in &config.plans {
        let kinds = [
            (JobKind::Backup, p.schedule()),
            (JobKind::Prune, p.prune_schedule()),
            (JobKind::Check, p.check_schedule()),
        ];
        for (kind, schedule) in kinds {
            let Some(schedule) = schedule else { continue };
            let mut e = Entry {
                plan: name.clone(),
                repository: p.repository.clone(),
                kind,
                schedule,
                next: now,
            };
            e.advance(now);
            out.push(e);
        }
    }
    out
}

/// Submits one `missed` job for each `run_missed` plan whose last backup
/// started before a due time that has passed, or was lost when the
/// service stopped (killed, or stopped before it finished). A plan that
/// never ran has missed nothing.
pub fn catch_up(svc: &Service, entries: &[Entry], now: DateTime<Utc>) -> Result<()> {
    let config = svc.config();
    for e in entries.iter().filter(|e| e.kind == JobKind::Backup) {
        if !config.plans.get(&e.plan).is_some_and(|p| p.run_missed) {
            continue;
        }
        let Some(last) = svc.history.last(&e.plan, e.kind, None)? else {
            continue; // never ran: nothing was missed
        };
        // A run the service's stop interrupted or never started is missed.
        let lost = last.status == JobStatus::Cancelled
            || last.error.as_deref() == Some(STOPPED_WHILE_RUNNING);
        let since = last.started_at.unwrap_or(last.queued_at);
        let Ok(since) = DateTime::parse_from_rfc3339(&since) else {
            continue;
        };
        if lost || e.schedule.missed(since.with_timezone(&Utc), now) {
            tracing::warn!(plan = %e.plan, "a scheduled backup was missed while the service was down: running it now");
            submit(svc, e, Trigger::Missed);
        }
    }
    Ok(())
}

fn submit(svc: &Service, e: &Entry, trigger: Trigger) {
    if let Some(id) = svc.jobs.active(&e.plan, e.kind) {
        tracing::warn!(plan = %e.plan, kind = ?e.kind, "skipped a scheduled run: job {id} of this plan is still queued or running");
        return;
    }
    let req = JobRequest {
        kind: e.kind,
        plan: Some(e.plan.clone()),
        repository: e.repository.clone(),
        trigger,
        tags: Vec::new(),
        restore: None,
        check: None,
    };
    if let Err(err) = svc.jobs.submit(req) {
        tracing::warn!(plan = %e.plan, "could not queue a scheduled job: {err}");
    }
}

/// The scheduler task; runs until aborted.
pub async fn run(svc: Arc<Service>) {
    let mut entries = entries(&svc, Utc::now());
    if let Err(e) = catch_up(&svc, &entries, Utc::now()) {
        tracing::error!("scheduler: run_missed: {e}");
    }
    let mut pruned = std::time::Instant::now();
    loop {
        let now = Utc::now();
        for e in entries.iter_mut() {
            if e.next <= now {
                submit(&svc, e, Trigger::Schedule);
                e.advance(now);
            }
        }
        if pruned.elapsed() >= Duration::from_secs(86400) {
            prune_history(&svc);
            pruned = std::time::Instant::now();
        }
        let earliest = entries.iter().map(|e| e.next).min();
        let sleep = earliest
            .map(|t| (t - Utc::now()).to_std().unwrap_or_default())
            .unwrap_or(MAX_SLEEP)
            .min(MAX_SLEEP);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = svc.reloaded.notified() => {
                entries = self::entries(&svc, Utc::now());
            }
        }
    }
}

/// Deletes history older than `server.history_days`.
pub fn prune_history(svc: &Service) {
    match svc.history.prune(svc.config().server.history_days) {
        Ok(0) => {}
        Ok(n) => tracing::info!("{n} old jobs deleted from the history"),
        Err(e) => tracing::error!("pruning the history: {e}"),
    }
}

#[cfg(test)]
#[path = "scheduler_tests.rs"]
mod tests;
