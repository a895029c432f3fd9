//! Property tests of [`select`] against a deliberately simple reference
//! model, written separately from the implementation: groups in a BTreeMap
//! of sets, buckets named by chrono's own date formatting in a
//! `FixedOffset` zone (`%G-W%V` for ISO weeks), each rule a plain walk over
//! the snapshots newest first that keeps the first snapshot of each new
//! bucket until N buckets are taken.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Days, FixedOffset, Months, TimeDelta};
use proptest::prelude::*;

use super::policy::{GroupBy, Policy, Span};
use super::select::select;
use crate::format::snapshot::Snapshot;
use crate::format::tree::Timestamp;
use crate::ids::{SnapshotId, TreeId};
use crate::repo::SnapshotRef;

type Verdicts = BTreeMap<SnapshotId, Vec<String>>;

fn local(s: &SnapshotRef) -> DateTime<FixedOffset> {
    let zone =
        FixedOffset::east_opt(s.snapshot.utc_offset_secs).expect("generated offsets are valid");
    DateTime::from_timestamp(s.snapshot.time.secs, 0)
        .expect("generated times are in range")
        .with_timezone(&zone)
}

fn bucket_name(unit: &str, s: &SnapshotRef) -> String {
    let fmt = match unit {
        "hourly" => "%Y-%m-%d %H",
        "daily" => "%Y-%m-%d",
        "weekly" => "%G-W%V",
        "monthly" => "%Y-%m",
        _ => "%Y",
    };
    local(s).format(fmt).to_string()
}

fn is_within(newest: &SnapshotRef, span: &Span, s: &SnapshotRef) -> bool {
    let start = local(newest)
        .checked_sub_months(Months::new(span.years * 12 + span.months))
        .and_then(|t| t.checked_sub_days(Days::new(span.days.into())))
        .and_then(|t| t.checked_sub_signed(TimeDelta::hours(span.hours.into())));
    let Some(start) = start else { return true };
    (s.snapshot.time.secs, s.snapshot.time.nanos) >= (start.timestamp(), newest.snapshot.time.nanos)
}

/// The reference: snapshot id → sorted reason strings (empty = removed).
#[allow(clippy::needless_range_loop)] // plain indices: meant to be obvious
fn reference(snaps: &[SnapshotRef], p: &Policy, by: GroupBy) -> Verdicts {
    let mut groups: BTreeMap<String, Vec<SnapshotRef>> = BTreeMap::new();
    for s in snaps {
        let set = |v: &Vec<String>| v.iter().cloned().collect::<BTreeSet<_>>();
        let key = format!(
            "{:?}|{:?}|{:?}",
            by.host.then_some(&s.snapshot.host),
            by.paths.then(|| set(&s.snapshot.paths)),
            by.tags.then(|| set(&s.snapshot.tags)),
        );
        groups.entry(key).or_default().push(s.clone());
    }
    let mut out = Verdicts::new();
    for (_, mut g) in groups {
        g.sort_by_key(|s| std::cmp::Reverse((s.snapshot.time.secs, s.snapshot.time.nanos, s.id.0)));
        let mut why: Vec<Vec<String>> = vec![vec![]; g.len()];
        for i in 0..g.len().min(p.last as usize) {
            why[i].push(format!("last #{}", i + 1));
        }
        let units = [
            ("hourly", p.hourly, p.within_hourly),
            ("daily", p.daily, p.within_daily),
            ("weekly", p.weekly, p.within_weekly),
            ("monthly", p.monthly, p.within_monthly),
            ("yearly", p.yearly, p.within_yearly),
        ];
        for (unit, n, within) in units {
            let mut taken: Vec<String> = vec![];
            for (i, s) in g.iter().enumerate() {
                if taken.len() == n as usize {
                    break;
                }
                let b = bucket_name(unit, s);
                if !taken.contains(&b) {
                    taken.push(b);
                    why[i].push(format!("{unit} #{}", taken.len()));
                }
            }
            if let Some(span) = within {
                let mut seen = BTreeSet::new();
                for (i, s) in g.iter().enumerate() {
                    if seen.insert(bucket_name(unit, s)) && is_within(&g[0], &span, s) {
                        why[i].push(format!("within-{unit} {span}"));
                    }
                }
            }
        }
        if let Some(span) = p.within {
            for (i, s) in g.iter().enumerate() {
                if is_within(&g[0], &span, s) {
                    why[i].push(format!("within {span}"));
                }
            }
        }
        for (i, s) in g.iter().enumerate() {
            for t in &p.tags {
                if s.snapshot.tags.contains(t) {
                    why[i].push(format!("tag {t}"));
                    break;
                }
            }
        }
        let mut kept = why.iter().filter(|w| !w.is_empty()).count();
        for w in why.iter_mut() {
            if kept < p.min as usize && w.is_empty() {
                kept += 1;
                w.push(format!("min #{kept}"));
            }
        }
        for (s, mut w) in g.iter().zip(why) {
            w.sort();
            out.insert(s.id, w);
        }
    }
    out
}

