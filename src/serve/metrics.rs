//! The service's Prometheus metrics (OpenMetrics text at `GET /metrics`).
//! The job runner calls [`Metrics::job_finished`] as each job ends, and
//! [`Metrics::repository_stats`] with each repository's figures; the API
//! renders. Names:
//!
//! - per plan: `cairn_plan_last_success_timestamp_seconds`,
//!   `cairn_plan_last_run_success` (1 or 0), `cairn_plan_last_run_duration_seconds`,
//!   `cairn_plan_last_bytes_added`, `cairn_plan_last_files`, `cairn_plan_snapshots_kept`;
//! - per repository: `cairn_repository_size_bytes`, `cairn_repository_blobs`,
//!   `cairn_repository_packs`, `cairn_repository_snapshots`,
//!   `cairn_repository_last_check_age_seconds`, `cairn_repository_audit_coverage_ratio`;
//! - `cairn_jobs_total{kind,status}` and
//!   `cairn_backend_requests_total{repository,class}` (class `a`: writes and
//!   lists, `b`: reads, as R2 bills them).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::serve::model::{JobKind, JobRecord, JobStatus};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PlanLabel {
    plan: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RepoLabel {
    repository: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    repository: String,
    class: String,
}

type IntByPlan = Family<PlanLabel, Gauge>;
type FloatByPlan = Family<PlanLabel, Gauge<f64, AtomicU64>>;
type IntByRepo = Family<RepoLabel, Gauge>;
type FloatByRepo = Family<RepoLabel, Gauge<f64, AtomicU64>>;

/// One repository's figures, as the periodic stats job measures them.
#[derive(Debug, Clone, Default)]
pub struct RepositoryFigures {
    pub size_bytes: u64,
    pub blobs: u64,
    pub packs: u64,
    pub snapshots: u64,
    /// Seconds since the last full or subset data check; `None`: never.
    pub last_check_age_secs: Option<f64>,
    /// Share of the packs the rolling audit verified (0..=1).
    pub audit_coverage: Option<f64>,
}

