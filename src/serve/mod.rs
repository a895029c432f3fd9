//! `cairn serve`: the backup service. A second thin front end beside
//! `cli/` over the same library: the configuration (`crate::config`) names
//! plans; the scheduler turns them into jobs; the job runner calls the
//! library functions the CLI calls; the history records every job in
//! SQLite; the API (axum), the metrics and the notifications read and
//! announce it.
//!
//! One [`Service`] value is shared (`Arc`) by all of them; `run` (in
//! `process.rs`) builds it, starts the parts and handles the signals.

pub mod api;
pub mod auth;
pub mod history;
pub mod jobs;
pub mod metrics;
pub mod model;
pub mod notify;
mod process;
pub mod repo_proxy;
pub mod repos;
pub mod scheduler;
pub mod web;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use cairn::repo::{Repository, SnapshotFilter, SnapshotRef};
use cairn::Result;

use crate::config::Config;

pub use process::run;

/// The service's shared state.
pub struct Service {
    pub config_path: PathBuf,
    /// The running configuration; replaced whole on a good SIGHUP reload.
    pub config: RwLock<Arc<Config>>,
    pub history: Arc<history::History>,
    pub jobs: jobs::Jobs,
    pub repos: repos::Repos,
    /// Wakes the scheduler when the configuration changed.
    pub reloaded: tokio::sync::Notify,
    pub metrics: metrics::Metrics,
    /// `--insecure-listen REASON`, for validating a reloaded file as at start.
    pub insecure_listen: Option<String>,
    /// Requests the HTTP server received (for trimming the heap once quiet).
    pub requests: std::sync::atomic::AtomicU64,
}

/// How long a snapshot listing may be behind writers other than the
/// service (a `cairn backup` run by hand, another host).
pub const SNAPSHOT_LIST_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(15);

impl Service {
    /// The running configuration (a cheap clone of the `Arc`).
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The repository section `name`, opened (cached; its index refreshed).
    /// Blocking (the KDF, storage requests, an S3 client's own runtime):
    /// call it from `tokio::task::spawn_blocking`, never on an async thread.
    pub fn repository(&self, name: &str) -> Result<Arc<Repository>> {
        Ok(self.repos.open(&self.config(), name)?.repo)
    }

    /// The snapshots of repository `name` matching `filter`, oldest first,
    /// from its in-memory list: refreshed after the service's own jobs, and
    /// at most [`SNAPSHOT_LIST_MAX_AGE`] behind other writers. A damaged
    /// snapshot is an error, as in [`Repository::snapshots`]. Blocking.
    pub fn snapshots(&self, name: &str, filter: &SnapshotFilter) -> Result<Vec<SnapshotRef>> {
        let o = self.repos.handle(&self.config(), name)?;
        let (list, damaged) = o.snapshots.list(&o.repo, filter, SNAPSHOT_LIST_MAX_AGE)?;
        match damaged.into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(list),
        }
    }

    /// True when repository `name` is declared `put_only` or its open
    /// handle holds a put-only key (never runs the KDF).
    pub fn is_put_only(&self, name: &str) -> bool {
        let declared = (self.config().repositories.get(name)).is_some_and(|r| r.put_only);
        declared || self.repos.is_put_only(name)
    }

    /// Queues a job asked for through the API or the dashboard. On a
    /// put-only repository (declared `put_only`, or its open handle holds
    /// such a key) only backup and test jobs are taken: anything else is
    /// [`cairn::Error::PutOnlyKey`] (403) now, not a failed job later.
    pub fn submit(&self, req: model::JobRequest) -> Result<model::JobId> {
        let needs_full = !matches!(req.kind, model::JobKind::Backup | model::JobKind::Test);
        if needs_full && self.is_put_only(&req.repository) {
            let kind = format!("{:?}", req.kind).to_lowercase();
            return Err(cairn::Error::PutOnlyKey(format!(
                "a {kind} job on repository {:?}",
                req.repository
            )));
        }
        self.jobs.submit(req)
    }

    /// Replaces the running configuration.
    pub fn set_config(&self, config: Config) {
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
        self.repos.clear();
        self.reloaded.notify_one();
    }
}
