//! The queue's rule, and each kind of job run by the real runner against a
//! real local repository (no HTTP: that is the API's tests).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn::crypto::KdfParams;
use cairn::repo::{InitOptions, OpenOptions, Repository};
use cairn::storage::local::LocalStorage;

use super::*;
use crate::serve::model::{CheckRequest, JobRecord, RestoreRequest, Trigger};

fn req(kind: JobKind, repo: &str) -> JobRequest {
    JobRequest {
        kind,
        plan: Some("p".into()),
        repository: repo.into(),
        trigger: Trigger::Api,
        tags: vec![],
        restore: None,
        check: None,
    }
}

fn running(repo: &str) -> Running {
    Running {
        req: req(JobKind::Backup, repo),
        cancel: Arc::default(),
    }
}

#[test]
fn a_job_waits_while_its_repository_is_busy_and_others_pass_it() {
    let mut st = State::default();
    st.queue.push_back((1, req(JobKind::Backup, "a")));
    st.queue.push_back((2, req(JobKind::Check, "b")));
    assert_eq!(next_to_start(&st, 2), Some(0));
    st.running.insert(9, running("a"));
    // Job 1 waits for repository a; job 2 (repository b) starts.
    assert_eq!(next_to_start(&st, 2), Some(1));
    st.running.insert(8, running("c"));
    // Two run: no slot, whatever the repositories.
    assert_eq!(next_to_start(&st, 2), None);
    assert_eq!(next_to_start(&st, 3), Some(1));
    st.queue.remove(1);
    assert_eq!(next_to_start(&st, 3), None);
}

/// A service over a fresh local repository with plan `p` backing up `data`.
fn service(dir: &Path, plan_extra: &str) -> Arc<Service> {
    let repo = dir.join("repo");
    let storage = Arc::new(LocalStorage::create(repo.clone()).unwrap());
    let init = InitOptions {
        kdf: Some(KdfParams::insecure_for_tests()),
        ..Default::default()
    };
    let open = OpenOptions {
        cache_dir: Some(dir.join("cache")),
        ..Default::default()
    };
    Repository::init(storage, b"pw", init, open).unwrap();
    std::fs::write(dir.join("pass"), "pw\n").unwrap();
    let text = format!(
        "[server]\nstate_dir = {state:?}\ncache_dir = {cache:?}\n\
         [repositories.main]\nlocation = {repo:?}\npassword_file = {pass:?}\n\
         [plans.p]\nrepository = \"main\"\npaths = [{data:?}]\nkeep_last = 1\n{plan_extra}\n",
        state = dir.join("state"),
        cache = dir.join("cache"),
        pass = dir.join("pass"),
        data = dir.join("data"),
    );
    let config = toml::from_str(&text).unwrap();
    let svc = Arc::new(crate::serve::process::service(&dir.join("c.toml"), config).unwrap());
    Jobs::start(&svc);
    svc
}

/// Submits and waits for the job's end; its record.
fn run(svc: &Service, r: JobRequest) -> JobRecord {
    let id = svc.jobs.submit(r).unwrap();
    wait_final(svc, id)
}

