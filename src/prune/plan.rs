//! Deciding what to do: walk every snapshot's trees into the cache's table
//! of used blobs (each distinct tree once), pick one kept copy per used
//! blob, then give every pack an action from its usage, its condemnation
//! and the options.

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::format::index::CondemnedPack;
use crate::format::layout;
use crate::format::tree::NodeKind;
use crate::ids::{IndexId, PackId, TreeId};
use crate::progress::Progress;
use crate::prune::running::Running;
use crate::prune::{PruneOptions, PruneReport};
use crate::repo::{PackUsage, Repository, SnapshotFilter, TREE_PACK_BYTES_AHEAD};

/// What happens to one pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackAction {
    /// Live and staying so.
    Keep,
    /// Condemned, and a snapshot needs it again: live from now on.
    Restore,
    /// Condemned and within its grace period: stays condemned.
    Wait,
    /// Condemned, past its grace period, but condemned after a running
    /// backup started (its marker): stays condemned until it ends.
    KeptForBackup,
    /// Newly condemned: no snapshot uses it (or it was repacked).
    Condemn,
    /// Copy its used blobs into new packs, then condemn it.
    Repack,
    /// Delete it now: condemned by an earlier run at least the grace
    /// period ago, and before every running backup started.
    Delete,
    /// In the index but not in storage: dropped from the index.
    Missing,
}

/// One pack and what to do with it.
#[derive(Debug, Clone)]
pub struct PackPlan {
    pub usage: PackUsage,
    pub action: PackAction,
}

/// Everything prune will do, decided before anything is changed.
#[derive(Debug, Clone)]
pub struct PrunePlan {
    pub now: i64,
    pub grace_secs: i64,
    pub snapshots: u64,
    pub used_blobs: u64,
    /// Every indexed pack with its action.
    pub packs: Vec<PackPlan>,
    /// Unindexed stored packs: id, size, action (`Condemn`, `Wait`,
    /// `KeptForBackup`, `Delete`).
    pub unindexed: Vec<(PackId, u64, Option<i64>, PackAction)>,
    /// The backups running when the plan was made (their markers).
    pub running: Running,
    /// Live index files the new index supersedes (then deleted).
    pub index_files: Vec<IndexId>,
    /// Index files already superseded but still stored (a crashed prune).
    pub stale_index_files: Vec<IndexId>,
    /// Packs due for deletion held back (as `Wait`) by their retention.
    pub locked_packs: u64,
    /// Every stale index file is still retained: deleting none of them is
    /// no reason to rewrite the index (each rewrite would add one more
    /// retained file, run after run).
    pub stale_all_locked: bool,
}

impl PrunePlan {
    /// Whether the index must be rewritten at all.
    pub fn changes_index(&self) -> bool {
        let stays = |a: PackAction| {
            matches!(
                a,
                PackAction::Keep | PackAction::Wait | PackAction::KeptForBackup
            )
        };
        (!self.stale_index_files.is_empty() && !self.stale_all_locked)
            || self.packs.iter().any(|p| !stays(p.action))
            || self.unindexed.iter().any(|u| !stays(u.3))
    }

    /// The condemnation records the new index carries; new ones dated
    /// `since`, which the caller takes just before writing them: a backup
    /// can only miss a record that is not yet stored, so the grace period
    /// must count from (nearly) when it is (format-spec/12-prune.md).
    pub fn condemned_records(&self, since: i64) -> Vec<CondemnedPack> {
        let mut out = Vec::new();
        for p in &self.packs {
            match p.action {
                PackAction::Wait | PackAction::KeptForBackup => out.push(CondemnedPack {
                    id: p.usage.id,
                    since: p.usage.condemned_since.unwrap_or(self.now),
                }),
                PackAction::Condemn | PackAction::Repack => out.push(CondemnedPack {
                    id: p.usage.id,
                    since,
                }),
                _ => {}
            }
        }
        for (id, _, old, action) in &self.unindexed {
            match action {
                PackAction::Wait | PackAction::KeptForBackup => out.push(CondemnedPack {
                    id: *id,
                    since: old.unwrap_or(self.now),
                }),
                PackAction::Condemn => out.push(CondemnedPack { id: *id, since }),
                _ => {}
            }
        }
        out
    }

    /// Packs the new index lists (besides the repacked copies): every
    /// stored pack not deleted now, condemned ones included. A pack is
    /// never dropped from the index in the run that condemns it: a backup
    /// that loaded the index before may rely on it (format-spec/12-prune.md).
    pub fn listed_packs(&self) -> impl Iterator<Item = &PackId> {
        self.packs.iter().filter_map(|p| match p.action {
            PackAction::Delete | PackAction::Missing => None,
            _ => Some(&p.usage.id),
        })
    }

