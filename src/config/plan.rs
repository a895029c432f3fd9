//! Typed views of a plan and of the server section, so nobody re-parses
//! strings: schedules, the retention policy, check options, durations.
//! Each has a fallible form that [`super::validate`] runs once at load, and
//! an infallible accessor for everyone after (a loaded configuration
//! cannot fail them).

use std::path::PathBuf;
use std::time::Duration;

use cairn::check::{AuditOptions, Budget, CheckOptions, Subset};
use cairn::forget::{combine, parse_retention, Policy};

use super::duration::parse_duration;
use super::schedule::{parse_cron, parse_tz, Schedule};
use super::{Plan, Server};

/// A problem with one key of a plan: the key's name and what is wrong.
pub type KeyError = (&'static str, String);

const VALIDATED: &str = "the configuration was validated at load";

impl Plan {
    /// When backups run; `None`: only when asked (API or manual trigger).
    pub fn schedule(&self) -> Option<Schedule> {
        self.try_schedule().expect(VALIDATED)
    }

    /// When prune runs; `None`: never on its own.
    pub fn prune_schedule(&self) -> Option<Schedule> {
        self.try_prune_schedule().expect(VALIDATED)
    }

    /// When a check runs; `None`: never on its own.
    pub fn check_schedule(&self) -> Option<Schedule> {
        self.try_check_schedule().expect(VALIDATED)
    }

    /// The retention applied after each backup (`retention` combined with
    /// the `keep_*` keys and `keep_min`); `None`: forget nothing.
    pub fn policy(&self) -> Option<Policy> {
        self.try_policy().expect(VALIDATED)
    }

    /// The plan's check: structure always; pack data by
    /// `check_read_data_subset`, or a rolling audit by `check_audit_budget`.
    pub fn check_options(&self) -> CheckOptions {
        self.try_check_options().expect(VALIDATED)
    }

    pub(super) fn try_schedule(&self) -> Result<Option<Schedule>, KeyError> {
        self.try_schedule_of(("cron", &self.cron), ("every", &self.every))
    }

    pub(super) fn try_prune_schedule(&self) -> Result<Option<Schedule>, KeyError> {
        self.try_schedule_of(
            ("prune_cron", &self.prune_cron),
            ("prune_every", &self.prune_every),
        )
    }

    pub(super) fn try_check_schedule(&self) -> Result<Option<Schedule>, KeyError> {
        self.try_schedule_of(
            ("check_cron", &self.check_cron),
            ("check_every", &self.check_every),
        )
    }

    fn try_schedule_of(
        &self,
        cron: (&'static str, &Option<String>),
        every: (&'static str, &Option<String>),
    ) -> Result<Option<Schedule>, KeyError> {
        let jitter = match &self.jitter {
            Some(j) => parse_duration(j).map_err(|e| ("jitter", e))?,
            None => Duration::ZERO,
        };
        match (cron.1, every.1) {
            (Some(_), Some(_)) => {
                Err((every.0, format!("set {} or {}, not both", cron.0, every.0)))
            }
            (Some(expr), None) => {
                let tz = match &self.timezone {
                    Some(name) => parse_tz(name).map_err(|e| ("timezone", e))?,
                    None => chrono_tz::UTC,
                };
                let parsed = parse_cron(expr).map_err(|e| (cron.0, e))?;
                Ok(Some(Schedule::Cron {
                    cron: Box::new(parsed),
                    expr: expr.clone(),
                    tz,
                    jitter,
                }))
            }
            (None, Some(every_s)) => {
                let every = parse_duration(every_s).map_err(|e| (every.0, e))?;
                Ok(Some(Schedule::Every { every, jitter }))
            }
            (None, None) => Ok(None),
        }
    }

    pub(super) fn try_policy(&self) -> Result<Option<Policy>, KeyError> {
        let from_short = match &self.retention {
            Some(r) => parse_retention(r).map_err(|e| ("retention", e.to_string()))?,
            None => Policy::default(),
        };
        let keep = Policy {
            last: self.keep_last.unwrap_or(0),
            hourly: self.keep_hourly.unwrap_or(0),
            daily: self.keep_daily.unwrap_or(0),
            weekly: self.keep_weekly.unwrap_or(0),
            monthly: self.keep_monthly.unwrap_or(0),
            yearly: self.keep_yearly.unwrap_or(0),
            ..Policy::default()
        };
        let mut policy = combine(from_short, keep).map_err(|_| {
            (
                "retention",
                "sets a rule that a keep_* key sets too: write each rule once".to_string(),
            )
        })?;
        let has_rules = policy != Policy::default();
        policy.min = self.keep_min.unwrap_or(0);
        match (has_rules, policy.min) {
            (false, 0) => Ok(None),
            (false, _) => Err((
                "keep_min",
                "a minimum alone keeps everything: add retention or keep_*".to_string(),
            )),
            (true, _) => Ok(Some(policy)),
        }
    }

    pub(super) fn try_check_options(&self) -> Result<CheckOptions, KeyError> {
        let subset = match &self.check_read_data_subset {
            Some(s) => Some(
                s.parse::<Subset>()
                    .map_err(|e| ("check_read_data_subset", e.to_string()))?,
            ),
            None => None,
        };
        let audit = match &self.check_audit_budget {
            Some(b) => Some(AuditOptions {
                budget: b
                    .parse::<Budget>()
                    .map_err(|e| ("check_audit_budget", e.to_string()))?,
                ..AuditOptions::default()
            }),
            None => None,
        };
        if subset.is_some() && audit.is_some() {
            return Err((
                "check_audit_budget",
                "set check_read_data_subset or check_audit_budget, not both".into(),
            ));
        }
        Ok(CheckOptions {
            read_data: subset.is_some(),
            subset,
            audit,
        })
    }
}

/// SIGTERM's default wait for a running job.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(60);

impl Server {
    /// How long SIGTERM waits for a running job before stopping it.
    pub fn grace(&self) -> Duration {
        self.try_grace().expect(VALIDATED)
    }

    pub(super) fn try_grace(&self) -> Result<Duration, String> {
        match &self.shutdown_grace {
            Some(g) => parse_duration(g),
            None => Ok(DEFAULT_GRACE),
        }
    }

    /// Job history and tokens: `state_dir`, or the user's data directory +
    /// `cairn/serve` (filled in at load).
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir.clone().expect(VALIDATED)
    }
}
