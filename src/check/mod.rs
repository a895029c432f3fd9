//! `check`: proves a repository is whole, or says exactly what is not.
//!
//! The structure check reads only metadata (listings, index files,
//! snapshots and trees) and is cheap enough to run after every backup. With
//! `read_data` every selected pack is downloaded whole, its name checked
//! against its hash, its header against the index, and every blob opened.
//!
//! With `audit` (the rolling audit, `audit.rs`) the packs verified longest
//! ago are read within a budget and the results logged in the repository.
//!
//! Damage is collected, not returned as an error: the point of a check is
//! to list every problem in one run. Only failures that stop the check from
//! running (storage unreachable, local cache broken) are errors. When data
//! is lost, the damage report (`affected.rs`) names every snapshot and path
//! it affects, and which snapshots are intact; `repair` acts on the same
//! findings.

mod affected;
mod audit;
mod auditlog;
mod data;
mod id_lists;
mod lost;
pub mod stray;
mod structure;
mod subset;

pub use affected::{AffectedKind, AffectedPath, DamageReport, SnapshotDamage, SnapshotStatus};
pub use audit::{AuditOptions, AuditReport, Budget, COMPACT_AFTER};
pub use auditlog::{audit_coverage, AuditCoverage};
pub use lost::LostBlobs;
pub use subset::Subset;

use serde::Serialize;

use crate::error::Result;
use crate::progress::Progress;
use crate::repo::Repository;

/// What to check beyond the structure.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Download packs and verify every blob in them.
    pub read_data: bool,
    /// With `read_data`: read only these packs (`None` reads all).
    pub subset: Option<Subset>,
    /// A rolling audit instead: read the packs verified longest ago, within
    /// a budget, and record the results in the repository's audit log.
    pub audit: Option<AuditOptions>,
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Some stored data is lost or unreadable.
    Damage,
    /// Harmless for restores but worth knowing (e.g. a pack no index lists,
    /// left by an interrupted backup: prune reclaims it).
    Warning,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub severity: Severity,
    /// The object at fault, e.g. `pack <id>`, `snapshot <id>`, `index <id>`.
    pub object: String,
    pub message: String,
}

impl Problem {
    pub fn damage(object: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            severity: Severity::Damage,
            object: object.into(),
            message: message.into(),
        }
    }

    pub fn warning(object: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            severity: Severity::Warning,
            object: object.into(),
            message: message.into(),
        }
    }
}

/// What was checked and what was found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    pub snapshots: u64,
    /// Distinct trees read while walking every snapshot.
    pub trees: u64,
    pub index_files: u64,
    /// Pack files in storage.
    pub packs: u64,
    /// Packs downloaded and verified (`read_data` only).
    pub packs_read: u64,
    /// Blobs opened and verified (`read_data` only).
    pub blobs_checked: u64,
    pub bytes_read: u64,
    pub problems: Vec<Problem>,
    /// With damage: which snapshots and paths it affects, which are intact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub damage: Option<DamageReport>,
    /// With `--audit`: what this run verified and what the log proves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditReport>,
    /// Temporary files older than a day that killed writers left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stray_temp_files: Option<stray::StrayReport>,
}

impl CheckReport {
    /// Whether any finding means lost or unreadable data.
    pub fn is_damaged(&self) -> bool {
        self.problems.iter().any(|p| p.severity == Severity::Damage)
    }
}

/// Checks the repository's structure and, if asked, its data.
///
/// Planning (the structure check) yields the packs the index promises; the
/// data check then reads the chosen subset of them.
pub fn check(
    repo: &Repository,
    opts: &CheckOptions,
    progress: &dyn Progress,
) -> Result<CheckReport> {
    Ok(check_and_find_lost(repo, opts, progress)?.0)
}

/// [`check`], also returning the lost blobs (for `repair snapshots`).
pub fn check_and_find_lost(
    repo: &Repository,
    opts: &CheckOptions,
    progress: &dyn Progress,
) -> Result<(CheckReport, LostBlobs)> {
    // The verdict is about what is stored: no local copy may stand in.
    let _only = repo.read_storage_only();
    let mut report = CheckReport::default();
    let mut plan = structure::check_packs_and_index(repo, &mut report, progress)?;
    // The tree walk and the data reads need only the plan: run them side
    // by side, so the walk's single thread overlaps the parallel reads.
    let (mut walk, mut walk_lost) = (CheckReport::default(), LostBlobs::default());
    let (mut data, mut data_lost) = (CheckReport::default(), LostBlobs::default());
    let (walked, read) = rayon::join(
        || {
            structure::check_snapshots(
                repo,
                &plan.blobs,
                &plan.tree_packs(),
                &mut walk,
                &mut walk_lost,
            )
        },
        || read_data(repo, opts, &plan, &mut data, &mut data_lost, progress),
    );
    walked?;
    report.audit = read?;
    report.snapshots = walk.snapshots;
    report.trees = walk.trees;
    report.problems.extend(walk.problems);
    report.packs_read = data.packs_read;
    report.blobs_checked = data.blobs_checked;
    report.bytes_read = data.bytes_read;
    report.problems.extend(data.problems);
    plan.lost.merge(walk_lost);
    plan.lost.merge(data_lost);
    id_lists::check(repo, &mut report.problems)?;
    attach_damage_report(repo, &mut report, &plan.lost, progress)?;
    report.stray_temp_files = stray::report(repo, &mut report.problems)?;
    Ok((report, plan.lost))
}

/// The data half of a check: nothing, every pack (or a subset), or the
/// audit's share. Findings go into `report` and `lost`.
fn read_data(
    repo: &Repository,
    opts: &CheckOptions,
    plan: &structure::Plan,
    report: &mut CheckReport,
    lost: &mut LostBlobs,
    progress: &dyn Progress,
) -> Result<Option<AuditReport>> {
    if let Some(a) = &opts.audit {
        let state = auditlog::load(repo, report)?;
        let ordered = audit::order(plan.readable_packs(), &state);
        let selected = &ordered[..a.budget.take(&ordered)];
        let verdicts = data::check_packs(repo, plan, selected, report, lost, progress)?;
        return Ok(Some(audit::finish(
            repo,
            state,
            &ordered,
            &verdicts,
            &plan.present,
            a,
        )?));
    }
    if opts.read_data {
        let candidates = plan.readable_packs();
        let selected = match &opts.subset {
            Some(s) => s.select(&candidates),
            None => candidates,
        };
        data::check_packs(repo, plan, &selected, report, lost, progress)?;
    }
    Ok(None)
}

/// Walks every snapshot to name what the damage affects, when there is any
/// damage that could affect a snapshot.
fn attach_damage_report(
    repo: &Repository,
    report: &mut CheckReport,
    lost: &LostBlobs,
    progress: &dyn Progress,
) -> Result<()> {
    let unreadable_snapshot = report
        .problems
        .iter()
        .any(|p| p.severity == Severity::Damage && p.object.starts_with("snapshot "));
    if lost.is_empty() && !unreadable_snapshot {
        return Ok(());
    }
    progress.start("find affected snapshots", None, None);
    report.damage = Some(affected::damage_report(repo, lost)?);
    progress.finish();
    Ok(())
}