fn implementation(snaps: &[SnapshotRef], p: &Policy, by: GroupBy) -> Verdicts {
    select(snaps, p, by)
        .into_iter()
        .map(|d| {
            assert_eq!(d.keep, !d.reasons.is_empty());
            let mut w: Vec<String> = d.reasons.iter().map(|r| r.to_string()).collect();
            w.sort();
            (d.id, w)
        })
        .collect()
}

/// SplitMix64: histories are drawn from a seed, so a case of thousands of
/// snapshots costs proptest one number.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

pub(crate) fn snapshot(
    id: SnapshotId,
    secs: i64,
    nanos: u32,
    offset: i32,
    host: &str,
) -> SnapshotRef {
    SnapshotRef {
        id,
        snapshot: Snapshot {
            time: Timestamp { secs, nanos },
            utc_offset_secs: offset,
            host: host.into(),
            username: "u".into(),
            tags: vec![],
            paths: vec!["/data".into()],
            excludes: vec![],
            parent: None,
            tree: TreeId([0; 32]),
            original: None,
            program: "test".into(),
            summary: Default::default(),
        },
    }
}

/// Roughly hourly backups from several hosts with gaps, clock skew (steps
/// back, jumps into the future), same-second pairs and zone changes.
fn history(seed: u64, len: usize, hosts: u64) -> Vec<SnapshotRef> {
    let mut r = Rng(seed);
    let offsets = [0, 3600, 7200, -18_000, 19_800, 46_800, -36_000];
    let mut t = 1_700_000_000 + r.below(400 * 86_400) as i64;
    let mut offset = offsets[r.below(offsets.len() as u64) as usize];
    (0..len)
        .map(|i| {
            t += match r.below(100) {
                0..=79 => 3600 + r.below(600) as i64 - 300,
                80..=86 => 0,
                87..=91 => r.below(60 * 86_400) as i64,
                92..=96 => -(r.below(2 * 86_400) as i64),
                _ => r.below(5 * 365 * 86_400) as i64 * if r.chance(50) { 1 } else { -1 },
            };
            if r.chance(3) {
                offset = offsets[r.below(offsets.len() as u64) as usize];
            }
            let host = format!("h{}", r.below(hosts));
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&seed.to_le_bytes());
            id[8..16].copy_from_slice(&(i as u64).to_le_bytes());
            id[16] = r.below(256) as u8; // same-second order is not insertion order
            id.reverse();
            let nanos = if r.chance(50) {
                0
            } else {
                r.below(1_000_000_000) as u32
            };
            let mut s = snapshot(SnapshotId(id), t, nanos, offset, &host);
            if r.chance(10) {
                s.snapshot.paths = vec!["/other".into(), "/data".into()];
            }
            for tag in ["prod", "weekly", "x"] {
                if r.chance(8) {
                    s.snapshot.tags.push(tag.into());
                }
            }
            s
        })
        .collect()
}

fn span() -> impl Strategy<Value = Span> {
    (0..3u32, 0..14u32, 0..40u32, 0..72u32)
        .prop_map(|(years, months, days, hours)| Span {
            years,
            months,
            days,
            hours,
        })
        .prop_filter("non-zero", |s| !s.is_zero())
}

