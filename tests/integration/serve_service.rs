//! `cairn serve` as a real process on a loopback port, with a real
//! repository (local, or SeaweedFS under `CAIRN_TEST_BACKEND=s3`):
//! schedules, the job history, SIGTERM, SIGKILL and restart, SIGHUP.

use crate::serve_util::{
    get_auth, job_log, jobs, serve_cmd, snapshot_ids, token, wait_for, Job, ServeConfig, Service,
};
use crate::util::{random_bytes, write, Env};

/// A plan backing up `data` into `main`.
fn plan(name: &str, data: &std::path::Path, extra: &str) -> String {
    format!(
        "[plans.{name}]\nrepository = \"main\"\npaths = [{data:?}]\ntags = [\"scheduled\"]\n{extra}\n\n",
        data = data.display().to_string()
    )
}

fn succeeded<'a>(all: &'a [Job], plan: &str) -> Vec<&'a Job> {
    all.iter()
        .filter(|j| j.plan.as_deref() == Some(plan) && j.status == "succeeded")
        .collect()
}

#[test]
fn serve_a_plan_every_2s_runs_on_schedule_and_records_its_jobs() {
    let env = Env::new();
    let data = env.path("data");
    write(&data.join("a.txt"), b"hello service");
    write(&data.join("sub/b.bin"), &random_bytes(1, 300_000));
    let cfg = ServeConfig::new(&env, "");
    cfg.write(&plan("files", &data, "every = \"2s\"\nkeep_last = 10"));
    let mut svc = Service::start(&env, &cfg);
    let done = wait_for("two scheduled backups", || {
        let all = jobs(&cfg.state_dir);
        let ok: Vec<Job> = succeeded(&all, "files").into_iter().cloned().collect();
        (ok.len() >= 2).then_some(ok)
    });
    for j in &done {
        assert_eq!(
            (j.kind.as_str(), j.trigger.as_str()),
            ("backup", "schedule")
        );
        assert_eq!(j.files, Some(2), "{j:?}");
        assert!(j.started_at.is_some());
        assert!(j.error.is_none());
    }
    assert!(done[0].bytes_read.unwrap() >= 300_000, "{:?}", done[0]);
    let ids = snapshot_ids(&env);
    for j in &done {
        let id = j.snapshot_id.as_ref().expect("a snapshot id");
        assert!(ids.contains(id), "{id} not in {ids:?}");
    }
    assert!(job_log(&cfg.state_dir, done[0].id)
        .iter()
        .any(|l| l.starts_with("snapshot ")));
    // The API shows the same history.
    let token = token(&env, &cfg, &["read"]);
    let path = format!("/api/v1/jobs/{}", done[0].id);
    let (code, body) = get_auth(cfg.port, &path, Some(&token)).unwrap();
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "succeeded");
    assert_eq!(v["trigger"], "schedule");
    assert_eq!(v["snapshot_id"].as_str(), done[0].snapshot_id.as_deref());
    assert_eq!(v["files"], 2);
    svc.signal(libc::SIGTERM);
    assert_eq!(svc.wait_exit().code(), Some(0), "{}", svc.log());
}

#[test]
fn serve_refuses_a_bad_configuration_at_start_with_file_and_line() {
    let env = Env::new();
    let cfg = ServeConfig::new(&env, "");
    cfg.write("[plans.x]\nrepository = \"main\"\npaths = [\"/tmp\"]\nbogus_key = 1\n");
    let out = serve_cmd(&env, &cfg).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let at = format!("{}:", cfg.path.display());
    assert!(stderr.contains(&at), "{stderr}");
    assert!(stderr.contains("bogus_key"), "{stderr}");
}

/// SIGTERM while a backup runs and the grace period is short: the job is
/// stopped at a safe point and recorded `cancelled`, the process exits 0,
/// and the repository checks clean with no snapshot from that job.
#[test]
fn serve_sigterm_stops_a_running_job_cleanly_and_records_it_cancelled() {
    let env = Env::new();
    let data = env.path("data");
    write(&data.join("big.bin"), &random_bytes(7, 64 << 20));
    let cfg = ServeConfig::new(&env, "shutdown_grace = \"1s\"");
    // The before-hook keeps the job running until the test has signalled.
    let hook = "hook_before = \"sleep 60\"\nevery = \"1s\"";
    cfg.write(&plan("big", &data, hook));
    let mut svc = Service::start(&env, &cfg);
    let running = wait_for("a running backup", || {
        jobs(&cfg.state_dir)
            .into_iter()
            .find(|j| j.status == "running")
    });
    svc.signal(libc::SIGTERM);
    assert_eq!(svc.wait_exit().code(), Some(0), "{}", svc.log());
    let all = jobs(&cfg.state_dir);
    let j = all.iter().find(|j| j.id == running.id).unwrap();
    assert_eq!(j.status, "cancelled", "{j:?}");
    assert!(j.snapshot_id.is_none());
    assert!(
        all.iter()
            .all(|j| j.status != "running" && j.status != "queued"),
        "{all:?}"
    );
    assert!(snapshot_ids(&env).is_empty());
    env.ok(&["check"]);
}

