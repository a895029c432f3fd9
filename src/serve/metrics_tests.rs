//! Render, parse the text back, check the values.

use std::collections::HashMap;

use super::*;
use crate::serve::model::{JobFigures, Trigger};

/// `name{labels}` -> value, from the exposition text (comments skipped);
/// also checks the OpenMetrics end marker.
fn parse(text: &str) -> HashMap<String, f64> {
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("series value");
            (series.to_string(), value.parse::<f64>().expect(value))
        })
        .collect()
}

fn job(id: i64, kind: JobKind, status: JobStatus, end: &str) -> JobRecord {
    JobRecord {
        id,
        kind,
        plan: Some("databases".into()),
        repository: "main".into(),
        trigger: Trigger::Schedule,
        status,
        queued_at: "2026-05-01T03:00:00Z".into(),
        started_at: Some("2026-05-01T03:00:00Z".into()),
        finished_at: Some(end.into()),
        figures: JobFigures {
            files: Some(120),
            bytes_added: Some(5000),
            requests_class_a: Some(7),
            requests_class_b: Some(3),
            ..JobFigures::default()
        },
        error: None,
    }
}

#[test]
fn rendered_metrics_parse_back_to_the_recorded_values() {
    let m = Metrics::new();
    let ok = job(
        1,
        JobKind::Backup,
        JobStatus::Succeeded,
        "2026-05-01T03:01:30Z",
    );
    m.job_finished(&ok);
    let mut failed = job(
        2,
        JobKind::Backup,
        JobStatus::Failed,
        "2026-05-02T03:00:12.5Z",
    );
    failed.figures.bytes_added = Some(1);
    failed.started_at = Some("2026-05-02T03:00:00Z".into());
    m.job_finished(&failed);
    m.job_finished(&job(
        3,
        JobKind::Check,
        JobStatus::Succeeded,
        "2026-05-02T04:00:00Z",
    ));
    m.snapshots_kept("databases", 9);
    m.repository_stats(
        "main",
        &RepositoryFigures {
            size_bytes: 1 << 30,
            blobs: 4000,
            packs: 70,
            snapshots: 9,
            last_check_age_secs: Some(3600.0),
            audit_coverage: Some(0.25),
        },
    );
    let v = parse(&m.render());
    let get = |k: &str| *v.get(k).unwrap_or_else(|| panic!("no {k} in {v:#?}"));
    let plan = "{plan=\"databases\"}";
    // The last success stays the first job's; the last run is the failure.
    assert_eq!(
        get(&format!("cairn_plan_last_success_timestamp_seconds{plan}")),
        1_777_604_490.0
    );
    assert_eq!(get(&format!("cairn_plan_last_run_success{plan}")), 0.0);
    assert_eq!(
        get(&format!("cairn_plan_last_run_duration_seconds{plan}")),
        12.5
    );
    assert_eq!(get(&format!("cairn_plan_last_bytes_added{plan}")), 5000.0);
    assert_eq!(get(&format!("cairn_plan_last_files{plan}")), 120.0);
    assert_eq!(get(&format!("cairn_plan_snapshots_kept{plan}")), 9.0);
    let repo = "{repository=\"main\"}";
    assert_eq!(
        get(&format!("cairn_repository_size_bytes{repo}")),
        1_073_741_824.0
    );
    assert_eq!(get(&format!("cairn_repository_blobs{repo}")), 4000.0);
    assert_eq!(get(&format!("cairn_repository_packs{repo}")), 70.0);
    assert_eq!(get(&format!("cairn_repository_snapshots{repo}")), 9.0);
    assert_eq!(
        get(&format!("cairn_repository_last_check_age_seconds{repo}")),
        3600.0
    );
    assert_eq!(
        get(&format!("cairn_repository_audit_coverage_ratio{repo}")),
        0.25
    );
    assert_eq!(
        get("cairn_jobs_total{kind=\"backup\",status=\"succeeded\"}"),
        1.0
    );
    assert_eq!(
        get("cairn_jobs_total{kind=\"backup\",status=\"failed\"}"),
        1.0
    );
    assert_eq!(
        get("cairn_jobs_total{kind=\"check\",status=\"succeeded\"}"),
        1.0
    );
    assert_eq!(
        get("cairn_backend_requests_total{repository=\"main\",class=\"a\"}"),
        21.0
    );
    assert_eq!(
        get("cairn_backend_requests_total{repository=\"main\",class=\"b\"}"),
        9.0
    );
}
