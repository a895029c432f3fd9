//! Carrying out a plan in the one order that is safe against crashes and
//! concurrent backups (format-spec/12-prune.md):
//!
//! 1. repack: store new packs holding the used blobs of repacked packs;
//! 2. write the new index: every pack still stored (condemned ones too) and
//!    the new packs, in files with no `supersedes`, then a last file that
//!    supersedes the old index files and carries the condemnation records;
//! 3. delete the superseded index files;
//! 4. delete the packs due for deletion (and markers of killed backups).
//!
//! A crash after any step leaves a repository `check` accepts: at worst
//! duplicate index entries, superseded index files, or stored packs that
//! no index names, all of which the next prune removes.

use crate::error::{Error, Result};
use crate::format::index::{BlobKind, CondemnedPack, IndexFile, PackEntry};
use crate::format::layout;
use crate::progress::Progress;
use crate::prune::plan::{PackAction, PrunePlan};
use crate::prune::{PruneOptions, PruneReport, RequestCounts};
use crate::repo::lock::LockGuard;
use crate::repo::object_lock::refused_delete;
use crate::repo::{PackRead, Repacker, Repository};

/// Packs per index file prune writes: bounds the memory of one file.
const PACKS_PER_INDEX_FILE: usize = 1000;
/// Ranged reads merge up to this much (as `Repository::read_pack_blobs`).
const READ_SPAN: u64 = 4 * 1024 * 1024;

/// The report of a plan before execution: what will be done and its cost.
pub(super) fn estimate(plan: &PrunePlan, repo: &Repository, opts: &PruneOptions) -> PruneReport {
    let mut r = PruneReport {
        dry_run: opts.dry_run,
        snapshots: plan.snapshots,
        used_blobs: plan.used_blobs,
        ..Default::default()
    };
    let count = |a: PackAction| plan.packs.iter().filter(|p| p.action == a).count() as u64;
    r.packs_total = (plan.packs.len() + plan.unindexed.len()) as u64;
    r.bytes_total = plan.packs.iter().map(|p| p.usage.size).sum::<u64>()
        + plan.unindexed.iter().map(|u| u.1).sum::<u64>();
    let deletions = plan.deletions();
    r.packs_deleted = deletions.len() as u64;
    r.bytes_freed = deletions.iter().map(|d| d.1).sum();
    for p in &plan.packs {
        match p.action {
            PackAction::Condemn | PackAction::Repack => {
                r.packs_condemned += 1;
                r.bytes_condemned += p.usage.size;
            }
            PackAction::KeptForBackup => {
                r.packs_kept_for_backups += 1;
                r.bytes_kept_for_backups += p.usage.size;
            }
            _ => {}
        }
    }
    for u in &plan.unindexed {
        match u.3 {
            PackAction::Condemn => {
                r.packs_condemned += 1;
                r.bytes_condemned += u.1;
            }
            PackAction::KeptForBackup => {
                r.packs_kept_for_backups += 1;
                r.bytes_kept_for_backups += u.1;
            }
            _ => {}
        }
    }
    r.running_backups = plan.running.backups.clone();
    r.running_summary = plan.running.summary();
    r.markers_expired = plan.running.expired.len() as u64;
    r.packs_waiting = count(PackAction::Wait)
        + plan
            .unindexed
            .iter()
            .filter(|u| u.3 == PackAction::Wait)
            .count() as u64;
    r.packs_restored = count(PackAction::Restore);
    r.packs_repacked = count(PackAction::Repack);
    r.packs_unindexed = plan.unindexed.len() as u64;
    r.packs_missing = count(PackAction::Missing);
    r.packs_kept = plan.listed_packs().count() as u64;
    let mut kinds = [false; 2];
    for p in plan.packs.iter().filter(|p| p.action == PackAction::Repack) {
        r.bytes_to_download += p.usage.used_bytes;
        r.requests.reads += p.usage.used_bytes.div_ceil(READ_SPAN).max(1);
        kinds[(p.usage.kind == BlobKind::Tree) as usize] = true;
    }
    r.bytes_to_upload = r.bytes_to_download;
    let new_packs = r.bytes_to_upload / repo.config().pack_size.max(1) as u64
        + kinds.iter().filter(|k| **k).count() as u64;
    let index_files = if plan.changes_index() {
        (r.packs_kept + new_packs)
            .div_ceil(PACKS_PER_INDEX_FILE as u64)
            .max(1)
    } else {
        0
    };
    // Lock: list + create to acquire, create + list + delete per
    // transition; counted for acquire and release.
    r.requests.writes_lists += new_packs + index_files + 4;
    r.requests.deletes += r.packs_deleted + r.markers_expired + 2;
    if plan.changes_index() {
        r.requests.deletes += (plan.index_files.len() + plan.stale_index_files.len()) as u64;
    }
    r
}

