//! The pure selection: which snapshots a policy keeps, and why. No I/O, so
//! dry runs, the CLI table and the property tests all see exactly what
//! `forget` will do.
//!
//! Per group, snapshots are ordered newest first (by time, then by id, so
//! same-second snapshots have a fixed order). Calendar buckets use the
//! snapshot's own recorded UTC offset, so the answer does not depend on the
//! zone of the machine running forget. The newest snapshot of a bucket
//! represents it; a `--keep-daily N` rule keeps the representatives of the N
//! newest days that have snapshots (newest judged by those representatives).

use std::collections::{HashMap, HashSet};
use std::fmt;

use chrono::{DateTime, Datelike, Days, Months, NaiveDateTime};
use serde::Serialize;

use crate::forget::policy::{GroupBy, Policy, Span};
use crate::format::tree::Timestamp;
use crate::ids::SnapshotId;
use crate::repo::SnapshotRef;

/// A calendar unit of the bucket rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bucket {
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

impl Bucket {
    pub const ALL: [Bucket; 5] = [
        Bucket::Hourly,
        Bucket::Daily,
        Bucket::Weekly,
        Bucket::Monthly,
        Bucket::Yearly,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Bucket::Hourly => "hourly",
            Bucket::Daily => "daily",
            Bucket::Weekly => "weekly",
            Bucket::Monthly => "monthly",
            Bucket::Yearly => "yearly",
        }
    }

    /// The count and the within-span a policy sets for this unit.
    fn rules(self, p: &Policy) -> (u32, Option<Span>) {
        match self {
            Bucket::Hourly => (p.hourly, p.within_hourly),
            Bucket::Daily => (p.daily, p.within_daily),
            Bucket::Weekly => (p.weekly, p.within_weekly),
            Bucket::Monthly => (p.monthly, p.within_monthly),
            Bucket::Yearly => (p.yearly, p.within_yearly),
        }
    }

    /// The bucket a local time falls in, as a number unique per bucket.
    fn key(self, local: &NaiveDateTime) -> i64 {
        let year = i64::from(local.year());
        match self {
            Bucket::Hourly => local.and_utc().timestamp().div_euclid(3600),
            Bucket::Daily => local.and_utc().timestamp().div_euclid(86_400),
            Bucket::Weekly => {
                let w = local.iso_week();
                i64::from(w.year()) * 100 + i64::from(w.week())
            }
            Bucket::Monthly => year * 100 + i64::from(local.month()),
            Bucket::Yearly => year,
        }
    }
}

/// Why a snapshot is kept; printed as in `forget --dry-run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// `last #k`: the k-th newest.
    Last(u32),
    /// `daily #k`: the newest of the k-th newest day (likewise other units).
    Bucket(Bucket, u32),
    /// `within 7d` of the group's newest snapshot.
    Within(Span),
    /// `within-daily 7d`: the newest of its day, within the span.
    WithinBucket(Bucket, Span),
    /// `tag prod`.
    Tag(String),
    /// `min #k`: kept so that the group keeps k snapshots.
    Min(u32),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Last(k) => write!(f, "last #{k}"),
            Reason::Bucket(b, k) => write!(f, "{} #{k}", b.name()),
            Reason::Within(s) => write!(f, "within {s}"),
            Reason::WithinBucket(b, s) => write!(f, "within-{} {s}", b.name()),
            Reason::Tag(t) => write!(f, "tag {t}"),
            Reason::Min(k) => write!(f, "min #{k}"),
        }
    }
}

impl Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What snapshots of one group share; fields not grouped by are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct GroupKey {
    pub host: Option<String>,
    /// Sorted and deduplicated.
    pub paths: Option<Vec<String>>,
    /// Sorted and deduplicated.
    pub tags: Option<Vec<String>>,
}

impl GroupKey {
    pub fn of(s: &crate::format::snapshot::Snapshot, by: GroupBy) -> GroupKey {
        let sorted = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v.dedup();
            v
        };
        GroupKey {
            host: by.host.then(|| s.host.clone()),
            paths: by.paths.then(|| sorted(&s.paths)),
            tags: by.tags.then(|| sorted(&s.tags)),
        }
    }
}

impl fmt::Display for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(h) = &self.host {
            parts.push(format!("host {h}"));
        }
        if let Some(p) = &self.paths {
            parts.push(format!("paths [{}]", p.join(", ")));
        }
        if let Some(t) = &self.tags {
            parts.push(format!("tags [{}]", t.join(", ")));
        }
        if parts.is_empty() {
            f.write_str("all snapshots")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// The verdict on one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub id: SnapshotId,
    pub time: Timestamp,
    /// As recorded: the zone its calendar buckets were taken in.
    pub utc_offset_secs: i32,
    pub group: GroupKey,
    pub keep: bool,
    /// Every rule that keeps it; empty exactly when it is removed.
    pub reasons: Vec<Reason>,
}

