//! `repo extend-lock`: keeps the Object Lock retention of objects still in
//! use from running out (kopia's approach). Retention is set at upload for
//! `days`; an object a repository still needs after that would be
//! deletable by a stolen key, so a regular run moves its retention on to
//! *now + days* once fewer than `min_remaining` days are left.
//!
//! "In use": the config, key files, live index files, packs not condemned,
//! and snapshots the stored retention policy keeps (all of them without
//! one). Snapshots the policy removes and condemned packs are left to run
//! out, so forget and prune can delete them once their retention ends
//! (12-prune.md, "Locked objects"); extending them would keep them for ever.

use std::collections::HashSet;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::forget::{select, GroupBy};
use crate::format::layout;
use crate::ids::PackId;
use crate::repo::object_lock::mode_of;
use crate::repo::{Repository, SnapshotFilter};

/// What to extend.
#[derive(Debug, Clone, Default)]
pub struct ExtendOptions {
    /// Extend objects with fewer than this many seconds of retention left.
    pub min_remaining: i64,
    /// Count, change nothing.
    pub dry_run: bool,
    /// The clock (Unix seconds); `None` is now.
    pub now: Option<i64>,
}

/// What `extend_lock` found and did, with its requests by billing class.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExtendReport {
    pub dry_run: bool,
    /// Objects in use, each asked for its retention.
    pub objects_checked: u64,
    /// Objects whose retention was (or, dry, would be) extended.
    pub objects_extended: u64,
    /// The new retention end, Unix seconds.
    pub retain_until_unix: i64,
    /// GetObjectRetention requests (S3 class B).
    pub reads: u64,
    /// PutObjectRetention requests made (class A); a dry run makes none and
    /// reports `objects_extended` as the ones it would make.
    pub writes: u64,
    /// LIST requests (class A).
    pub lists: u64,
}

/// Extends the retention of the objects in use that need it.
pub fn extend_lock(repo: &Repository, opts: &ExtendOptions) -> Result<ExtendReport> {
    let lock = repo.config().lock.ok_or_else(|| {
        Error::Usage("this repository has no retention lock (init --object-lock)".into())
    })?;
    let mode = mode_of(&lock).ok_or_else(|| {
        Error::Usage("bucket-lock rules count from the upload; nothing to extend".into())
    })?;
    let now = opts.now.unwrap_or_else(|| crate::time::now().0.secs);
    let until = now.saturating_add(lock.seconds());
    let (keys, lists) = objects_in_use(repo)?;
    let mut r = ExtendReport {
        dry_run: opts.dry_run,
        retain_until_unix: until,
        lists,
        ..Default::default()
    };
    for key in keys {
        r.objects_checked += 1;
        r.reads += 1;
        let current = repo.storage().retention(&key)?;
        if current.is_some_and(|c| c.saturating_sub(now) >= opts.min_remaining) {
            continue;
        }
        r.objects_extended += 1;
        if !opts.dry_run {
            repo.storage().set_retention(&key, until, mode)?;
            r.writes += 1;
        }
    }
    Ok(r)
}

/// The keys of the objects in use, and the LIST requests it took.
fn objects_in_use(repo: &Repository) -> Result<(Vec<String>, u64)> {
    repo.sync_index()?;
    let mut keys = vec![layout::CONFIG.to_string()];
    let storage = repo.storage();
    keys.extend(
        storage
            .list(layout::KEYS_PREFIX)?
            .into_iter()
            .map(|o| o.key),
    );
    let known = repo.cache().known_index_files()?;
    keys.extend(known.iter().map(layout::index));
    let condemned: HashSet<PackId> = repo.condemned_packs()?.into_iter().map(|c| c.id).collect();
    keys.extend(
        storage
            .list(layout::PACKS_PREFIX)?
            .into_iter()
            .filter(|o| layout::parse_pack(&o.key).is_some_and(|p| !condemned.contains(&p)))
            .map(|o| o.key),
    );
    let snapshots = repo.snapshots(&SnapshotFilter::default())?;
    let kept: Vec<_> = match repo.load_policy()? {
        Some(policy) => select(&snapshots, &policy, GroupBy::default())
            .into_iter()
            .filter(|d| d.keep)
            .map(|d| d.id)
            .collect(),
        None => snapshots.iter().map(|s| s.id).collect(),
    };
    keys.extend(kept.iter().map(layout::snapshot));
    keys.sort();
    keys.dedup();
    // keys/, packs/, snapshots/ (index files come from the synced cache).
    Ok((keys, 3))
}