/// Executes the plan, holding `guard`; updates `report` with what was done.
/// Returns the time the new condemnation records carry, if it wrote any
/// index.
pub(super) fn execute(
    repo: &Repository,
    plan: &PrunePlan,
    guard: &LockGuard,
    report: &mut PruneReport,
    progress: &dyn Progress,
) -> Result<Option<i64>> {
    if !plan.changes_index() {
        // Names condemnations recorded before names existed (a repository
        // pruned by an older cairn): no index changes, so none go stale.
        guard.check()?;
        super::condemned_names::store(repo, &plan.condemned_records(plan.now))?;
        delete_expired_markers(repo, plan, guard)?;
        super::id_lists::remove_orphans(repo, plan.now, guard)?;
        return Ok(None);
    }
    guard.check()?;
    let (new_packs, uploaded) = repack(repo, plan, guard, progress)?;
    report.packs_written = new_packs.len() as u64;
    report.bytes_to_upload = uploaded;
    guard.check()?;
    let (written, since, names) = write_index(repo, plan, new_packs)?;
    report.index_files_written = written;
    guard.check()?;
    // Stale files first: until they are gone, the live files they were
    // superseded by keep hiding them from older readers.
    let files = plan.stale_index_files.iter().chain(&plan.index_files);
    let (deletable, locked) = super::locked::deletable_index_files(repo, plan.now, files)?;
    report.index_files_locked += locked;
    for id in &deletable {
        match delete_immutable(repo, &layout::index(id))? {
            true => report.index_files_deleted += 1,
            // Stale, and superseded again by the next prune.
            false => report.index_files_refused += 1,
        }
    }
    // Their id lists next (and any an interrupted prune left).
    super::id_lists::remove_orphans(repo, plan.now, guard)?;
    let deletions = plan.deletions();
    crate::progress::check_cancelled(progress, || {
        super::stopped("after writing the new index, before deleting packs")
    })?;
    progress.start("prune: delete packs", Some(deletions.len() as u64), None);
    let mut refused = Vec::new();
    for (i, (id, size)) in deletions.iter().enumerate() {
        if i % 64 == 0 {
            guard.check()?;
        }
        if !delete_immutable(repo, &layout::pack(id))? {
            refused.push((*id, *size));
        }
        progress.bytes(*size);
    }
    progress.finish();
    note_refused(report, &refused, deletions.len());
    guard.check()?;
    // A refused pack keeps its name under `condemned/` (no put-only client
    // may rely on it); stored but unindexed, the next prune condemns it
    // again and deletes it once the storage allows.
    let mut records = plan.condemned_records(since);
    records.extend(refused.iter().map(|r| CondemnedPack { id: r.0, since }));
    super::condemned_names::remove_stale(repo, &names, &records)?;
    delete_expired_markers(repo, plan, guard)?;
    report.requests = RequestCounts {
        writes_lists: report.packs_written + report.index_files_written + 4,
        reads: report.requests.reads,
        deletes: report.index_files_deleted
            + deletions.len() as u64
            + plan.running.expired.len() as u64
            + 2,
    };
    Ok(Some(since))
}

