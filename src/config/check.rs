//! `cairn serve --check-config`: validate the file without starting the
//! service, and show what it would do (each plan's schedule and next runs).

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;

use cairn::{Error, Result};

use super::schedule::Schedule;
use super::Config;
use crate::cli::args::Global;

/// The file `--config` names, else the default one.
pub fn path(g: &Global) -> Result<PathBuf> {
    match &g.config {
        Some(p) => Ok(p.clone()),
        None => super::default_path()
            .ok_or_else(|| Error::Usage("no --config given and no config directory known".into())),
    }
}

#[derive(Serialize)]
struct PlanView {
    name: String,
    repository: String,
    /// `cron "0 3 * * *" Europe/Berlin`, `every 21600s`, or `manual`.
    schedule: String,
    next_run: Option<String>,
    next_prune: Option<String>,
    next_check: Option<String>,
}

/// Loads and validates the file; prints the plans (text or `--json`).
/// Errors come back as `FILE:LINE: FIELD: reason` usage errors (exit 2).
pub fn check_cli(g: &Global, insecure_listen: Option<&str>) -> Result<i32> {
    let file = path(g)?;
    let config = super::load_with(&file, insecure_listen)?;
    let now = Utc::now();
    let views = plan_views(&config, now);
    if g.json {
        let v = serde_json::json!({
            "file": file.display().to_string(),
            "valid": true,
            "repositories": config.repositories.keys().collect::<Vec<_>>(),
            "plans": views,
        });
        println!("{v}");
        return Ok(0);
    }
    println!("{}: valid", file.display());
    println!(
        "repositories: {}",
        config
            .repositories
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    for p in &views {
        let when = |t: &Option<String>| t.clone().unwrap_or_else(|| "-".into());
        println!(
            "plan {} -> {}: {}; next run {}, next prune {}, next check {}",
            p.name,
            p.repository,
            p.schedule,
            when(&p.next_run),
            when(&p.next_prune),
            when(&p.next_check)
        );
    }
    Ok(0)
}

fn plan_views(config: &Config, now: DateTime<Utc>) -> Vec<PlanView> {
    let next = |s: Option<Schedule>| s.map(|s| s.next_after(now).to_rfc3339());
    config
        .plans
        .iter()
        .map(|(name, plan)| PlanView {
            name: name.clone(),
            repository: plan.repository.clone(),
            schedule: plan.schedule().map_or("manual".into(), |s| s.describe()),
            next_run: next(plan.schedule()),
            next_prune: next(plan.prune_schedule()),
            next_check: next(plan.check_schedule()),
        })
        .collect()
}