    /// Packs to delete at the end, with their sizes.
    pub fn deletions(&self) -> Vec<(PackId, u64)> {
        let mut out: Vec<(PackId, u64)> = self
            .packs
            .iter()
            .filter(|p| p.action == PackAction::Delete)
            .map(|p| (p.usage.id, p.usage.size))
            .collect();
        out.extend(
            self.unindexed
                .iter()
                .filter(|u| u.3 == PackAction::Delete)
                .map(|u| (u.0, u.1)),
        );
        out
    }

    pub(crate) fn report(&self, repo: &Repository, opts: &PruneOptions) -> PruneReport {
        super::execute::estimate(self, repo, opts)
    }
}

/// Builds the plan. The index cache must be synced.
pub fn plan(repo: &Repository, opts: &PruneOptions, progress: &dyn Progress) -> Result<PrunePlan> {
    // A damaged snapshot or tree stops the prune (12-prune.md, step 3):
    // judge the stored ones, not sound local copies of them.
    let _only = repo.read_storage_only();
    let now = opts.now.unwrap_or_else(|| crate::time::now().0.secs);
    let grace_secs = opts.grace.as_secs().min(i64::MAX as u64) as i64;
    let present: Vec<(PackId, u64)> = repo
        .storage()
        .list(layout::PACKS_PREFIX)?
        .into_iter()
        .filter_map(|o| layout::parse_pack(&o.key).map(|id| (id, o.size)))
        .collect();
    let (index_files, stale_index_files) = index_files(repo)?;
    repo.cache().prune_begin(&present)?;
    // Markers before snapshots: a backup whose marker is gone has stored
    // its snapshot, so the listing below sees what it relies on.
    let running = Running::read(repo, now)?;
    let snapshots = repo.snapshots(&SnapshotFilter::default())?;
    progress.start("prune: find used blobs", Some(snapshots.len() as u64), None);
    // The tree packs at once, when they fit: the walk below then waits on
    // no read per block of trees it meets (a round trip each over a WAN).
    let trees = repo.cache().tree_pack_ids()?;
    let tree_packs: Vec<(PackId, u64)> = present
        .iter()
        .filter(|(id, _)| trees.contains(id))
        .copied()
        .collect();
    let kept = repo.read_tree_packs(&tree_packs, TREE_PACK_BYTES_AHEAD);
    repo.cache().prune_mark_begin()?;
    let marked: Result<()> = snapshots.iter().try_for_each(|s| {
        mark_used(repo, s.snapshot.tree)?;
        progress.bytes(0);
        Ok(())
    });
    repo.cache().prune_mark_end(marked.is_ok())?;
    drop(kept);
    marked?;
    progress.finish();
    let (used_blobs, missing) = repo.cache().prune_choose_keepers()?;
    if let Some((kind, id)) = missing.first() {
        return Err(Error::corrupt(
            "repository",
            format!(
                "{} used blobs are in no stored pack (first: {kind:?} {id}); \
                 prune deletes nothing until `cairn check` is clean",
                missing.len()
            ),
        ));
    }
    let usage = repo.cache().prune_pack_usage()?;
    let mut packs: Vec<PackPlan> = usage
        .into_iter()
        .map(|u| {
            let action = first_action(&u, now, grace_secs, opts.max_unused, &running);
            PackPlan { usage: u, action }
        })
        .collect();
    limit_repacks(&mut packs, opts.max_repack_bytes);
    let mut unindexed: Vec<_> = repo
        .cache()
        .prune_unindexed()?
        .into_iter()
        .map(|u| {
            let action = match u.condemned_since {
                Some(since) => after_grace(since, now, grace_secs, &running),
                None => PackAction::Condemn,
            };
            (u.id, u.size, u.condemned_since, action)
        })
        .collect();
    name_before_deleting(repo, &mut packs, &mut unindexed)?;
    let locked_packs = super::locked::hold_locked_packs(repo, now, &mut packs, &mut unindexed)?;
    let stale_all_locked = repo.config().lock.is_some()
        && super::locked::deletable_index_files(repo, now, stale_index_files.iter())?
            .0
            .is_empty();
    Ok(PrunePlan {
        now,
        grace_secs,
        snapshots: snapshots.len() as u64,
        used_blobs,
        packs,
        unindexed,
        running,
        index_files,
        stale_index_files,
        locked_packs,
        stale_all_locked,
    })
}