/// Decides every snapshot: one [`Decision`] per input, grouped (groups in
/// key order), newest first within a group. An empty policy keeps nothing
/// by rule, so `forget` refuses it before calling this.
pub fn select(snapshots: &[SnapshotRef], policy: &Policy, group_by: GroupBy) -> Vec<Decision> {
    let mut groups: HashMap<GroupKey, Vec<&SnapshotRef>> = HashMap::new();
    for s in snapshots {
        groups
            .entry(GroupKey::of(&s.snapshot, group_by))
            .or_default()
            .push(s);
    }
    let mut groups: Vec<_> = groups.into_iter().collect();
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::with_capacity(snapshots.len());
    for (key, mut members) in groups {
        members.sort_by(|a, b| newest_first(a, b));
        let reasons = select_group(&members, policy);
        out.extend(members.iter().zip(reasons).map(|(s, reasons)| Decision {
            id: s.id,
            time: s.snapshot.time,
            utc_offset_secs: s.snapshot.utc_offset_secs,
            group: key.clone(),
            keep: !reasons.is_empty(),
            reasons,
        }));
    }
    out
}

/// Newer time first; among equal times the larger id counts as newer.
pub(crate) fn newest_first(a: &SnapshotRef, b: &SnapshotRef) -> std::cmp::Ordering {
    (b.snapshot.time, b.id).cmp(&(a.snapshot.time, a.id))
}

/// Reasons for each member of one group, given newest first.
fn select_group(members: &[&SnapshotRef], p: &Policy) -> Vec<Vec<Reason>> {
    let mut reasons: Vec<Vec<Reason>> = vec![Vec::new(); members.len()];
    let Some(newest) = members.first() else {
        return reasons;
    };
    let local: Vec<NaiveDateTime> = members.iter().map(|s| local_time(s)).collect();
    for (i, r) in reasons.iter_mut().enumerate().take(p.last as usize) {
        r.push(Reason::Last(i as u32 + 1));
    }
    for unit in Bucket::ALL {
        let (count, within) = unit.rules(p);
        if count == 0 && within.is_none() {
            continue;
        }
        // The first member seen in each bucket is its newest; collecting
        // those indices in member order ranks the buckets newest first.
        let mut seen = HashSet::new();
        let heads: Vec<usize> = (0..members.len())
            .filter(|&i| seen.insert(unit.key(&local[i])))
            .collect();
        for (rank, &i) in heads.iter().take(count as usize).enumerate() {
            reasons[i].push(Reason::Bucket(unit, rank as u32 + 1));
        }
        if let Some(span) = within {
            let since = threshold(newest, span);
            for &i in heads.iter().filter(|&&i| members[i].snapshot.time >= since) {
                reasons[i].push(Reason::WithinBucket(unit, span));
            }
        }
    }
    if let Some(span) = p.within {
        let since = threshold(newest, span);
        for (i, s) in members.iter().enumerate() {
            if s.snapshot.time >= since {
                reasons[i].push(Reason::Within(span));
            }
        }
    }
    for (i, s) in members.iter().enumerate() {
        if let Some(t) = p.tags.iter().find(|t| s.snapshot.tags.contains(t)) {
            reasons[i].push(Reason::Tag(t.clone()));
        }
    }
    let mut kept = reasons.iter().filter(|r| !r.is_empty()).count() as u32;
    for r in reasons.iter_mut().filter(|r| r.is_empty()) {
        if kept >= p.min {
            break;
        }
        kept += 1;
        r.push(Reason::Min(kept));
    }
    reasons
}

/// Offsets outside ±24 h (which no writer records) count as UTC, and times
/// beyond chrono's range are clamped, so hostile values cannot panic.
const MAX_LOCAL_SECS: i64 = 8_000_000_000_000;

fn offset_of(s: &SnapshotRef) -> i64 {
    let off = i64::from(s.snapshot.utc_offset_secs);
    if off.abs() < 86_400 {
        off
    } else {
        0
    }
}

/// The snapshot's wall-clock time where it was taken.
fn local_time(s: &SnapshotRef) -> NaiveDateTime {
    let secs = s
        .snapshot
        .time
        .secs
        .saturating_add(offset_of(s))
        .clamp(-MAX_LOCAL_SECS, MAX_LOCAL_SECS);
    DateTime::from_timestamp(secs, 0)
        .expect("clamped into chrono's range")
        .naive_utc()
}

/// The oldest time still "within `span`" of `newest`: the span is taken
/// off its local wall-clock time (calendar months and years; a day past
/// the end of a shorter month clamps to its last day).
fn threshold(newest: &SnapshotRef, span: Span) -> Timestamp {
    let local = local_time(newest);
    let months = u64::from(span.years) * 12 + u64::from(span.months);
    let back = u32::try_from(months)
        .ok()
        .and_then(|m| local.checked_sub_months(Months::new(m)))
        .and_then(|t| t.checked_sub_days(Days::new(u64::from(span.days))))
        .and_then(|t| t.checked_sub_signed(chrono::TimeDelta::hours(i64::from(span.hours))));
    match back {
        // Same nanoseconds as the newest: the boundary itself is within.
        Some(t) => Timestamp {
            secs: newest
                .snapshot
                .time
                .secs
                .saturating_sub((local - t).num_seconds()),
            nanos: newest.snapshot.time.nanos,
        },
        None => Timestamp {
            secs: i64::MIN,
            nanos: 0,
        },
    }
}
