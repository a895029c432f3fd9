//! Warns when a group suddenly holds far more snapshots than usual: a
//! compromised client flooding a repository with fake snapshots to push
//! real ones out of `--keep-last`-style rules. `--keep-within` plus
//! `--keep-min` is the policy that resists this (docs/ransomware.md); the
//! warning makes the attack visible either way.
//!
//! The rule, per group, at time `now`:
//! - the **usual rate** is the group's snapshots dated in the 28 days before
//!   the last week, per day; if the group's oldest snapshot is younger than
//!   that, over the days from it to the start of the last week. A group
//!   with no snapshot older than a week has no usual rate and no warning.
//! - **last day**: snapshots dated after `now − 1 day` (future dates count:
//!   a forged time is no alibi) exceed both 10 × the usual daily rate and 10;
//! - **last week**: snapshots dated after `now − 7 days` exceed both
//!   10 × the usual weekly rate and 30.

use serde::Serialize;

use super::select::Decision;

const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;
const BASELINE: i64 = 28 * DAY;
/// How many times the usual rate is a flood.
pub const FACTOR: f64 = 10.0;
/// At least this many snapshots in a day, or a week, before warning.
pub const MIN_DAY: usize = 10;
pub const MIN_WEEK: usize = 30;

/// One group whose snapshot count jumped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FloodWarning {
    pub group: String,
    /// `day` or `week`.
    pub window: &'static str,
    pub count: usize,
    /// The count the usual rate predicts for the window.
    pub usual: f64,
}

impl std::fmt::Display for FloodWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} snapshots in the last {}, usually {:.1}: a flood of fake snapshots \
             can push real ones out of --keep-last; prefer --keep-within with --keep-min",
            self.group, self.count, self.window, self.usual
        )
    }
}

/// The warnings for `decisions` (one per considered snapshot) at `now`.
pub fn flood_warnings(decisions: &[Decision], now: i64) -> Vec<FloodWarning> {
    let mut groups: Vec<&super::select::GroupKey> = decisions.iter().map(|d| &d.group).collect();
    groups.sort();
    groups.dedup();
    let mut out = Vec::new();
    for group in groups {
        let times: Vec<i64> = decisions
            .iter()
            .filter(|d| &d.group == group)
            .map(|d| d.time.secs)
            .collect();
        out.extend(
            check_group(&times, now)
                .into_iter()
                .map(|(window, count, usual)| FloodWarning {
                    group: group.to_string(),
                    window,
                    count,
                    usual,
                }),
        );
    }
    out
}

/// The rule for one group's snapshot times.
fn check_group(times: &[i64], now: i64) -> Vec<(&'static str, usize, f64)> {
    let week_start = now - WEEK;
    let Some(oldest) = times.iter().copied().min().filter(|t| *t < week_start) else {
        return Vec::new();
    };
    let from = oldest.max(week_start - BASELINE);
    let before = times
        .iter()
        .filter(|t| (from..week_start).contains(*t))
        .count();
    let days = ((week_start - from) as f64 / DAY as f64).max(1.0);
    let per_day = before as f64 / days;
    let mut out = Vec::new();
    for (window, len, floor) in [("day", DAY, MIN_DAY), ("week", WEEK, MIN_WEEK)] {
        let count = times.iter().filter(|t| **t > now - len).count();
        let usual = per_day * (len / DAY) as f64;
        if count > floor && count as f64 > FACTOR * usual {
            out.push((window, count, usual));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    /// One snapshot a day for `days` days before the last week, then `n`
    /// spread over the last `spread` seconds.
    fn history(days: i64, n: i64, spread: i64) -> Vec<i64> {
        let mut t: Vec<i64> = (0..days).map(|d| NOW - WEEK - d * DAY - 1).collect();
        t.extend((0..n).map(|i| NOW - i * spread / n.max(1)));
        t
    }

    #[test]
    fn a_day_of_usual_backups_is_quiet() {
        // Daily for a month, then daily through the last week.
        let mut t = history(28, 0, 0);
        t.extend((0..7).map(|d| NOW - d * DAY));
        assert_eq!(check_group(&t, NOW), []);
        // Hourly for a month, hourly in the last day.
        let t: Vec<i64> = (0..35 * 24).map(|h| NOW - h * 3600).collect();
        assert_eq!(check_group(&t, NOW), []);
    }

    #[test]
    fn a_burst_far_above_the_usual_rate_warns() {
        // Daily usually; 40 in the last hour: the day jumps (the week's
        // 40 is under ten times its usual 7).
        let w = check_group(&history(28, 40, 3600), NOW);
        assert_eq!(
            w.iter().map(|w| (w.0, w.1)).collect::<Vec<_>>(),
            [("day", 40)]
        );
        assert!((w[0].2 - 28.0 / 27.0).abs() < 1e-3, "{w:?}");
        // 100 in the last hour: both.
        let w = check_group(&history(28, 100, 3600), NOW);
        assert_eq!(w.iter().map(|w| w.0).collect::<Vec<_>>(), ["day", "week"]);
        // Eleven in a day is ten times a daily rate and above the floor.
        assert_eq!(check_group(&history(28, 11, 3600), NOW).len(), 1);
        assert_eq!(check_group(&history(28, 10, 3600), NOW), [], "the floor");
        // Future-dated snapshots count as the last day.
        let mut t = history(28, 0, 0);
        t.extend((1..=20).map(|i| NOW + i * DAY));
        assert_eq!(check_group(&t, NOW)[0].0, "day");
    }

    #[test]
    fn a_young_group_has_no_usual_rate() {
        assert_eq!(check_group(&history(0, 500, 3600), NOW), []);
        // A short history is averaged over its own length: 3 snapshots
        // spanning 2 days before the week is 1.5 a day.
        let w = check_group(&history(3, 40, 3600), NOW);
        assert!((w[0].2 - 1.5).abs() < 0.01, "{w:?}");
    }
}
