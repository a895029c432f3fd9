use super::*;

fn req(plan: &str, kind: JobKind) -> JobRequest {
    JobRequest {
        kind,
        plan: Some(plan.into()),
        repository: "main".into(),
        trigger: Trigger::Schedule,
        tags: vec![],
        restore: None,
        check: None,
    }
}

#[test]
fn a_job_goes_from_queued_to_succeeded_with_its_figures_and_log() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open(dir.path()).unwrap();
    let id = h.insert(&req("db", JobKind::Backup)).unwrap();
    assert_eq!(h.get(id).unwrap().unwrap().status, JobStatus::Queued);
    h.set_running(id).unwrap();
    h.append_log(id, "first").unwrap();
    h.append_log(id, "second").unwrap();
    let f = JobFigures {
        snapshot_id: Some("abc".into()),
        files: Some(3),
        bytes_added: Some(1 << 40),
        requests_class_a: Some(7),
        ..JobFigures::default()
    };
    h.finish(id, JobStatus::Succeeded, &f, None).unwrap();
    let r = h.get(id).unwrap().unwrap();
    assert_eq!(r.status, JobStatus::Succeeded);
    assert_eq!(r.figures.snapshot_id.as_deref(), Some("abc"));
    assert_eq!(r.figures.files, Some(3));
    assert_eq!(r.figures.bytes_added, Some(1 << 40));
    assert_eq!(r.figures.requests_class_a, Some(7));
    assert!(r.started_at.is_some() && r.finished_at.is_some());
    let lines: Vec<_> = h.log(id).unwrap().into_iter().map(|l| l.1).collect();
    assert_eq!(lines, ["first", "second"]);
}

#[test]
fn jobs_a_killed_process_left_are_failed_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open(dir.path()).unwrap();
    let running = h.insert(&req("db", JobKind::Backup)).unwrap();
    h.set_running(running).unwrap();
    let queued = h.insert(&req("db", JobKind::Check)).unwrap();
    let done = h.insert(&req("db", JobKind::Test)).unwrap();
    h.finish(done, JobStatus::Succeeded, &JobFigures::default(), None)
        .unwrap();
    // A killed process closes nothing and finishes nothing.
    std::mem::forget(h);
    let h = History::open(dir.path()).unwrap();
    for id in [running, queued] {
        let r = h.get(id).unwrap().unwrap();
        assert_eq!(r.status, JobStatus::Failed, "job {id}");
        assert_eq!(r.error.as_deref(), Some(STOPPED_WHILE_RUNNING));
        assert!(r.finished_at.is_some());
    }
    assert_eq!(h.get(done).unwrap().unwrap().status, JobStatus::Succeeded);
}

#[test]
fn listing_filters_and_pages_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open(dir.path()).unwrap();
    let ids: Vec<_> = (0..5)
        .map(|i| {
            let kind = if i % 2 == 0 {
                JobKind::Backup
            } else {
                JobKind::Check
            };
            h.insert(&req(if i < 3 { "a" } else { "b" }, kind)).unwrap()
        })
        .collect();
    let all = h.list(&JobFilter::default()).unwrap();
    assert_eq!(all.iter().map(|r| r.id).collect::<Vec<_>>(), {
        let mut v = ids.clone();
        v.reverse();
        v
    });
    let f = JobFilter {
        plan: Some("a".into()),
        kind: Some(JobKind::Backup),
        ..Default::default()
    };
    let got: Vec<_> = h.list(&f).unwrap().iter().map(|r| r.id).collect();
    assert_eq!(got, [ids[2], ids[0]]);
    let page = JobFilter {
        before: Some(ids[3]),
        limit: Some(2),
        ..Default::default()
    };
    let got: Vec<_> = h.list(&page).unwrap().iter().map(|r| r.id).collect();
    assert_eq!(got, [ids[2], ids[1]]);
    assert_eq!(
        h.last("b", JobKind::Check, None).unwrap().unwrap().id,
        ids[3]
    );
    assert!(h
        .last("b", JobKind::Check, Some(JobStatus::Succeeded))
        .unwrap()
        .is_none());
}

#[test]
fn pruning_deletes_old_finished_jobs_and_their_logs_only() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open(dir.path()).unwrap();
    let old = h.insert(&req("a", JobKind::Backup)).unwrap();
    h.append_log(old, "old line").unwrap();
    h.finish(old, JobStatus::Succeeded, &JobFigures::default(), None)
        .unwrap();
    h.conn()
        .execute(
            "UPDATE jobs SET finished_at = '2001-01-01T00:00:00.000Z' WHERE id = ?1",
            params![old],
        )
        .unwrap();
    let recent = h.insert(&req("a", JobKind::Backup)).unwrap();
    h.finish(recent, JobStatus::Failed, &JobFigures::default(), Some("x"))
        .unwrap();
    let open = h.insert(&req("a", JobKind::Backup)).unwrap();
    assert_eq!(h.prune(30).unwrap(), 1);
    assert!(h.get(old).unwrap().is_none());
    assert!(h.log(old).unwrap().is_empty());
    assert!(h.get(recent).unwrap().is_some());
    assert!(h.get(open).unwrap().is_some());
}

#[test]
fn a_history_from_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(History::open(dir.path()).unwrap());
    let c = Connection::open(dir.path().join("history.db")).unwrap();
    c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(c);
    assert!(History::open(dir.path()).is_err());
}

#[test]
fn sizes_are_recorded_per_job_newest_first_and_an_old_history_gains_the_column() {
    let dir = tempfile::tempdir().unwrap();
    {
        // A history written by schema 1 (before sizes were recorded).
        let c = Connection::open(dir.path().join("history.db")).unwrap();
        c.execute_batch(&SCHEMA.replace(",\n    repository_bytes INTEGER", ""))
            .unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
        c.execute(
            "INSERT INTO jobs (kind, repository, trigger, status, queued_at)
             VALUES ('backup', 'main', 'api', 'succeeded', '2026-01-01T00:00:00Z')",
            [],
        )
        .unwrap();
    }
    let h = History::open(dir.path()).unwrap();
    assert_eq!(h.get(1).unwrap().unwrap().figures.repository_bytes, None);
    for (snap, bytes) in [(Some("s1"), 100), (None, 60), (Some("s2"), 90)] {
        let id = h.insert(&req("db", JobKind::Backup)).unwrap();
        let f = JobFigures {
            snapshot_id: snap.map(String::from),
            repository_bytes: Some(bytes),
            ..JobFigures::default()
        };
        h.finish(id, JobStatus::Succeeded, &f, None).unwrap();
    }
    let got = h.sizes("main", 10).unwrap();
    assert_eq!(
        got,
        [
            (Some("s2".to_string()), 90),
            (None, 60),
            (Some("s1".to_string()), 100)
        ]
    );
    assert_eq!(h.sizes("main", 1).unwrap().len(), 1);
    assert!(h.sizes("other", 10).unwrap().is_empty());
}
