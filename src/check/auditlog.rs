//! Reading and writing the audit log in the repository (`audit/<id>`,
//! format-spec/14-audit.md): each run appends one object; when too many
//! live objects have piled up, the run's object instead carries the latest
//! record of every pack still present and supersedes them all.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use serde::Serialize;

use crate::check::{CheckReport, Problem};
use crate::error::{Error, Result};
use crate::format::audit::{AuditId, AuditLog, AuditRecord, AuditResult};
use crate::format::envelope::{self, ObjectType};
use crate::format::layout;
use crate::format::tree::Timestamp;
use crate::ids::{content_hash, PackId};
use crate::repo::Repository;

/// What the live audit objects say.
#[derive(Debug, Default)]
pub(crate) struct LogState {
    /// Audit objects no other supersedes.
    pub live: Vec<AuditId>,
    /// Each pack's latest verification.
    pub latest: HashMap<PackId, AuditRecord>,
}

impl LogState {
    /// When the pack was last verified, if that verification passed. A pack
    /// whose latest verification failed counts as never verified.
    pub fn last_ok(&self, pack: &PackId) -> Option<Timestamp> {
        self.latest
            .get(pack)
            .filter(|r| r.result == AuditResult::Ok)
            .map(|r| r.time)
    }

    fn note(&mut self, r: AuditRecord) {
        let e = self.latest.entry(r.pack).or_insert(r);
        if r.time >= e.time {
            *e = r;
        }
    }
}

/// Loads every live audit object. An unreadable one is a warning, not
/// damage: it holds no backup data, and the rotation just re-verifies.
pub(crate) fn load(repo: &Repository, report: &mut CheckReport) -> Result<LogState> {
    let mut ids: Vec<AuditId> = repo
        .storage()
        .list(layout::AUDIT_PREFIX)?
        .iter()
        .filter_map(|o| layout::parse_id(&o.key))
        .collect();
    ids.sort();
    let mut logs = Vec::with_capacity(ids.len());
    for id in ids {
        match load_one(repo, &id) {
            Ok(log) => logs.push((id, log)),
            Err(e) if e.kind() == crate::ErrorKind::Corrupt => report.problems.push(
                Problem::warning(format!("audit {id}"), format!("{e}; ignored")),
            ),
            Err(e) => return Err(e),
        }
    }
    let superseded: HashSet<AuditId> = logs
        .iter()
        .flat_map(|(_, l)| l.supersedes.iter().copied())
        .collect();
    let mut state = LogState::default();
    for (id, log) in logs {
        if superseded.contains(&id) {
            continue;
        }
        state.live.push(id);
        for r in log.records {
            state.note(r);
        }
    }
    Ok(state)
}

fn load_one(repo: &Repository, id: &AuditId) -> Result<AuditLog> {
    let bytes = repo.storage().get(&layout::audit(id))?;
    if content_hash(&bytes) != id.0 {
        return Err(Error::corrupt(
            "audit log",
            format!("{id} does not match its name"),
        ));
    }
    let plain = envelope::open(repo.keys(), ObjectType::Audit, None, &bytes, None)?;
    AuditLog::decode(&plain)
}

/// What appending did.
pub(crate) struct Appended {
    pub id: Option<AuditId>,
    /// Objects the new one superseded (and that were deleted).
    pub compacted: u64,
    /// Live objects afterwards.
    pub live: u64,
}

/// Stores this run's records; compacts when more than `compact_after` live
/// objects would exist. Updates `state` to include the new records.
pub(crate) fn append(
    repo: &Repository,
    state: &mut LogState,
    records: Vec<AuditRecord>,
    present: &HashMap<PackId, u64>,
    now: Timestamp,
    compact_after: usize,
) -> Result<Appended> {
    for r in &records {
        state.note(*r);
    }
    let compact = state.live.len() >= compact_after.max(1);
    if records.is_empty() && !compact {
        return Ok(Appended {
            id: None,
            compacted: 0,
            live: state.live.len() as u64,
        });
    }
    let log = if compact {
        // Records of packs that are gone (pruned) are dropped here, so the
        // log does not grow with the repository's history.
        let mut all: Vec<AuditRecord> = state
            .latest
            .values()
            .filter(|r| present.contains_key(&r.pack))
            .copied()
            .collect();
        all.sort_by_key(|r| r.pack);
        AuditLog {
            supersedes: state.live.clone(),
            time: now,
            host: crate::time::hostname(),
            records: all,
        }
    } else {
        AuditLog {
            supersedes: Vec::new(),
            time: now,
            host: crate::time::hostname(),
            records,
        }
    };
    let sealed = envelope::seal(repo.keys(), ObjectType::Audit, None, &log.encode(), Some(3));
    let id = AuditId(content_hash(&sealed));
    repo.storage()
        .put(&layout::audit(&id), Bytes::from(sealed))?;
    let mut compacted = 0;
    if compact {
        // Only after the replacement is stored: a crash in between leaves
        // superseded objects that readers already ignore.
        for old in std::mem::take(&mut state.live) {
            match repo.storage().delete(&layout::audit(&old)) {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
            compacted += 1;
        }
    }
    state.live.push(id);
    Ok(Appended {
        id: Some(id),
        compacted,
        live: state.live.len() as u64,
    })
}

/// How much of the repository the rolling audit has verified: what a
/// service shows and exports as a metric between audits.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AuditCoverage {
    /// Packs in the repository now.
    pub packs: u64,
    /// Of those, packs whose latest verification passed.
    pub verified: u64,
    /// The oldest of those latest passed verifications: every verified pack
    /// was verified at or after it.
    pub oldest_verified: Option<Timestamp>,
}

impl AuditCoverage {
    /// `verified / packs` (1.0 for an empty repository).
    pub fn share(&self) -> f64 {
        if self.packs == 0 {
            1.0
        } else {
            self.verified as f64 / self.packs as f64
        }
    }
}

/// Reads the audit log and the pack listing. Unreadable audit objects are
/// skipped, as an audit run skips them.
pub fn audit_coverage(repo: &Repository) -> Result<AuditCoverage> {
    let state = load(repo, &mut CheckReport::default())?;
    let mut c = AuditCoverage::default();
    for o in repo.storage().list(layout::PACKS_PREFIX)? {
        let Some(pack) = layout::parse_id::<PackId>(&o.key) else {
            continue;
        };
        c.packs += 1;
        if let Some(t) = state.last_ok(&pack) {
            c.verified += 1;
            c.oldest_verified = Some(c.oldest_verified.map_or(t, |o| o.min(t)));
        }
    }
    Ok(c)
}