/// The registry and the families the service updates.
pub struct Metrics {
    registry: Registry,
    last_success: IntByPlan,
    last_run_success: IntByPlan,
    last_duration: FloatByPlan,
    last_bytes_added: IntByPlan,
    last_files: IntByPlan,
    snapshots_kept: IntByPlan,
    repo_size: IntByRepo,
    repo_blobs: IntByRepo,
    repo_packs: IntByRepo,
    repo_snapshots: IntByRepo,
    repo_check_age: FloatByRepo,
    repo_audit: FloatByRepo,
    jobs: Family<JobLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let m = Metrics {
            last_success: Family::default(),
            last_run_success: Family::default(),
            last_duration: Family::default(),
            last_bytes_added: Family::default(),
            last_files: Family::default(),
            snapshots_kept: Family::default(),
            repo_size: Family::default(),
            repo_blobs: Family::default(),
            repo_packs: Family::default(),
            repo_snapshots: Family::default(),
            repo_check_age: Family::default(),
            repo_audit: Family::default(),
            jobs: Family::default(),
            requests: Family::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "cairn_plan_last_success_timestamp_seconds",
            "End of the plan's last successful backup (Unix time)",
            m.last_success.clone(),
        );
        r.register(
            "cairn_plan_last_run_success",
            "1 when the plan's last backup succeeded, else 0",
            m.last_run_success.clone(),
        );
        r.register(
            "cairn_plan_last_run_duration_seconds",
            "How long the plan's last backup ran",
            m.last_duration.clone(),
        );
        r.register(
            "cairn_plan_last_bytes_added",
            "Bytes the plan's last backup added to the repository",
            m.last_bytes_added.clone(),
        );
        r.register(
            "cairn_plan_last_files",
            "Files the plan's last backup saw",
            m.last_files.clone(),
        );
        r.register(
            "cairn_plan_snapshots_kept",
            "Snapshots the plan's retention kept at its last forget",
            m.snapshots_kept.clone(),
        );
        r.register(
            "cairn_repository_size_bytes",
            "Bytes stored in the repository's packs",
            m.repo_size.clone(),
        );
        r.register(
            "cairn_repository_blobs",
            "Blobs the repository's index lists",
            m.repo_blobs.clone(),
        );
        r.register(
            "cairn_repository_packs",
            "Packs in the repository",
            m.repo_packs.clone(),
        );
        r.register(
            "cairn_repository_snapshots",
            "Snapshots in the repository",
            m.repo_snapshots.clone(),
        );
        r.register(
            "cairn_repository_last_check_age_seconds",
            "Seconds since the last data check (absent: never)",
            m.repo_check_age.clone(),
        );
        r.register(
            "cairn_repository_audit_coverage_ratio",
            "Share of packs the rolling audit has verified",
            m.repo_audit.clone(),
        );
        r.register(
            "cairn_jobs",
            "Jobs finished, by kind and final status",
            m.jobs.clone(),
        );
        r.register(
            "cairn_backend_requests",
            "Backend requests by billing class (a: writes and lists, b: reads)",
            m.requests.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Records a finished job (called once per job, with its final record).
    pub fn job_finished(&self, job: &JobRecord) {
        let labels = JobLabels {
            kind: kind_name(job.kind),
            status: status_name(job.status),
        };
        self.jobs.get_or_create(&labels).inc();
        for (class, n) in [
            ("a", job.figures.requests_class_a),
            ("b", job.figures.requests_class_b),
        ] {
            let labels = RequestLabels {
                repository: job.repository.clone(),
                class: class.into(),
            };
            self.requests.get_or_create(&labels).inc_by(n.unwrap_or(0));
        }
        let (JobKind::Backup, Some(plan)) = (job.kind, &job.plan) else {
            return;
        };
        let p = PlanLabel { plan: plan.clone() };
        let succeeded = job.status == JobStatus::Succeeded;
        self.last_run_success
            .get_or_create(&p)
            .set(succeeded as i64);
        let started = job.started_at.as_deref().and_then(parse_time);
        let finished = job.finished_at.as_deref().and_then(parse_time);
        if let (Some(s), Some(f)) = (started, finished) {
            let secs = (f - s).num_milliseconds().max(0) as f64 / 1000.0;
            self.last_duration.get_or_create(&p).set(secs);
        }
        if succeeded {
            if let Some(f) = finished {
                self.last_success.get_or_create(&p).set(f.timestamp());
            }
            let added = job.figures.bytes_added.unwrap_or(0);
            self.last_bytes_added.get_or_create(&p).set(added as i64);
            self.last_files
                .get_or_create(&p)
                .set(job.figures.files.unwrap_or(0) as i64);
        }
    }

    /// After a plan's forget: how many snapshots its retention kept.
    pub fn snapshots_kept(&self, plan: &str, kept: u64) {
        let p = PlanLabel { plan: plan.into() };
        self.snapshots_kept.get_or_create(&p).set(kept as i64);
    }

    /// One repository's current figures.
    pub fn repository_stats(&self, name: &str, f: &RepositoryFigures) {
        let r = RepoLabel {
            repository: name.into(),
        };
        self.repo_size.get_or_create(&r).set(f.size_bytes as i64);
        self.repo_blobs.get_or_create(&r).set(f.blobs as i64);
        self.repo_packs.get_or_create(&r).set(f.packs as i64);
        self.repo_snapshots
            .get_or_create(&r)
            .set(f.snapshots as i64);
        match f.last_check_age_secs {
            Some(age) => {
                self.repo_check_age.get_or_create(&r).set(age);
            }
            None => {
                self.repo_check_age.remove(&r);
            }
        }
        if let Some(c) = f.audit_coverage {
            self.repo_audit.get_or_create(&r).set(c);
        }
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// The names the API uses (serde's), so labels match the JSON.
fn kind_name(k: JobKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn status_name(s: JobStatus) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
