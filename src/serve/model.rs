//! The service's vocabulary, shared by the scheduler, the job runner, the
//! history, the API and the metrics: what a job is, how it was started, and
//! what it reports. API responses serialize these types directly.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A job's number in the history (SQLite rowid, increasing).
pub type JobId = i64;

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum JobKind {
    /// Back up a plan, then forget per its retention.
    Backup,
    /// Forget per the plan's retention, then prune.
    Cleanup,
    Prune,
    Check,
    Restore,
    /// The `repo ping` checks against a repository.
    Test,
}

/// Where a job is in its life. `queued` and `running` are the only
/// non-final states; a job left `running` by a killed process is marked
/// `failed` at the next start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

/// Who started a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Schedule,
    /// A run missed while the service was down (`run_missed`).
    Missed,
    Api,
}

/// A job to run: what the queue holds.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobRequest {
    pub kind: JobKind,
    /// The plan (backup, cleanup, prune, check by plan), if any.
    pub plan: Option<String>,
    /// The repository the job works on (the queue runs one job per repository at a time).
    pub repository: String,
    pub trigger: Trigger,
    /// Extra snapshot tags (e.g. `shutdown`, `manual`), for backups.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Restore only: what and where.
    pub restore: Option<RestoreRequest>,
    /// Check only: `read_data_subset` / audit budget override.
    pub check: Option<CheckRequest>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RestoreRequest {
    /// `latest`, a snapshot id or a unique prefix.
    pub snapshot: String,
    /// Restore only these paths of the snapshot (default: all).
    #[serde(default)]
    pub include: Vec<String>,
    /// Target directory on the server; must lie under a configured restore root.
    #[schema(value_type = Option<String>)]
    pub target: Option<PathBuf>,
    /// Two-phase in-place restore (with a safety snapshot first).
    #[serde(default)]
    pub in_place: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckRequest {
    pub read_data_subset: Option<String>,
    pub audit_budget: Option<String>,
}

/// Figures a job reports, all optional (a check adds no bytes).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobFigures {
    pub snapshot_id: Option<String>,
    pub files: Option<u64>,
    pub bytes_read: Option<u64>,
    pub bytes_added: Option<u64>,
    pub bytes_stored: Option<u64>,
    /// Backend requests by billing class (R2: class A = writes and lists, class B = reads).
    pub requests_class_a: Option<u64>,
    pub requests_class_b: Option<u64>,
    /// The repository's stored bytes (every pack, as listed) after a
    /// backup, cleanup or prune that succeeded: the series the dashboard
    /// charts, so a prune's savings show.
    pub repository_bytes: Option<u64>,
}

/// One job as the history keeps it and the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobRecord {
    pub id: JobId,
    pub kind: JobKind,
    pub plan: Option<String>,
    pub repository: String,
    pub trigger: Trigger,
    pub status: JobStatus,
    /// RFC 3339 times.
    pub queued_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    #[serde(flatten)]
    pub figures: JobFigures,
    pub error: Option<String>,
}

/// What a running job says as it goes: the history stores `Log`, the
/// SSE stream and the dashboard show all of them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum JobEvent {
    /// Status changed (queued → running → final).
    Status {
        job: JobId,
        status: JobStatus,
    },
    /// Live counters, at most a few per second.
    Progress {
        job: JobId,
        files: u64,
        bytes: u64,
        /// Bytes per second over the last interval.
        rate: u64,
    },
    Log {
        job: JobId,
        line: String,
    },
}

/// Which jobs a listing returns, newest first.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct JobFilter {
    pub plan: Option<String>,
    pub kind: Option<JobKind>,
    pub status: Option<JobStatus>,
    pub repository: Option<String>,
    /// Only jobs with an id below this (paging).
    pub before: Option<JobId>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<u32>,
}