/// P4 (format-spec/12-prune.md) for condemnations recorded before names
/// existed (by an older cairn's prune): a pack due for deletion whose name
/// was never stored is condemned again instead, from now, and named. A
/// put-only client that listed `condemned/` without seeing it may rely on
/// it; re-dated, its condemnation is newer than that client's marker, which
/// then protects it (W1), and clients starting later see the name.
fn name_before_deleting(
    repo: &Repository,
    packs: &mut [PackPlan],
    unindexed: &mut [(PackId, u64, Option<i64>, PackAction)],
) -> Result<()> {
    let due = |a: PackAction| a == PackAction::Delete;
    if !packs.iter().any(|p| due(p.action)) && !unindexed.iter().any(|u| due(u.3)) {
        return Ok(());
    }
    let named = repo.condemned_names()?;
    for p in packs
        .iter_mut()
        .filter(|p| due(p.action) && !named.contains(&p.usage.id))
    {
        p.action = PackAction::Condemn;
    }
    for u in unindexed
        .iter_mut()
        .filter(|u| due(u.3) && !named.contains(&u.0))
    {
        u.3 = PackAction::Condemn;
    }
    Ok(())
}

/// What happens to an unused pack condemned at `since`: deleted once the
/// grace period has passed, unless a running backup may rely on it.
fn after_grace(since: i64, now: i64, grace: i64, running: &Running) -> PackAction {
    if now.saturating_sub(since) < grace {
        PackAction::Wait
    } else if running.protects(since) {
        PackAction::KeptForBackup
    } else {
        PackAction::Delete
    }
}

/// The action for one indexed pack, before the repack budget.
pub(super) fn first_action(
    u: &PackUsage,
    now: i64,
    grace: i64,
    max_unused: f64,
    running: &Running,
) -> PackAction {
    if !u.present {
        return PackAction::Missing;
    }
    match u.condemned_since {
        Some(since) if u.used_blobs == 0 => after_grace(since, now, grace, running),
        Some(_) => match live_action(u, max_unused) {
            PackAction::Keep => PackAction::Restore,
            other => other,
        },
        None => live_action(u, max_unused),
    }
}

fn live_action(u: &PackUsage, max_unused: f64) -> PackAction {
    if u.used_blobs == 0 {
        return PackAction::Condemn;
    }
    // Measured on blob bytes, not the pack size: the header of a small
    // pack is no waste a repack could recover.
    let unused = u.blob_bytes.saturating_sub(u.used_bytes) as f64 / u.blob_bytes.max(1) as f64;
    if unused > max_unused {
        PackAction::Repack
    } else {
        PackAction::Keep
    }
}

/// Keeps the most wasteful repacks within the byte budget; the others stay
/// as they are (a condemned one that a snapshot needs is restored).
pub(super) fn limit_repacks(packs: &mut [PackPlan], budget: Option<u64>) {
    let Some(budget) = budget else { return };
    let mut order: Vec<usize> = (0..packs.len())
        .filter(|&i| packs[i].action == PackAction::Repack)
        .collect();
    order.sort_by_key(|&i| {
        let u = &packs[i].usage;
        std::cmp::Reverse(u.blob_bytes.saturating_sub(u.used_bytes))
    });
    let mut spent = 0u64;
    for i in order {
        let cost = packs[i].usage.used_bytes;
        if spent + cost <= budget {
            spent += cost;
        } else {
            packs[i].action = if packs[i].usage.condemned_since.is_some() {
                PackAction::Restore
            } else {
                PackAction::Keep
            };
        }
    }
}

/// Live index files (those the cache loaded) and superseded ones still
/// stored.
fn index_files(repo: &Repository) -> Result<(Vec<IndexId>, Vec<IndexId>)> {
    let listed: HashSet<IndexId> = repo.index_ids()?.into_iter().collect();
    let (known, superseded) = {
        let c = repo.cache();
        (c.known_index_files()?, c.superseded()?)
    };
    let mut live: Vec<IndexId> = known.into_iter().filter(|i| listed.contains(i)).collect();
    let mut stale: Vec<IndexId> = listed
        .into_iter()
        .filter(|i| superseded.contains(i))
        .collect();
    live.sort();
    stale.sort();
    Ok((live, stale))
}

/// Marks every tree and chunk reachable from `root` used, skipping trees
/// already marked (shared subtrees are walked once across all snapshots).
fn mark_used(repo: &Repository, root: TreeId) -> Result<()> {
    let mut stack = vec![root];
    let mut chunks = Vec::new();
    while let Some(id) = stack.pop() {
        if !repo.cache().prune_mark_tree(&id)? {
            continue;
        }
        let tree = repo.load_tree(&id)?;
        for node in tree.nodes {
            match node.kind {
                NodeKind::Dir { subtree } => stack.push(subtree),
                NodeKind::File { content, .. } | NodeKind::Sqlite { content, .. } => {
                    chunks.extend(content)
                }
                _ => {}
            }
        }
        if chunks.len() >= 4096 || stack.is_empty() {
            repo.cache().prune_mark_chunks(&chunks)?;
            chunks.clear();
        }
    }
    repo.cache().prune_mark_chunks(&chunks)?;
    Ok(())
}
