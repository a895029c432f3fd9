//! Hand-checked selections; the first is the table in the README.

use super::policy::{parse_retention, GroupBy, Policy, Span};
use super::reference::snapshot;
use super::select::select;
use crate::ids::SnapshotId;
use crate::repo::SnapshotRef;

/// The README's history: one host, recorded at UTC+01:00, newest first.
const README: [&str; 9] = [
    "2026-11-22 18:00",
    "2026-11-22 09:00",
    "2026-11-21 23:30",
    "2026-11-20 12:00",
    "2026-11-16 08:00",
    "2026-11-15 22:00",
    "2026-11-01 00:30",
    "2026-10-31 20:00",
    "2026-10-02 12:00",
];

fn at(i: usize, local: &str, offset: &str) -> SnapshotRef {
    let t = chrono::DateTime::parse_from_str(&format!("{local} {offset}"), "%Y-%m-%d %H:%M %z")
        .unwrap();
    snapshot(
        SnapshotId([i as u8; 32]),
        t.timestamp(),
        0,
        t.offset().local_minus_utc(),
        "laptop",
    )
}

fn readme() -> Vec<SnapshotRef> {
    README
        .iter()
        .enumerate()
        .map(|(i, t)| at(i, t, "+0100"))
        .collect()
}

/// Reasons per snapshot, in README order (newest first).
fn reasons(snaps: &[SnapshotRef], p: &Policy) -> Vec<String> {
    let decisions = select(snaps, p, GroupBy::default());
    snaps
        .iter()
        .map(|s| {
            let d = decisions.iter().find(|d| d.id == s.id).unwrap();
            let r: Vec<String> = d.reasons.iter().map(|r| r.to_string()).collect();
            r.join(", ")
        })
        .collect()
}

#[test]
fn readme_table() {
    let p = parse_retention("3d,2w,2m").unwrap();
    assert_eq!(
        reasons(&readme(), &p),
        [
            "daily #1, weekly #1, monthly #1",
            "",
            "daily #2",
            "daily #3",
            "",
            "weekly #2",
            // 00:30 on 1 November where it was taken: November, not
            // October as it would be in UTC (31 October 23:30).
            "",
            "monthly #2",
            "",
        ]
    );
}

#[test]
fn buckets_follow_the_recorded_offset() {
    // The same instants recorded in UTC: #7 falls on 31 October and now
    // represents October; #8 is no longer the newest of its month.
    let utc: Vec<SnapshotRef> = readme()
        .into_iter()
        .map(|mut s| {
            s.snapshot.utc_offset_secs = 0;
            s
        })
        .collect();
    let r = reasons(&utc, &parse_retention("2m").unwrap());
    assert_eq!(r[6], "monthly #2");
    assert_eq!(r[7], "");
}

#[test]
fn within_counts_back_from_the_newest_snapshot() {
    let p = Policy {
        within: Some("7d".parse().unwrap()),
        ..Policy::default()
    };
    let r = reasons(&readme(), &p);
    // 7 days before 2026-11-22 18:00 is 2026-11-15 18:00: #1 to #6.
    assert!(r[..6].iter().all(|r| r == "within 7d"), "{r:?}");
    assert!(r[6..].iter().all(|r| r.is_empty()), "{r:?}");
    let p = Policy {
        within_daily: Some("2d".parse().unwrap()),
        ..Policy::default()
    };
    let r = reasons(&readme(), &p);
    // Since 2026-11-20 18:00: the newest of 22 and 21 November only.
    assert_eq!(r[..4], ["within-daily 2d", "", "within-daily 2d", ""]);
}

#[test]
fn min_keeps_the_newest_when_nothing_else_would() {
    let p = Policy {
        tags: vec!["prod".into()],
        min: 2,
        ..Policy::default()
    };
    let r = reasons(&readme(), &p);
    assert_eq!(r[..3], ["min #1", "min #2", ""]);
    // A tagged old snapshot counts towards the minimum.
    let mut snaps = readme();
    snaps[8].snapshot.tags.push("prod".into());
    let r = reasons(&snaps, &p);
    assert_eq!(r[0], "min #2");
    assert_eq!(r[8], "tag prod");
    assert!(r[1..8].iter().all(|r| r.is_empty()));
}

#[test]
fn last_and_same_second_snapshots() {
    // Two snapshots in the same second: the larger id counts as newer.
    let mut snaps = readme();
    snaps[1] = at(200, README[0], "+0100");
    let r = reasons(&snaps, &parse_retention("1,1d").unwrap());
    assert_eq!(r[1], "last #1, daily #1");
    assert_eq!(r[0], "");
}

#[test]
fn iso_weeks_cross_the_new_year() {
    // 2026-12-31 (Thursday) and 2027-01-03 (Sunday) are both in ISO week
    // 2026-W53; 2027-01-04 starts 2027-W01.
    let snaps = vec![
        at(1, "2027-01-04 10:00", "+0000"),
        at(2, "2027-01-03 10:00", "+0000"),
        at(3, "2026-12-31 10:00", "+0000"),
        at(4, "2026-12-28 10:00", "+0000"),
        at(5, "2026-12-27 10:00", "+0000"),
    ];
    let r = reasons(&snaps, &parse_retention("3w").unwrap());
    assert_eq!(r, ["weekly #1", "weekly #2", "", "", "weekly #3"]);
}

#[test]
fn groups_are_separate_and_group_by_changes_them() {
    let mut snaps = readme();
    for s in snaps.iter_mut().skip(5) {
        s.snapshot.host = "server".into();
    }
    let p = parse_retention("1").unwrap();
    let kept = |by: GroupBy| {
        select(&snaps, &p, by)
            .iter()
            .filter(|d| d.keep)
            .map(|d| d.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(kept(GroupBy::default()), [snaps[0].id, snaps[5].id]);
    assert_eq!(kept("".parse().unwrap()), [snaps[0].id]);
}

#[test]
fn hostile_times_and_offsets_do_not_panic() {
    let mut snaps = Vec::new();
    for (i, (secs, off)) in [
        (i64::MAX, i32::MAX),
        (i64::MIN, i32::MIN),
        (0, 86_400),
        (-1, -86_399),
        (253_402_300_799, 0),
    ]
    .into_iter()
    .enumerate()
    {
        snaps.push(snapshot(
            SnapshotId([i as u8; 32]),
            secs,
            999_999_999,
            off,
            "h",
        ));
    }
    let big = Span {
        years: u32::MAX,
        months: u32::MAX,
        days: u32::MAX,
        hours: u32::MAX,
    };
    let p = Policy {
        last: 1,
        hourly: 9,
        daily: 9,
        weekly: 9,
        monthly: 9,
        yearly: 9,
        within: Some(big),
        within_hourly: Some(big),
        within_daily: Some(Span {
            days: 1,
            ..Span::default()
        }),
        min: 9,
        ..Policy::default()
    };
    let d = select(&snaps, &p, GroupBy::default());
    assert_eq!(d.len(), 5);
    assert!(d.iter().all(|d| d.keep));
}
