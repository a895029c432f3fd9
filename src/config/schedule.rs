//! When a plan's jobs run: a cron expression evaluated in a named time zone
//! (croner and chrono-tz handle DST: a time skipped by a spring-forward
//! runs at the next valid instant, a repeated autumn hour runs once), or a
//! fixed interval measured from the previous run.
//!
//! The scheduler asks [`Schedule::next_after`] with the time of the last
//! run it knows of; with none (a plan never run), it passes the service's
//! start, so an `every` plan first runs one interval after the service
//! starts and a cron plan at its next matching time.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use rand::Rng;

/// A parsed schedule; built only from a validated configuration, so its
/// methods cannot fail.
#[derive(Debug, Clone)]
pub enum Schedule {
    Cron {
        cron: Box<Cron>,
        /// The expression as written, for listings.
        expr: String,
        tz: Tz,
        jitter: Duration,
    },
    Every {
        every: Duration,
        jitter: Duration,
    },
}

/// Parses a cron expression of 5 fields (minute precision) or 6 (with
/// seconds first).
pub fn parse_cron(expr: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .build()
        .parse(expr)
        .map_err(|e| format!("bad cron expression {expr:?}: {e}"))
}

/// Parses a time zone name such as `Europe/Berlin` or `UTC`.
pub fn parse_tz(name: &str) -> Result<Tz, String> {
    Tz::from_str(name).map_err(|_| format!("unknown time zone {name:?} (e.g. Europe/Berlin, UTC)"))
}

impl Schedule {
    /// The next run after `t` (strictly later).
    pub fn next_after(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Schedule::Cron { cron, tz, .. } => cron
                .find_next_occurrence(&t.with_timezone(tz), false)
                .map(|d| d.with_timezone(&Utc))
                // Only a pattern that never matches again (e.g. Feb 30) gets
                // here; far future means "never".
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            Schedule::Every { every, .. } => {
                let step = chrono::Duration::from_std(*every).unwrap_or(chrono::Duration::MAX);
                t.checked_add_signed(step)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC)
            }
        }
    }

    /// Was a run due after `last_run` and up to `now`? (`run_missed`: the
    /// service was down when it should have run.)
    pub fn missed(&self, last_run: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        self.next_after(last_run) <= now
    }

    /// The largest random delay added to each scheduled run.
    pub fn max_jitter(&self) -> Duration {
        match self {
            Schedule::Cron { jitter, .. } | Schedule::Every { jitter, .. } => *jitter,
        }
    }

    /// A random delay in `[0, max_jitter]` for one run, so that many
    /// services with the same schedule do not hit a bucket at once.
    pub fn jitter(&self) -> Duration {
        let max = self.max_jitter();
        if max.is_zero() {
            return max;
        }
        Duration::from_millis(rand::rng().random_range(0..=max.as_millis() as u64))
    }

    /// `cron "0 3 * * *" Europe/Berlin` or `every 6h`, for listings.
    pub fn describe(&self) -> String {
        match self {
            Schedule::Cron { expr, tz, .. } => format!("cron {expr:?} {tz}"),
            Schedule::Every { every, .. } => format!("every {}s", every.as_secs()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn cron(expr: &str, tz: &str) -> Schedule {
        Schedule::Cron {
            cron: Box::new(parse_cron(expr).unwrap()),
            expr: expr.into(),
            tz: parse_tz(tz).unwrap(),
            jitter: Duration::ZERO,
        }
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn cron_runs_in_the_plans_time_zone_across_dst() {
        let s = cron("0 3 * * *", "Europe/Berlin");
        // Winter: 03:00 CET is 02:00 UTC.
        assert_eq!(
            s.next_after(utc(2026, 1, 10, 12, 0)),
            utc(2026, 1, 11, 2, 0)
        );
        // Summer: 03:00 CEST is 01:00 UTC.
        assert_eq!(
            s.next_after(utc(2026, 7, 10, 12, 0)),
            utc(2026, 7, 11, 1, 0)
        );
        // Across the spring change (29 March 2026): the day before at 02:00
        // UTC, the day after at 01:00 UTC.
        assert_eq!(s.next_after(utc(2026, 3, 28, 0, 0)), utc(2026, 3, 28, 2, 0));
        assert_eq!(s.next_after(utc(2026, 3, 28, 2, 0)), utc(2026, 3, 29, 1, 0));
    }

    #[test]
    fn a_time_skipped_or_repeated_by_dst_runs_once() {
        // 02:30 does not exist on 29 March 2026 in Berlin: one run that
        // day, not zero; the next one is the following day's 02:30 CEST.
        let s = cron("30 2 * * *", "Europe/Berlin");
        let first = s.next_after(utc(2026, 3, 28, 12, 0));
        assert!(first > utc(2026, 3, 28, 12, 0) && first <= utc(2026, 3, 29, 1, 0));
        assert_eq!(s.next_after(first), utc(2026, 3, 30, 0, 30));
        // 02:30 exists twice on 25 October 2026: one run, not two.
        let a = s.next_after(utc(2026, 10, 24, 12, 0));
        let b = s.next_after(a);
        assert!(b - a > chrono::Duration::hours(20), "{a} then {b}");
    }

    #[test]
    fn every_counts_from_the_previous_run_and_jitter_stays_in_bounds() {
        let s = Schedule::Every {
            every: Duration::from_secs(6 * 3600),
            jitter: Duration::from_secs(60),
        };
        let t = utc(2026, 5, 1, 10, 17);
        assert_eq!(s.next_after(t), utc(2026, 5, 1, 16, 17));
        let draws: Vec<Duration> = (0..200).map(|_| s.jitter()).collect();
        assert!(draws.iter().all(|d| *d <= Duration::from_secs(60)));
        assert!(draws.iter().any(|d| *d != draws[0]), "jitter is random");
        let none = Schedule::Every {
            every: Duration::from_secs(1),
            jitter: Duration::ZERO,
        };
        assert_eq!(none.jitter(), Duration::ZERO);
    }

    #[test]
    fn missed_runs() {
        let daily = cron("0 3 * * *", "UTC");
        let last = utc(2026, 5, 1, 3, 0);
        assert!(!daily.missed(last, utc(2026, 5, 2, 2, 59)));
        assert!(daily.missed(last, utc(2026, 5, 2, 3, 0)));
        assert!(daily.missed(last, utc(2026, 5, 9, 0, 0)));
        let every = Schedule::Every {
            every: Duration::from_secs(3600),
            jitter: Duration::ZERO,
        };
        assert!(!every.missed(last, utc(2026, 5, 1, 3, 59)));
        assert!(every.missed(last, utc(2026, 5, 1, 4, 0)));
    }

    #[test]
    fn bad_expressions_and_zones_are_refused() {
        assert!(parse_cron("0 3 * *").is_err());
        assert!(parse_cron("61 3 * * *").is_err());
        assert!(parse_cron("0 0 3 * * * * *").is_err());
        assert!(parse_tz("Europe/Atlantis").is_err());
        assert!(parse_tz("UTC").is_ok());
    }
}
