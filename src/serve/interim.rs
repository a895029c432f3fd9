//! Stand-ins for what the `config` helper's branch provides (loading with
//! FILE:LINE errors, `Schedule`, opening a repository section). Deleted
//! when that branch is merged; nothing else should grow here.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use zeroize::Zeroizing;

use cairn::storage::s3::S3Options;
use cairn::storage::{open_location_with, OpenedStorage, StorageOptions};
use cairn::{Error, Result};

use crate::config::{Config, RepositoryConfig};

/// Reads and parses the configuration file.
pub fn load(path: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start].lines().count().max(1))
            .unwrap_or(0);
        Error::Usage(format!("{}:{line}: {}", path.display(), e.message()))
    })
}

/// `90s`, `15m`, `6h`, `1d`.
pub fn duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    let bad = || Error::Usage(format!("bad duration {s:?} (e.g. 90s, 15m, 6h, 1d)"));
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(n * secs))
}

/// When a plan's job runs: a cron expression in a time zone, or an interval.
#[derive(Debug, Clone)]
pub enum Schedule {
    Cron(Box<croner::Cron>, chrono_tz::Tz),
    Every(Duration),
}

impl Schedule {
    pub fn parse(
        cron: Option<&str>,
        every: Option<&str>,
        tz: Option<&str>,
    ) -> Result<Option<Self>> {
        if let Some(e) = every {
            return Ok(Some(Schedule::Every(duration(e)?)));
        }
        let Some(c) = cron else { return Ok(None) };
        let cron = croner::parser::CronParser::new()
            .parse(c)
            .map_err(|e| Error::Usage(format!("bad cron {c:?}: {e}")))?;
        let tz: chrono_tz::Tz = tz
            .unwrap_or("UTC")
            .parse()
            .map_err(|_| Error::Usage(format!("unknown time zone {tz:?}")))?;
        Ok(Some(Schedule::Cron(Box::new(cron), tz)))
    }

    /// The first run strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Every(d) => {
                let step = d.as_secs().max(1) as i64;
                let next = (t.timestamp() / step + 1) * step;
                DateTime::from_timestamp(next, 0)
            }
            Schedule::Cron(c, tz) => c
                .find_next_occurrence(&t.with_timezone(tz), false)
                .ok()
                .map(|d| d.with_timezone(&Utc)),
        }
    }
}

/// The password a repository section names (file, command or variable).
pub fn password(rc: &RepositoryConfig) -> Result<Zeroizing<String>> {
    let pw = if let Some(f) = &rc.password_file {
        let s = std::fs::read_to_string(f).map_err(|e| Error::io(f, e))?;
        s.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(cmd) = &rc.password_command {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .output()
            .map_err(|e| Error::io(Path::new("sh"), e))?;
        if !out.status.success() {
            return Err(Error::Usage("the password command failed".into()));
        }
        String::from_utf8_lossy(&out.stdout)
            .trim_end_matches(['\n', '\r'])
            .to_string()
    } else if let Some(v) = &rc.password_env {
        std::env::var(v).map_err(|_| Error::Usage(format!("${v} is not set")))?
    } else {
        return Err(Error::Usage(
            "the repository names no password source".into(),
        ));
    };
    Ok(Zeroizing::new(pw))
}

/// Opens a repository section's storage (no password needed).
pub fn open_storage(rc: &RepositoryConfig) -> Result<OpenedStorage> {
    let mut s3 = S3Options {
        path_style: rc.s3_path_style,
        region: rc.s3_region.clone(),
        ..S3Options::default()
    };
    if let Some(n) = rc.s3_connections {
        s3.connections = n as usize;
    }
    open_location_with(&rc.location, false, &StorageOptions { s3 })
}

/// A plan's retention policy (`retention` short form, `keep_*`, `keep_min`).
pub fn policy(plan: &crate::config::Plan) -> Result<cairn::forget::Policy> {
    let mut p = match &plan.retention {
        Some(r) => cairn::forget::parse_retention(r)?,
        None => cairn::forget::Policy::default(),
    };
    let set = |field: &mut u32, v: Option<u32>| {
        if let Some(v) = v {
            *field = v;
        }
    };
    set(&mut p.last, plan.keep_last);
    set(&mut p.hourly, plan.keep_hourly);
    set(&mut p.daily, plan.keep_daily);
    set(&mut p.weekly, plan.keep_weekly);
    set(&mut p.monthly, plan.keep_monthly);
    set(&mut p.yearly, plan.keep_yearly);
    set(&mut p.min, plan.keep_min);
    Ok(p)
}