fn wait_final(svc: &Service, id: JobId) -> JobRecord {
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        let rec = svc.history.get(id).unwrap().unwrap();
        if !matches!(rec.status, JobStatus::Queued | JobStatus::Running) {
            return rec;
        }
        assert!(Instant::now() < end, "job {id} did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn backup_forget_restore_check_cleanup_and_test_jobs_run_through_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("data")).unwrap();
    std::fs::write(d.join("data/f.txt"), b"first").unwrap();
    let svc = service(d, "");
    let mut b = req(JobKind::Backup, "main");
    b.tags = vec!["manual".into()];
    let first = run(&svc, b.clone());
    assert_eq!(first.status, JobStatus::Succeeded, "{first:?}");
    assert_eq!(first.figures.files, Some(1));
    std::fs::write(d.join("data/f.txt"), b"second version").unwrap();
    let second = run(&svc, b);
    assert_eq!(second.status, JobStatus::Succeeded, "{second:?}");
    // keep_last = 1: the first snapshot was forgotten after the second backup.
    let repo = svc.repository("main").unwrap();
    let snaps = repo.snapshots(&Default::default()).unwrap();
    assert_eq!(snaps.len(), 1);
    assert_eq!(Some(snaps[0].id.to_string()), second.figures.snapshot_id);
    assert!(snaps[0].snapshot.tags.contains(&"manual".to_string()));
    let log = svc.history.log(second.id).unwrap();
    assert!(log.iter().any(|(_, l)| l.contains("1 removed")), "{log:?}");

    let mut r = req(JobKind::Restore, "main");
    r.restore = Some(RestoreRequest {
        snapshot: "latest".into(),
        include: vec![],
        target: Some(d.join("target")),
        in_place: false,
    });
    let restored = run(&svc, r);
    assert_eq!(restored.status, JobStatus::Succeeded, "{restored:?}");
    let back = d
        .join("target")
        .join(d.join("data/f.txt").strip_prefix("/").unwrap());
    assert_eq!(std::fs::read(back).unwrap(), b"second version");

    let mut c = req(JobKind::Check, "main");
    c.check = Some(CheckRequest {
        read_data_subset: Some("100%".into()),
        audit_budget: None,
    });
    let checked = run(&svc, c);
    assert_eq!(checked.status, JobStatus::Succeeded, "{checked:?}");
    assert!(checked.figures.bytes_read.unwrap() > 0);
    for kind in [JobKind::Cleanup, JobKind::Prune, JobKind::Test] {
        let rec = run(&svc, req(kind, "main"));
        assert_eq!(rec.status, JobStatus::Succeeded, "{rec:?}");
        assert!(rec.figures.requests_class_a.is_some(), "{rec:?}");
    }
}

#[test]
fn in_place_restore_puts_the_snapshot_back_with_a_safety_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("data")).unwrap();
    std::fs::write(d.join("data/f.txt"), b"good").unwrap();
    let svc = service(d, "");
    let b = run(&svc, req(JobKind::Backup, "main"));
    assert_eq!(b.status, JobStatus::Succeeded);
    std::fs::write(d.join("data/f.txt"), b"damaged by a bad deploy").unwrap();
    let mut r = req(JobKind::Restore, "main");
    r.restore = Some(RestoreRequest {
        snapshot: b.figures.snapshot_id.clone().unwrap(),
        include: vec![],
        target: None,
        in_place: true,
    });
    let rec = run(&svc, r);
    assert_eq!(rec.status, JobStatus::Succeeded, "{rec:?}");
    assert_eq!(std::fs::read(d.join("data/f.txt")).unwrap(), b"good");
    let log = svc.history.log(rec.id).unwrap();
    assert!(
        log.iter().any(|(_, l)| l.starts_with("safety snapshot")),
        "{log:?}"
    );
}

#[test]
fn failures_and_cancellations_are_recorded_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("data")).unwrap();
    let svc = service(d, "hook_before = \"sleep 60\"");
    // A repository the configuration does not name.
    let bad = run(&svc, req(JobKind::Prune, "nowhere"));
    assert_eq!(bad.status, JobStatus::Failed);
    assert!(bad.error.unwrap().contains("nowhere"));
    // A backup held in its before-hook, and a check of the same
    // repository queued behind it.
    let slow = svc.jobs.submit(req(JobKind::Backup, "main")).unwrap();
    let queued = svc.jobs.submit(req(JobKind::Check, "main")).unwrap();
    let end = Instant::now() + Duration::from_secs(60);
    while svc.history.get(slow).unwrap().unwrap().status != JobStatus::Running {
        assert!(Instant::now() < end);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(svc.jobs.active("p", JobKind::Backup), Some(slow));
    let rec = svc.history.get(queued).unwrap().unwrap();
    assert_eq!(rec.status, JobStatus::Queued, "one job per repository");
    assert!(svc.jobs.cancel(queued).unwrap());
    assert_eq!(wait_final(&svc, queued).status, JobStatus::Cancelled);
    assert!(svc.jobs.cancel(slow).unwrap());
    let rec = wait_final(&svc, slow);
    assert_eq!(rec.status, JobStatus::Cancelled, "{rec:?}");
    assert!(!svc.jobs.cancel(slow).unwrap());
    svc.jobs.close();
    let refused = svc.jobs.submit(req(JobKind::Test, "main")).unwrap_err();
    assert_eq!(refused.kind(), cairn::ErrorKind::Interrupted);
}
