//! The rolling audit (`check --audit`): each run reads a budget of packs,
//! those whose last successful verification is oldest first (never
//! verified, or last found damaged, before all others), records the result
//! in the repository's audit log, and reports coverage. A daily run with a
//! budget of `1/30` therefore verifies every pack at least once a month,
//! from whichever machine runs it.

use std::str::FromStr;

use serde::Serialize;

use crate::check::auditlog;
use crate::check::data::PackVerdict;
use crate::error::{Error, Result};
use crate::format::audit::{AuditRecord, AuditResult};
use crate::format::tree::Timestamp;
use crate::ids::PackId;

/// Live audit objects at which a run compacts them into one.
pub const COMPACT_AFTER: usize = 30;

/// How much one audit run reads.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Budget {
    /// Every pack.
    #[default]
    All,
    /// `n/m` of the packs by count, rounded up (`1/30` for a daily run
    /// that covers everything in a month).
    Fraction { n: u64, m: u64 },
    /// This percentage of the packs by count, rounded up.
    Percent(f64),
    /// Packs in audit order until this many bytes (at least one pack).
    Bytes(u64),
}

impl Budget {
    /// How many of `ordered` (in audit order) this budget reads.
    pub fn take(&self, ordered: &[(PackId, u64)]) -> usize {
        let n = ordered.len();
        match *self {
            Budget::All => n,
            Budget::Fraction { n: a, m } => ((n as u128 * a as u128).div_ceil(m as u128)) as usize,
            Budget::Percent(p) => ((n as f64 * p / 100.0).ceil() as usize).min(n),
            Budget::Bytes(budget) => {
                let mut total = 0u64;
                ordered
                    .iter()
                    .take_while(|(_, size)| {
                        let take = total < budget;
                        total = total.saturating_add(*size);
                        take
                    })
                    .count()
            }
        }
    }
}

impl FromStr for Budget {
    type Err = Error;

    /// `N/M`, `P%` or a size such as `2GiB`.
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        if let Some((a, m)) = s.split_once('/') {
            let bad = || Error::Usage(format!("bad budget {s:?}: expected N/M with 1 <= N <= M"));
            let a: u64 = a.trim().parse().map_err(|_| bad())?;
            let m: u64 = m.trim().parse().map_err(|_| bad())?;
            if a == 0 || m == 0 || a > m {
                return Err(bad());
            }
            return Ok(Budget::Fraction { n: a, m });
        }
        match s.parse::<crate::check::Subset>()? {
            crate::check::Subset::Percent(p) => Ok(Budget::Percent(p)),
            crate::check::Subset::Bytes(b) => Ok(Budget::Bytes(b)),
            crate::check::Subset::Slice { .. } => Err(Error::Internal("unreachable".into())),
        }
    }
}

/// Settings for `check --audit`.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    pub budget: Budget,
    /// Compact the log when this many live audit objects exist.
    pub compact_after: usize,
    /// The time to record (`None`: the clock). Tests pass days explicitly.
    pub now: Option<Timestamp>,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            budget: Budget::All,
            compact_after: COMPACT_AFTER,
            now: None,
        }
    }
}

/// What an audit run did and what the log now proves.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditReport {
    /// Packs that can be audited (indexed and present).
    pub packs: u64,
    pub packs_verified: u64,
    pub packs_failed: u64,
    pub bytes_verified: u64,
    /// Packs with no successful verification on record.
    pub never_verified: u64,
    /// The oldest of the packs' last successful verifications.
    pub oldest_verification: Option<Timestamp>,
    /// With no pack unverified: every pack was verified within this many
    /// days (rounded up, at least 1).
    pub all_verified_within_days: Option<u64>,
    /// Live audit objects after this run, and how many it compacted.
    pub log_objects: u64,
    pub compacted: u64,
    /// The audit object written (hex id).
    pub written: Option<String>,
}

/// The packs in audit order: never (successfully) verified first, then by
/// the time of the last successful verification; ties by id.
pub(crate) fn order(
    candidates: Vec<(PackId, u64)>,
    state: &auditlog::LogState,
) -> Vec<(PackId, u64)> {
    let mut v = candidates;
    v.sort_by_key(|(id, _)| (state.last_ok(id), *id));
    v
}

