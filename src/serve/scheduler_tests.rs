//! The scheduler's decisions at a given "now" (the clock is a parameter).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::serve::model::JobFigures;

fn service(dir: &std::path::Path, plan: &str) -> Arc<Service> {
    let text = format!(
        "[server]\nstate_dir = {state:?}\n[repositories.main]\nlocation = \"/nonexistent\"\n\
         password_file = \"/nonexistent\"\n[plans.p]\nrepository = \"main\"\npaths = [\"/x\"]\n{plan}\n",
        state = dir.join("state"),
    );
    let config = toml::from_str(&text).unwrap();
    Arc::new(crate::serve::process::service(&dir.join("c.toml"), config).unwrap())
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A finished backup of plan `p` that started at `started`.
fn past_run(svc: &Service, started: &str, status: JobStatus) {
    let req = JobRequest {
        kind: JobKind::Backup,
        plan: Some("p".into()),
        repository: "main".into(),
        trigger: Trigger::Schedule,
        tags: vec![],
        restore: None,
        check: None,
    };
    let id = svc.history.insert(&req).unwrap();
    svc.history.set_running(id).unwrap();
    svc.history.set_started_at(id, started);
    svc.history
        .finish(id, status, &JobFigures::default(), None)
        .unwrap();
}

fn missed_jobs(svc: &Service) -> usize {
    let f = crate::serve::model::JobFilter::default();
    let all = svc.history.list(&f).unwrap();
    all.iter().filter(|j| j.trigger == Trigger::Missed).count()
}

#[test]
fn every_schedule_of_a_plan_becomes_an_entry_due_after_now() {
    let dir = tempfile::tempdir().unwrap();
    let plan = "cron = \"0 3 * * *\"\ntimezone = \"Europe/Berlin\"\ncheck_every = \"6h\"";
    let svc = service(dir.path(), plan);
    let now = at("2026-01-10T12:00:00Z");
    let e = entries(&svc, now);
    let kinds: Vec<_> = e.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [JobKind::Backup, JobKind::Check]);
    // 03:00 in Berlin is 02:00 UTC in winter.
    assert_eq!(e[0].next, at("2026-01-11T02:00:00Z"));
    assert!(e[1].next > now && e[1].next <= now + Duration::hours(6));
}

#[test]
fn run_missed_catches_up_only_when_a_due_time_passed_since_the_last_run() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path(), "every = \"1h\"\nrun_missed = true");
    let last = "2026-01-10T12:10:00.000Z";
    past_run(&svc, last, JobStatus::Succeeded);
    let e = entries(&svc, at(last));
    // 20 minutes later nothing was due yet.
    catch_up(&svc, &e, at(last) + Duration::minutes(20)).unwrap();
    assert_eq!(missed_jobs(&svc), 0);
    // Three hours later the 13:00 run was missed: one job, not three.
    catch_up(&svc, &e, at(last) + Duration::hours(3)).unwrap();
    assert_eq!(missed_jobs(&svc), 1);
    // Already queued: not queued twice.
    catch_up(&svc, &e, at(last) + Duration::hours(3)).unwrap();
    assert_eq!(missed_jobs(&svc), 1);
}

#[test]
fn without_run_missed_or_any_past_run_nothing_is_caught_up() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path(), "every = \"1h\"\nrun_missed = true");
    let now = at("2026-01-10T12:10:00Z");
    let e = entries(&svc, now);
    catch_up(&svc, &e, now + Duration::hours(5)).unwrap();
    assert_eq!(missed_jobs(&svc), 0, "a plan that never ran missed nothing");
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path(), "every = \"1h\"");
    past_run(&svc, "2026-01-10T12:10:00.000Z", JobStatus::Succeeded);
    let e = entries(&svc, now);
    catch_up(&svc, &e, now + Duration::hours(5)).unwrap();
    assert_eq!(missed_jobs(&svc), 0, "run_missed is off");
}
