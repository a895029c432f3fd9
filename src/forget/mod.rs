//! `forget`: apply a retention policy, removing the snapshot objects it does
//! not keep. Plan, then execute: [`select`] decides every snapshot without
//! I/O (a dry run stops there), then the removed snapshots are deleted one
//! by one. Data is never touched: packs and indexes stay until prune.
//!
//! Crash safety follows from two facts. Deleting a snapshot object is
//! idempotent. And selection is stable under removal: applying the same
//! policy to any set between "what it keeps" and "everything" keeps exactly
//! the same snapshots (a property test checks this), so after a crash
//! halfway through, running `forget` again removes the rest and nothing more.
//!
//! ```
//! use std::sync::Arc;
//! use cairn::backup::{backup, BackupOptions};
//! use cairn::forget::{forget, parse_retention, ForgetOptions};
//! use cairn::progress::NoProgress;
//! use cairn::repo::{InitOptions, OpenOptions, Repository};
//! use cairn::source::fs::{FsOptions, FsSource};
//! use cairn::storage::memory::MemoryStorage;
//!
//! # fn main() -> cairn::Result<()> {
//! let tmp = tempfile::tempdir().unwrap();
//! let init = InitOptions { kdf: Some(cairn::crypto::KdfParams::insecure_for_tests()), ..Default::default() };
//! let open = OpenOptions { cache_dir: Some(tmp.path().join("cache")), ..Default::default() };
//! let repo = Repository::init(Arc::new(MemoryStorage::new()), b"secret", init, open)?;
//!
//! // Three backups on one day, one the day before.
//! for time in ["2026-11-21T22:00:00Z", "2026-11-22T08:00:00Z", "2026-11-22T12:00:00Z", "2026-11-22T18:00:00Z"] {
//!     let opts = BackupOptions { time: Some(cairn::time::parse_time(time)?), ..Default::default() };
//!     let mut source = FsSource::new(FsOptions { paths: vec![tmp.path().join("cache")], ..Default::default() })?;
//!     backup(&repo, &mut source, &opts, &NoProgress)?;
//! }
//!
//! // Keep the newest snapshot of each of the last 7 days.
//! let opts = ForgetOptions { policy: parse_retention("7d")?, ..Default::default() };
//! let report = forget(&repo, &opts)?;
//! assert_eq!((report.kept(), report.removed.len()), (2, 2));
//! let reasons: Vec<String> = report.decisions[0].reasons.iter().map(|r| r.to_string()).collect();
//! assert_eq!(reasons, ["daily #1"]);
//! # Ok(())
//! # }
//! ```

pub mod flood;
pub mod policy;
pub mod select;

#[cfg(test)]
mod examples;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;

pub use policy::{
    combine, describe, parse_retention, resolve, GroupBy, Policy, PolicySource, Span,
};
pub use select::{select, Bucket, Decision, GroupKey, Reason};

use crate::error::{Error, Result};
use crate::format::layout;
use crate::ids::SnapshotId;
use crate::repo::object_lock::{refused_delete, LockCheck};
use crate::repo::{Repository, SnapshotFilter};

/// What to forget.
#[derive(Debug, Clone, Default)]
pub struct ForgetOptions {
    /// The rules; must not be empty.
    pub policy: Policy,
    pub group_by: GroupBy,
    /// Only snapshots matching this are considered at all; others are
    /// neither kept nor removed, and do not count towards any rule.
    pub filter: SnapshotFilter,
    /// Decide and report, delete nothing.
    pub dry_run: bool,
    /// The clock retention is judged by (Unix seconds); `None` is now.
    pub now: Option<i64>,
}

/// What `forget` decided and did.
#[derive(Debug, Clone)]
pub struct ForgetReport {
    /// One per considered snapshot, grouped, newest first in each group.
    pub decisions: Vec<Decision>,
    /// Snapshots actually deleted (empty on a dry run).
    pub removed: Vec<SnapshotId>,
    /// Snapshots the policy removes but whose retention (Object Lock or a
    /// bucket-lock rule) has not passed, with its end: left stored, and
    /// removed by the first `forget` after that.
    pub locked: Vec<(SnapshotId, i64)>,
    /// Snapshots whose DELETE the storage refused in a repository with a
    /// retention lock (a bucket-lock rule longer than the repository
    /// records): still stored, removed by a later `forget` once allowed.
    pub refused: Vec<SnapshotId>,
    /// Groups whose snapshot count jumped far beyond their usual rate.
    pub floods: Vec<flood::FloodWarning>,
    pub dry_run: bool,
}

impl ForgetReport {
    pub fn kept(&self) -> usize {
        self.decisions.iter().filter(|d| d.keep).count()
    }

    /// Snapshots the policy removes (whether or not this was a dry run).
    pub fn to_remove(&self) -> usize {
        self.decisions.len() - self.kept()
    }
}

/// Applies `opts.policy` to the repository's snapshots. A damaged snapshot
/// fails the whole run (it cannot be grouped, and guessing could remove
/// the wrong ones); `check` says which.
pub fn forget(repo: &Repository, opts: &ForgetOptions) -> Result<ForgetReport> {
    if opts.policy.is_empty() {
        return Err(Error::Usage(
            "the retention policy sets no rule: refusing to remove every snapshot".into(),
        ));
    }
    opts.policy.validate()?;
    let snapshots = repo.snapshots(&opts.filter)?;
    let decisions = select(&snapshots, &opts.policy, opts.group_by);
    let now = opts.now.unwrap_or_else(|| crate::time::now().0.secs);
    let mut check = LockCheck::new(repo, now);
    let (mut removed, mut locked, mut refused) = (Vec::new(), Vec::new(), Vec::new());
    for d in decisions.iter().filter(|d| !d.keep) {
        let key = layout::snapshot(&d.id);
        if let Some(until) = check.locked_until(&key)? {
            locked.push((d.id, until));
        } else if !opts.dry_run {
            match repo.storage().delete(&key) {
                Ok(()) => removed.push(d.id),
                Err(e) if refused_delete(repo, &key, &e) => refused.push(d.id),
                Err(e) => return Err(e.into()),
            }
        }
    }
    let floods = flood::flood_warnings(&decisions, now);
    Ok(ForgetReport {
        decisions,
        removed,
        locked,
        refused,
        floods,
        dry_run: opts.dry_run,
    })
}