/// Deletes immutable object `key`; `false` when the storage refused it
/// while its retention holds ([`refused_delete`]): still locked, not gone.
pub(super) fn delete_immutable(repo: &Repository, key: &str) -> Result<bool> {
    match repo.storage().delete(key) {
        Ok(()) => Ok(true),
        Err(e) if refused_delete(repo, key, &e) => {
            tracing::warn!("{key}: the storage refused the delete (still locked): {e}");
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// Counts the refused pack deletions: they were planned as deleted.
fn note_refused(report: &mut PruneReport, refused: &[(crate::ids::PackId, u64)], planned: usize) {
    report.packs_refused = refused.len() as u64;
    report.packs_deleted = (planned - refused.len()) as u64;
    let bytes: u64 = refused.iter().map(|r| r.1).sum();
    report.bytes_freed = report.bytes_freed.saturating_sub(bytes);
}

/// Removes the markers of backups that were killed: past their expiry and
/// the clock margin, they protect nothing (their backups, if somehow still
/// running, no longer trust them and store no snapshot).
fn delete_expired_markers(repo: &Repository, plan: &PrunePlan, guard: &LockGuard) -> Result<()> {
    if !plan.running.expired.is_empty() {
        guard.check()?;
    }
    for key in &plan.running.expired {
        repo.storage().delete(key)?;
    }
    Ok(())
}

/// Copies the kept blobs of every repacked pack into new packs, all stored
/// when this returns. Each blob is opened and verified on the way (AEAD tag,
/// length, and its id against its content): a damaged blob stops the prune
/// rather than being copied. The verified sealed bytes are copied as they
/// are: sealing binds only kind and id, not the pack, so compressing and
/// encrypting again would cost most of a repack's CPU for nothing.
fn repack(
    repo: &Repository,
    plan: &PrunePlan,
    guard: &LockGuard,
    progress: &dyn Progress,
) -> Result<(Vec<PackEntry>, u64)> {
    let todo: Vec<_> = plan
        .packs
        .iter()
        .filter(|p| p.action == PackAction::Repack)
        .collect();
    let total: u64 = todo.iter().map(|p| p.usage.used_bytes).sum();
    progress.start("prune: repack", Some(todo.len() as u64), Some(total));
    let mut repacker = Repacker::new(repo);
    for p in todo {
        guard.check()?;
        let kind = p.usage.kind;
        let mut reads: Vec<PackRead> = repo
            .cache()
            .prune_keepers_in(&p.usage.id)?
            .into_iter()
            .map(|e| PackRead {
                id: e.id,
                offset: e.offset,
                length: e.length,
                raw_length: e.raw_length,
            })
            .collect();
        repo.read_pack_blobs_sealed(&p.usage.id, kind, &mut reads, |b, opened| {
            let (sealed, plain) = opened.map_err(|e| {
                Error::corrupt(
                    "pack",
                    format!("{}: cannot repack blob {}: {e}", p.usage.id, b.id),
                )
            })?;
            progress.bytes(b.length as u64);
            repacker.add_sealed(kind, b.id, sealed, plain.len() as u32)
        })?;
    }
    progress.finish();
    repacker.finish()
}

/// Writes the new index; returns the number of index files written, the
/// time of the new condemnation records, and the condemned names stored
/// before.
fn write_index(
    repo: &Repository,
    plan: &PrunePlan,
    new_packs: Vec<PackEntry>,
) -> Result<(u64, i64, std::collections::HashSet<crate::ids::PackId>)> {
    let mut written = 0;
    let mut batch = new_packs;
    let flush = |batch: &mut Vec<PackEntry>, written: &mut u64| -> Result<()> {
        while batch.len() >= PACKS_PER_INDEX_FILE {
            let rest = batch.split_off(PACKS_PER_INDEX_FILE);
            let packs = std::mem::replace(batch, rest);
            repo.save_index_file(IndexFile {
                packs,
                ..Default::default()
            })?;
            *written += 1;
        }
        Ok(())
    };
    flush(&mut batch, &mut written)?;
    for id in plan.listed_packs() {
        let entry = repo.cache().prune_pack_entry(id)?.ok_or_else(|| {
            Error::Internal(format!("pack {id} vanished from prune's copy of the index"))
        })?;
        batch.push(entry);
        if batch.len() > PACKS_PER_INDEX_FILE {
            flush(&mut batch, &mut written)?;
        }
    }
    // The last file replaces the old ones: only once it is stored do the
    // new condemnations take effect and the old files stop counting. It
    // names the stale files too (superseded by files that may be deleted
    // before them), so none comes back if this prune stops between deletes.
    let since = plan.now.max(crate::time::now().0.secs);
    let supersedes = plan
        .index_files
        .iter()
        .chain(&plan.stale_index_files)
        .copied()
        .collect();
    let condemned = plan.condemned_records(since);
    // Named before they are recorded (put-only clients read the names).
    let names = super::condemned_names::store(repo, &condemned)?;
    repo.save_index_file(IndexFile {
        supersedes,
        packs: batch,
        condemned,
    })?;
    Ok((written + 1, since, names))
}
