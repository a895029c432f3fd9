//! Id lists go with their index files (format-spec/18-put-only.md, "Id
//! lists"): after prune deletes index files, it deletes every id list whose
//! index file is no longer stored. A crash in between leaves orphan lists,
//! which are harmless (a put-only client trusts their rows only for packs
//! still listed and not condemned) and which the next prune deletes the
//! same way. Lists still under retention stay until it has passed.

use std::collections::HashSet;

use crate::error::Result;
use crate::format::layout;
use crate::ids::IndexId;
use crate::repo::lock::LockGuard;
use crate::repo::object_lock::LockCheck;
use crate::repo::Repository;

/// Deletes the id lists whose index file is gone; returns how many.
pub(super) fn remove_orphans(repo: &Repository, now: i64, guard: &LockGuard) -> Result<u64> {
    // Lists before index files: a writer stores an index file before its
    // list, so a list seen here has its file in the listing below (unless
    // deleted), and a backup running now never loses its new list.
    let lists = repo.id_lists()?;
    if lists.is_empty() {
        return Ok(0);
    }
    let stored: HashSet<IndexId> = repo.index_ids()?.into_iter().collect();
    let mut check = LockCheck::new(repo, now);
    let mut removed = 0;
    // A list that does not open is left for `check` to report.
    for (i, (id, list)) in lists.into_iter().enumerate() {
        if i % 64 == 0 {
            guard.check()?;
        }
        let Ok(list) = list else { continue };
        let key = layout::id_list(&id);
        if stored.contains(&list.index) || check.locked_until(&key)?.is_some() {
            continue;
        }
        // Refused (an R2 rule longer than the repository records): still
        // locked, deleted by a later prune, never an error that stops this one.
        if super::execute::delete_immutable(repo, &key)? {
            removed += 1;
        }
    }
    Ok(removed)
}
