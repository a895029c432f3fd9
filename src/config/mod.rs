//! The configuration file: repositories by name (`cairn -P NAME`, and the
//! service's plans) and the service's plans, schedules and server settings.
//! One typed tree, read and validated once at load; every error names the
//! file, the line and the field. `docs/config.md` is the commented example.

mod access;
mod check;
mod duration;
mod load;
mod plan;
pub mod schedule;
pub mod secret;
mod validate;

#[cfg(test)]
mod access_tests;
#[cfg(test)]
mod tests;

// The service (`crate::serve`) uses these; the CLI only some.
#[allow(unused_imports)]
pub use access::{open_for_backup, open_repository, RepoAccess};
pub use check::{check_cli, path};
#[allow(unused_imports)]
pub use duration::parse_duration;
#[allow(unused_imports)]
pub use load::{default_path, load, load_with};
#[allow(unused_imports)]
pub use plan::DEFAULT_GRACE;
#[allow(unused_imports)]
pub use schedule::Schedule;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: Server,
    #[serde(default)]
    pub repositories: BTreeMap<String, RepositoryConfig>,
    #[serde(default)]
    pub plans: BTreeMap<String, Plan>,
}

/// `[server]`: where the service listens and keeps its state.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Default `127.0.0.1:8667`. A non-loopback address needs TLS or
    /// `insecure_listen` (a stated reason).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Job history and tokens. Default: the user's data directory +
    /// `cairn/serve`, filled in at load (read it with [`Server::state_dir()`]).
    pub state_dir: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Why a non-loopback address without TLS is acceptable (e.g. "behind a
    /// TLS-terminating proxy on this host").
    pub insecure_listen: Option<String>,
    /// Restores through the API may only write below these directories.
    #[serde(default)]
    pub restore_roots: Vec<PathBuf>,
    /// Jobs of different repositories running at once (default 2).
    #[serde(default = "default_parallel")]
    pub max_parallel_jobs: usize,
    /// Job history older than this many days is deleted (default 90).
    #[serde(default = "default_history_days")]
    pub history_days: u32,
    /// How long SIGTERM waits for a running backup before stopping it
    /// (a duration like `30s`; default 60s).
    pub shutdown_grace: Option<String>,
    /// Local index cache; default the user's cache directory.
    pub cache_dir: Option<PathBuf>,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            listen: default_listen(),
            state_dir: None,
            tls_cert: None,
            tls_key: None,
            insecure_listen: None,
            restore_roots: Vec::new(),
            max_parallel_jobs: default_parallel(),
            history_days: default_history_days(),
            shutdown_grace: None,
            cache_dir: None,
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8667))
}
fn default_parallel() -> usize {
    2
}
fn default_history_days() -> u32 {
    90
}

/// `[repositories.NAME]`: where a repository is and how to unlock it.
/// Secrets come from files, commands or environment variables, never inline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryConfig {
    /// A directory, `s3:…` or `r2:…`, as `--repo` takes.
    pub location: String,
    pub password_file: Option<PathBuf>,
    pub password_command: Option<String>,
    /// The name of an environment variable holding the password.
    pub password_env: Option<String>,
    pub s3_region: Option<String>,
    pub s3_path_style: Option<bool>,
    pub s3_connections: Option<u16>,
    /// Files holding the S3 access key id / secret (else `AWS_*` variables).
    pub s3_access_key_id_file: Option<PathBuf>,
    pub s3_secret_access_key_file: Option<PathBuf>,
    /// The password opens a put-only key (format-spec/18-put-only.md):
    /// plans on this repository may only back up (checked at load), and
    /// the dashboard says so before the key is first opened.
    #[serde(default)]
    pub put_only: bool,
}

/// `[plans.NAME]`: what to back up, where, when, and what to keep.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// A key of `[repositories]`.
    pub repository: String,
    #[serde(default)]
    pub paths: Vec<PathBuf>,
    #[serde(default)]
    pub exclude: Vec<String>,
    /// SQLite databases outside `paths` (as `backup --sqlite`).
    #[serde(default)]
    pub sqlite: Vec<PathBuf>,
    #[serde(default)]
    pub no_sqlite: bool,
    #[serde(default)]
    pub tags: Vec<String>,
    pub host: Option<String>,
    /// Cron expression (5 or 6 fields), in `timezone` (default UTC). With
    /// neither `cron` nor `every` the plan runs only when asked. Read the
    /// parsed form with [`Plan::schedule`].
    pub cron: Option<String>,
    /// Or a fixed interval: `90s`, `15m`, `6h`, `1d`.
    pub every: Option<String>,
    pub timezone: Option<String>,
    /// Random delay added to each scheduled run, up to this duration.
    pub jitter: Option<String>,
    /// Run once at start when a scheduled run was missed while the service was down.
    #[serde(default)]
    pub run_missed: bool,
    /// The `forget` short form (`90d`, `7d4w12m`), applied after each backup.
    pub retention: Option<String>,
    pub keep_last: Option<u32>,
    pub keep_hourly: Option<u32>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
    pub keep_yearly: Option<u32>,
    /// Never fewer than this many snapshots kept.
    pub keep_min: Option<u32>,
    /// Prune on its own schedule (cron or `every` form); none: never.
    pub prune_cron: Option<String>,
    pub prune_every: Option<String>,
    /// Verification schedule; none: never.
    pub check_cron: Option<String>,
    pub check_every: Option<String>,
    /// `check --read-data-subset` (`5%`, `1/7`, `500MiB`), or
    pub check_read_data_subset: Option<String>,
    /// the rolling audit's byte budget per run (`2GiB`).
    pub check_audit_budget: Option<String>,
    /// Shell commands run before / after the backup (as `--hook-before/--hook-after`).
    pub hook_before: Option<String>,
    pub hook_after: Option<String>,
    /// Notifications for this plan's jobs.
    #[serde(default)]
    pub notify: Notify,
}

/// Where a plan's job results are announced.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// POSTed a JSON body on success and on failure.
    pub webhook: Option<String>,
    /// healthchecks.io-style base URL: `/start`, `` (success) and `/fail` are pinged.
    pub healthchecks: Option<String>,
    /// Only failures go to the webhook (healthchecks still get every ping:
    /// a missing success ping is what raises their alarm).
    #[serde(default)]
    pub failures_only: bool,
}