/// Records the verdicts and computes coverage over `candidates`.
pub(crate) fn finish(
    repo: &crate::repo::Repository,
    mut state: auditlog::LogState,
    candidates: &[(PackId, u64)],
    verdicts: &[PackVerdict],
    present: &std::collections::HashMap<PackId, u64>,
    opts: &AuditOptions,
) -> Result<AuditReport> {
    let now = opts.now.unwrap_or_else(|| crate::time::now().0);
    let records: Vec<AuditRecord> = verdicts
        .iter()
        .map(|v| AuditRecord {
            pack: v.id,
            time: now,
            result: if v.ok {
                AuditResult::Ok
            } else {
                AuditResult::Damaged
            },
        })
        .collect();
    let appended = auditlog::append(repo, &mut state, records, present, now, opts.compact_after)?;
    let last: Vec<Option<Timestamp>> = candidates.iter().map(|(id, _)| state.last_ok(id)).collect();
    let never = last.iter().filter(|t| t.is_none()).count() as u64;
    let oldest = last.iter().flatten().min().copied();
    let within = match (never, oldest) {
        (0, Some(t)) => Some(
            (now.secs.saturating_sub(t.secs).max(0) as u64)
                .div_ceil(86_400)
                .max(1),
        ),
        _ => None,
    };
    Ok(AuditReport {
        packs: candidates.len() as u64,
        packs_verified: verdicts.len() as u64,
        packs_failed: verdicts.iter().filter(|v| !v.ok).count() as u64,
        bytes_verified: verdicts.iter().map(|v| v.bytes).sum(),
        never_verified: never,
        oldest_verification: oldest,
        all_verified_within_days: within,
        log_objects: appended.live,
        compacted: appended.compacted,
        written: appended.id.map(|id| id.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packs(n: u8) -> Vec<(PackId, u64)> {
        (0..n).map(|i| (PackId([i; 32]), 100)).collect()
    }

    #[test]
    fn budgets_parse_and_round_up() {
        assert_eq!(
            "1/30".parse::<Budget>().unwrap(),
            Budget::Fraction { n: 1, m: 30 }
        );
        assert_eq!("5%".parse::<Budget>().unwrap(), Budget::Percent(5.0));
        assert_eq!("2GiB".parse::<Budget>().unwrap(), Budget::Bytes(2 << 30));
        for bad in ["0/30", "31/30", "x/2", "0%", "lots"] {
            assert!(bad.parse::<Budget>().is_err(), "{bad}");
        }
        let p = packs(31);
        assert_eq!(Budget::Fraction { n: 1, m: 30 }.take(&p), 2);
        assert_eq!(Budget::Fraction { n: 1, m: 30 }.take(&p[..30]), 1);
        assert_eq!(Budget::Fraction { n: 1, m: 30 }.take(&[]), 0);
        assert_eq!(Budget::Percent(10.0).take(&p), 4);
        assert_eq!(Budget::Bytes(1).take(&p), 1);
        assert_eq!(Budget::Bytes(201).take(&p), 3);
        assert_eq!(Budget::All.take(&p), 31);
    }

    #[test]
    fn order_puts_unverified_and_failed_first_then_oldest() {
        let t = |secs| Timestamp { secs, nanos: 0 };
        let mut state = auditlog::LogState::default();
        let rec = |p: u8, secs, result| AuditRecord {
            pack: PackId([p; 32]),
            time: t(secs),
            result,
        };
        state
            .latest
            .insert(PackId([0; 32]), rec(0, 50, AuditResult::Ok));
        state
            .latest
            .insert(PackId([1; 32]), rec(1, 10, AuditResult::Ok));
        state
            .latest
            .insert(PackId([2; 32]), rec(2, 99, AuditResult::Damaged));
        let ids: Vec<u8> = order(packs(4), &state)
            .iter()
            .map(|(id, _)| id.0[0])
            .collect();
        assert_eq!(ids, [2, 3, 1, 0]);
    }
}
