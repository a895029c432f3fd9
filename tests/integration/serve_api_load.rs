//! The API under use: the live event stream shows a job's status changes,
//! and 50 clients polling the jobs while a backup runs all get answers.
//! The backup's duration with and without the pollers is printed (no
//! timed assertion: the benchmark report carries the ratio). Each client
//! polls every `CAIRN_POLL_MS` milliseconds (default 50; 0: as fast as it
//! can, which on a small machine measures the clients' own CPU more than
//! the service).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::serve_api_util::Serve;

#[test]
fn serve_api_events_stream_a_jobs_status_changes() {
    let mut s = Serve::new("");
    let token = s.token("ci", &["backup"]);
    s.start();
    let mut conn = TcpStream::connect(&s.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    write!(
        conn,
        "GET /api/v1/jobs/events HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\r\n",
        s.addr
    )
    .unwrap();
    let mut lines = BufReader::new(conn.try_clone().unwrap()).lines();
    let status = lines.next().unwrap().unwrap();
    assert!(status.contains(" 200 "), "{status}");
    // The stream is subscribed once its headers arrived.
    while !lines.next().unwrap().unwrap().is_empty() {}
    let (st, v) = s.post("/api/v1/plans/files/run", Some(&token), "{}");
    assert_eq!(st, 202);
    let job = v["job"].as_i64().unwrap();
    let mut seen = Vec::new();
    for line in lines {
        let line = line.expect("the event stream ends only with the test");
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        let ev: serde_json::Value = serde_json::from_str(data).unwrap();
        if ev["event"] == "status" && ev["job"] == job {
            seen.push(ev["status"].as_str().unwrap().to_string());
            if seen
                .last()
                .is_some_and(|s| s == "succeeded" || s == "failed")
            {
                break;
            }
        }
    }
    assert_eq!(seen, ["queued", "running", "succeeded"]);
}

/// The API's stream ends once its token is revoked (checked every couple
/// of seconds), as the dashboard's does when its session ends.
#[test]
fn serve_api_event_stream_ends_when_its_token_is_revoked() {
    let mut s = Serve::new("");
    let token = s.token("watcher", &["read"]);
    s.start();
    let mut conn = TcpStream::connect(&s.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        conn,
        "GET /api/v1/jobs/events HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
         Connection: close\r\n\r\n",
        s.addr
    )
    .unwrap();
    let mut lines = BufReader::new(conn.try_clone().unwrap()).lines();
    let status = lines.next().unwrap().unwrap();
    assert!(status.contains(" 200 "), "{status}");
    while !lines.next().unwrap().unwrap().is_empty() {}
    assert!(s.run(&["token", "revoke", "watcher"]).status.success());
    // The server ends the response and, as asked, closes the connection;
    // a read timing out means the stream outlived the token.
    for line in lines {
        match line {
            Ok(_) => continue,
            Err(e) => panic!("the event stream outlived its revoked token: {e}"),
        }
    }
}

/// Fresh random files (so each backup reads and stores all of them).
fn fill(s: &Serve, seed: u64) {
    let dir = s.data.join("big");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..32 {
        let bytes = crate::util::random_bytes(seed * 100 + i, 4 << 20);
        std::fs::write(dir.join(format!("f{i}")), bytes).unwrap();
    }
}

fn seconds(job: &serde_json::Value) -> f64 {
    let t = |k: &str| chrono::DateTime::parse_from_rfc3339(job[k].as_str().unwrap()).unwrap();
    (t("finished_at") - t("started_at")).num_milliseconds() as f64 / 1000.0
}

#[test]
fn serve_api_fifty_pollers_during_a_backup_all_get_answers() {
    let mut s = Serve::new("");
    let token = s.token("ci", &["backup"]);
    s.start();
    fill(&s, 1);
    let alone = seconds(&s.backup(&token));

    fill(&s, 2);
    let (st, v) = s.post("/api/v1/plans/files/run", Some(&token), "{}");
    assert_eq!(st, 202);
    let job = v["job"].as_i64().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(AtomicU64::new(0));
    let pause: u64 = std::env::var("CAIRN_POLL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let s = Arc::new(s);
    let pollers: Vec<_> = (0..50)
        .map(|_| {
            let (s, token, done, answers) =
                (s.clone(), token.clone(), done.clone(), answers.clone());
            std::thread::spawn(move || {
                let agent = s.agent();
                while !done.load(Ordering::Relaxed) {
                    for path in ["/api/v1/jobs".to_string(), format!("/api/v1/jobs/{job}")] {
                        let (st, body) = s.get_with(&agent, &path, Some(&token)).expect("GET");
                        assert_eq!(st, 200, "{path}: {}", String::from_utf8_lossy(&body));
                        answers.fetch_add(1, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(pause));
                }
            })
        })
        .collect();
    let record = s.wait_job(job, &token);
    done.store(true, Ordering::Relaxed);
    for p in pollers {
        p.join().expect("a poller got an error");
    }
    assert_eq!(record["status"], "succeeded", "{record}");
    let polled = seconds(&record);
    println!(
        "backup of 128 MiB through the service: {alone:.2} s alone, {polled:.2} s with 50 pollers \
         every {pause} ms ({} answers; ratio {:.2})",
        answers.load(Ordering::Relaxed),
        polled / alone.max(0.001)
    );
    assert!(
        answers.load(Ordering::Relaxed) >= 100,
        "the pollers were answered"
    );
}