/// SIGTERM in the middle of a large backup: whatever the moment, the
/// history tells the truth (a `succeeded` job's snapshot exists, a
/// `cancelled` one left none) and the repository checks clean.
#[test]
fn serve_sigterm_during_a_large_backup_leaves_a_clean_repository_and_a_true_history() {
    let env = Env::new();
    let data = env.path("data");
    for i in 0..4 {
        write(&data.join(format!("f{i}.bin")), &random_bytes(i, 24 << 20));
    }
    let cfg = ServeConfig::new(&env, "shutdown_grace = \"1s\"");
    cfg.write(&plan("big", &data, "every = \"1s\""));
    let mut svc = Service::start(&env, &cfg);
    let running = wait_for("a running backup", || {
        jobs(&cfg.state_dir)
            .into_iter()
            .find(|j| j.status == "running")
    });
    svc.signal(libc::SIGTERM);
    assert_eq!(svc.wait_exit().code(), Some(0), "{}", svc.log());
    let j = jobs(&cfg.state_dir)
        .into_iter()
        .find(|j| j.id == running.id)
        .unwrap();
    let ids = snapshot_ids(&env);
    match j.status.as_str() {
        "cancelled" => assert!(ids.is_empty() && j.snapshot_id.is_none(), "{j:?} {ids:?}"),
        "succeeded" => assert_eq!(Some(&ids[0]), j.snapshot_id.as_ref()),
        other => panic!("job ended {other}: {j:?}"),
    }
    env.ok(&["check"]);
}

/// SIGTERM with a long grace period lets the running backup finish.
#[test]
fn serve_sigterm_lets_a_running_backup_finish_within_the_grace_period() {
    let env = Env::new();
    let data = env.path("data");
    write(&data.join("f.bin"), &random_bytes(3, 1 << 20));
    let cfg = ServeConfig::new(&env, "shutdown_grace = \"10m\"");
    let marker = env.path("hook-started");
    let gate = env.path("gate");
    // The hook waits for the test's signal to have been sent.
    let hook = format!(
        "hook_before = \"touch {m}; while [ ! -e {g} ]; do sleep 0.05; done\"\nevery = \"1s\"",
        m = marker.display(),
        g = gate.display()
    );
    cfg.write(&plan("p", &data, &hook));
    let mut svc = Service::start(&env, &cfg);
    wait_for("the hook to run", || marker.exists().then_some(()));
    svc.signal(libc::SIGTERM);
    wait_for("the service to log that it stops", || {
        svc.log().contains("stopping").then_some(())
    });
    std::fs::write(&gate, b"").unwrap();
    assert_eq!(svc.wait_exit().code(), Some(0), "{}", svc.log());
    let all = jobs(&cfg.state_dir);
    let ok = succeeded(&all, "p");
    assert_eq!(ok.len(), 1, "{all:?}");
    assert_eq!(snapshot_ids(&env), [ok[0].snapshot_id.clone().unwrap()]);
}

/// `kill -9` during a job: the next start marks it failed, and
/// `run_missed` runs the missed backup at once.
#[test]
fn serve_sigkill_then_restart_marks_the_lost_job_failed_and_catches_up() {
    let env = Env::new();
    let data = env.path("data");
    write(&data.join("a.txt"), b"state");
    let cfg = ServeConfig::new(&env, "");
    let hook = "hook_before = \"sleep 60\"\nevery = \"2s\"\nrun_missed = true";
    cfg.write(&plan("p", &data, hook));
    let mut svc = Service::start(&env, &cfg);
    let lost = wait_for("a running backup", || {
        jobs(&cfg.state_dir)
            .into_iter()
            .find(|j| j.status == "running")
    });
    svc.signal(libc::SIGKILL);
    svc.wait_exit();
    drop(svc);
    assert_eq!(
        jobs(&cfg.state_dir)
            .iter()
            .find(|j| j.id == lost.id)
            .unwrap()
            .status,
        "running"
    );
    cfg.write(&plan("p", &data, "every = \"1h\"\nrun_missed = true"));
    let mut svc = Service::start(&env, &cfg);
    let all = jobs(&cfg.state_dir);
    let j = all.iter().find(|j| j.id == lost.id).unwrap();
    assert_eq!(j.status, "failed", "{j:?}");
    assert_eq!(j.error.as_deref(), Some("the service stopped while it ran"));
    let missed = wait_for("the missed backup", || {
        jobs(&cfg.state_dir)
            .into_iter()
            .find(|j| j.trigger == "missed" && j.status == "succeeded")
    });
    assert_eq!(snapshot_ids(&env), [missed.snapshot_id.unwrap()]);
    svc.signal(libc::SIGTERM);
    assert_eq!(svc.wait_exit().code(), Some(0), "{}", svc.log());
}

