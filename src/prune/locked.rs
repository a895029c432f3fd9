//! Prune under a retention lock (format-spec/12-prune.md, "Locked
//! objects"): a pack due for deletion whose retention has not passed stays
//! condemned, exactly like one still in its grace period, and is deleted by
//! the first prune after its retention ends. Superseded index files under
//! retention stay stored (stale) and go the same way. Nothing is ever sent a
//! DELETE the storage would refuse.

use crate::error::Result;
use crate::format::layout;
use crate::ids::{IndexId, PackId};
use crate::repo::object_lock::LockCheck;
use crate::repo::Repository;

use super::plan::{PackAction, PackPlan};

/// Turns deletions of packs still under retention into waits; returns how
/// many it held back.
pub(super) fn hold_locked_packs(
    repo: &Repository,
    now: i64,
    packs: &mut [PackPlan],
    unindexed: &mut [(PackId, u64, Option<i64>, PackAction)],
) -> Result<u64> {
    if repo.config().lock.is_none() {
        return Ok(0);
    }
    let mut check = LockCheck::new(repo, now);
    let mut held = 0;
    let actions = packs
        .iter_mut()
        .map(|p| (p.usage.id, &mut p.action))
        .chain(unindexed.iter_mut().map(|u| (u.0, &mut u.3)));
    for (id, action) in actions {
        if *action == PackAction::Delete && check.locked_until(&layout::pack(&id))?.is_some() {
            *action = PackAction::Wait;
            held += 1;
        }
    }
    Ok(held)
}

/// The superseded index files that may be deleted now; the others stay
/// stored until their retention passes (a later prune supersedes them again).
pub(super) fn deletable_index_files<'a>(
    repo: &Repository,
    now: i64,
    files: impl Iterator<Item = &'a IndexId>,
) -> Result<(Vec<IndexId>, u64)> {
    let mut check = LockCheck::new(repo, now);
    let (mut free, mut held) = (Vec::new(), 0);
    for id in files {
        if check.locked_until(&layout::index(id))?.is_some() {
            held += 1;
        } else {
            free.push(*id);
        }
    }
    Ok((free, held))
}
