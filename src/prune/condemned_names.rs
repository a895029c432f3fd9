//! The names of condemned packs, stored as empty objects
//! `condemned/<pack id>` (format-spec/12-prune.md, rule P4): a put-only
//! client cannot read the condemnation records in index files, and W1
//! (never deduplicate against a condemned pack) needs them. Each name is
//! stored before the index file that records the condemnation, and
//! removed only after its pack was deleted or restored to life, so a
//! client that lists `condemned/` after storing its marker sees every
//! condemnation a full-key writer's view would hold.

use std::collections::HashSet;

use crate::error::Result;
use crate::format::index::CondemnedPack;
use crate::format::layout;
use crate::ids::PackId;
use crate::repo::Repository;

/// Stores the names of `records` not stored yet; the names stored before.
pub(super) fn store(repo: &Repository, records: &[CondemnedPack]) -> Result<HashSet<PackId>> {
    let stored = repo.condemned_names()?;
    for r in records.iter().filter(|r| !stored.contains(&r.id)) {
        repo.storage()
            .put(&layout::condemned(&r.id), bytes::Bytes::new())?;
    }
    Ok(stored)
}

/// Removes the names no longer condemned (their packs deleted or restored);
/// after the packs' deletion.
pub(super) fn remove_stale(
    repo: &Repository,
    stored: &HashSet<PackId>,
    records: &[CondemnedPack],
) -> Result<u64> {
    let current: HashSet<PackId> = records.iter().map(|r| r.id).collect();
    let mut removed = 0;
    for id in stored.difference(&current) {
        repo.storage().delete(&layout::condemned(id))?;
        removed += 1;
    }
    Ok(removed)
}