/// SIGHUP with a broken file keeps the running configuration (its plan
/// still runs); with a good one, a new plan starts running.
#[test]
fn serve_sighup_keeps_the_old_config_when_the_new_one_is_broken_and_takes_a_good_one() {
    let env = Env::new();
    let data = env.path("data");
    write(&data.join("a.txt"), b"state");
    let cfg = ServeConfig::new(&env, "");
    cfg.write(&plan("a", &data, "every = \"1s\""));
    let mut svc = Service::start(&env, &cfg);
    wait_for("a backup of plan a", || {
        (!succeeded(&jobs(&cfg.state_dir), "a").is_empty()).then_some(())
    });
    cfg.write_raw("[server\nlisten = ");
    svc.signal(libc::SIGHUP);
    wait_for("the refused reload in the log", || {
        svc.log().contains("NOT reloaded").then_some(())
    });
    let at = format!("{}:", cfg.path.display());
    assert!(svc.log().contains(&at), "{}", svc.log());
    let before = succeeded(&jobs(&cfg.state_dir), "a").len();
    wait_for("plan a to run again after the refused reload", || {
        (succeeded(&jobs(&cfg.state_dir), "a").len() > before).then_some(())
    });
    assert!(svc.health());
    let both = plan("a", &data, "every = \"1s\"") + &plan("b", &data, "every = \"1s\"");
    cfg.write(&both);
    svc.signal(libc::SIGHUP);
    wait_for("a backup of the new plan b", || {
        (!succeeded(&jobs(&cfg.state_dir), "b").is_empty()).then_some(())
    });
    svc.signal(libc::SIGTERM);
    assert_eq!(svc.wait_exit().code(), Some(0), "{}", svc.log());
}

/// A plan's check and prune schedules run as jobs of their own.
#[test]
fn serve_check_and_prune_schedules_run_their_jobs() {
    let env = Env::new();
    let data = env.path("data");
    write(&data.join("a.bin"), &random_bytes(5, 200_000));
    let cfg = ServeConfig::new(&env, "");
    let extra = "every = \"1s\"\nkeep_last = 2\ncheck_every = \"1s\"\n\
                 check_read_data_subset = \"100%\"\nprune_every = \"2s\"";
    cfg.write(&plan("p", &data, extra));
    let mut svc = Service::start(&env, &cfg);
    let (check, prune) = wait_for("scheduled check and prune jobs", || {
        let all = jobs(&cfg.state_dir);
        let ok = |kind: &str| {
            all.iter()
                .rev()
                .find(|j| j.kind == kind && j.status == "succeeded" && j.trigger == "schedule")
                .cloned()
        };
        // A check after the first backup reads its data.
        let check = ok("check").filter(|c| c.bytes_read.unwrap_or(0) > 0)?;
        Some((check, ok("prune")?))
    });
    assert!(check.files.is_none(), "{check:?}");
    assert!(job_log(&cfg.state_dir, prune.id)
        .iter()
        .any(|l| l.starts_with("prune: ")));
    svc.signal(libc::SIGTERM);
    assert_eq!(svc.wait_exit().code(), Some(0), "{}", svc.log());
    env.ok(&["check"]);
}

/// A loopback HTTP server that answers 200 and hands over each request's
/// first line and body.
fn receiver() -> (u16, std::sync::mpsc::Receiver<(String, String)>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let mut first = String::new();
            r.read_line(&mut first).unwrap();
            let mut len = 0;
            loop {
                let mut h = String::new();
                r.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = tx.send((
                first.trim().to_string(),
                String::from_utf8_lossy(&body).into(),
            ));
        }
    });
    (port, rx)
}

/// A scheduled job's end is announced: the webhook gets the job record,
/// healthchecks get their start and success pings.
#[test]
fn serve_announces_a_scheduled_job_to_the_webhook_and_healthchecks() {
    let env = Env::new();
    let data = env.path("data");
    write(&data.join("a.txt"), b"state");
    let (port, rx) = receiver();
    let cfg = ServeConfig::new(&env, "");
    let notify = format!(
        "every = \"1s\"\n[plans.p.notify]\nwebhook = \"http://127.0.0.1:{port}/hook\"\n\
         healthchecks = \"http://127.0.0.1:{port}/hc\""
    );
    cfg.write(&plan("p", &data, &notify));
    let mut svc = Service::start(&env, &cfg);
    let mut seen: Vec<(String, String)> = Vec::new();
    let end = std::time::Instant::now() + crate::serve_util::DEADLINE;
    while !seen.iter().any(|(l, _)| l.starts_with("POST /hook")) {
        let left = end.saturating_duration_since(std::time::Instant::now());
        let got = rx
            .recv_timeout(left)
            .expect("announcements before the deadline");
        seen.push(got);
    }
    let (_, body) = seen
        .iter()
        .find(|(l, _)| l.starts_with("POST /hook"))
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["event"], "success", "{v}");
    assert_eq!(v["plan"], "p");
    assert!(v["snapshot_id"].is_string(), "{v}");
    assert!(
        seen.iter().any(|(l, _)| l.starts_with("POST /hc/start")),
        "{seen:?}"
    );
    svc.signal(libc::SIGTERM);
    assert_eq!(svc.wait_exit().code(), Some(0), "{}", svc.log());
}