fn count() -> impl Strategy<Value = u32> {
    prop_oneof![3 => Just(0u32), 2 => 1..8u32, 1 => 8..60u32]
}

fn policy() -> impl Strategy<Value = Policy> {
    (
        prop::array::uniform7(count()),
        prop::array::uniform6(prop::option::weighted(0.2, span())),
        prop::sample::subsequence(vec!["x", "prod", "nope"], 0..=2),
    )
        .prop_map(|(n, s, tags)| Policy {
            last: n[0],
            hourly: n[1],
            daily: n[2],
            weekly: n[3],
            monthly: n[4],
            yearly: n[5],
            within: s[0],
            within_hourly: s[1],
            within_daily: s[2],
            within_weekly: s[3],
            within_monthly: s[4],
            within_yearly: s[5],
            tags: tags.into_iter().map(String::from).collect(),
            min: n[6] % 6,
        })
        .prop_filter("non-empty", |p| !p.is_empty())
}

fn group_by() -> impl Strategy<Value = GroupBy> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(host, paths, tags)| GroupBy {
        host,
        paths,
        tags,
    })
}

fn kept(v: &Verdicts) -> BTreeSet<SnapshotId> {
    v.iter()
        .filter(|(_, w)| !w.is_empty())
        .map(|(id, _)| *id)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn select_matches_the_reference(
        seed in any::<u64>(), len in 0..400usize, hosts in 1..4u64,
        p in policy(), by in group_by(),
    ) {
        let snaps = history(seed, len, hosts);
        let got = implementation(&snaps, &p, by);
        prop_assert_eq!(got.len(), snaps.len());
        prop_assert_eq!(got, reference(&snaps, &p, by));
    }

    /// Crash safety: after removing any part of what a run removes, the
    /// same policy keeps exactly the same snapshots (and removes the rest).
    #[test]
    fn rerun_after_partial_removal_keeps_the_same(
        seed in any::<u64>(), len in 0..300usize, p in policy(), by in group_by(), cut in any::<u64>(),
    ) {
        let snaps = history(seed, len, 2);
        let keep = kept(&implementation(&snaps, &p, by));
        let mut r = Rng(cut);
        let partial: Vec<SnapshotRef> = snaps.iter()
            .filter(|s| keep.contains(&s.id) || r.chance(50))
            .cloned()
            .collect();
        prop_assert_eq!(kept(&implementation(&partial, &p, by)), keep.clone());
        let only_kept: Vec<SnapshotRef> = snaps.iter().filter(|s| keep.contains(&s.id)).cloned().collect();
        prop_assert_eq!(kept(&implementation(&only_kept, &p, by)), keep);
    }

    /// `--keep-min` holds however old everything is, and any count or span
    /// rule keeps each group's newest snapshot.
    #[test]
    fn min_and_newest_are_kept(seed in any::<u64>(), len in 1..300usize, p in policy(), by in group_by()) {
        let snaps = history(seed, len, 3);
        let decisions = select(&snaps, &p, by);
        let mut groups: BTreeMap<_, Vec<_>> = BTreeMap::new();
        for d in &decisions {
            groups.entry(d.group.clone()).or_default().push(d);
        }
        let counts = p.last + p.hourly + p.daily + p.weekly + p.monthly + p.yearly;
        let spans = p.spans().iter().any(|(_, s)| s.is_some());
        for (_, g) in groups {
            let kept = g.iter().filter(|d| d.keep).count();
            prop_assert!(kept >= g.len().min(p.min as usize));
            if counts > 0 || spans {
                prop_assert!(g[0].keep, "newest of a group removed");
            }
            prop_assert!(g.windows(2).all(|w| (w[0].time, w[0].id) > (w[1].time, w[1].id)));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Two years of hourly backups, three hosts.
    #[test]
    fn two_years_hourly_matches_the_reference(seed in any::<u64>(), p in policy()) {
        let snaps = history(seed, 2 * 365 * 24, 3);
        prop_assert_eq!(implementation(&snaps, &p, GroupBy::default()), reference(&snaps, &p, GroupBy::default()));
    }
}
