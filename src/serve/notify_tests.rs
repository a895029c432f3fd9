//! Notifications against a loopback HTTP server this test runs: it records
//! what arrives and answers as each test scripts it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use super::*;
use crate::serve::model::{JobFigures, JobKind, JobStatus, Trigger};

/// What the test server does with each connection, in order.
#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    /// Read the request, never answer (until the test ends).
    Hang,
    /// Answer 200 once the test opens the gate.
    Gated,
}

/// A request as received: the request line and the body.
struct Received {
    line: String,
    body: String,
}

/// Serves `answers` in order (the last repeats); returns the base URL and
/// the received requests.
fn server(answers: Vec<Answer>) -> (String, mpsc::Receiver<Received>) {
    gated_server(answers, mpsc::channel().1)
}

fn gated_server(
    answers: Vec<Answer>,
    gate: mpsc::Receiver<()>,
) -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for (i, conn) in listener.incoming().enumerate() {
            let Ok(mut conn) = conn else { return };
            let Some(req) = read_request(&mut conn) else {
                continue;
            };
            let answer = answers[i.min(answers.len() - 1)];
            if tx.send(req).is_err() {
                return;
            }
            if let Answer::Gated = answer {
                let _ = gate.recv();
            }
            match answer {
                Answer::Gated => {
                    let ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                    let _ = conn.write_all(ok.as_bytes());
                }
                Answer::Status(code) => {
                    let head = format!(
                        "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    let _ = conn.write_all(head.as_bytes());
                }
                Answer::Hang => held.push(conn),
            }
        }
    });
    (url, rx)
}

fn read_request(conn: &mut TcpStream) -> Option<Received> {
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut length = 0;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        if h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Received {
        line: line.trim().to_string(),
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn job(status: JobStatus, error: Option<&str>) -> JobRecord {
    JobRecord {
        id: 42,
        kind: JobKind::Backup,
        plan: Some("databases".into()),
        repository: "main".into(),
        trigger: Trigger::Schedule,
        status,
        queued_at: "2026-05-01T03:00:00Z".into(),
        started_at: Some("2026-05-01T03:00:01Z".into()),
        finished_at: Some("2026-05-01T03:02:00Z".into()),
        figures: JobFigures {
            files: Some(12),
            bytes_added: Some(4096),
            ..JobFigures::default()
        },
        error: error.map(str::to_string),
    }
}

fn fast() -> Delivery {
    Delivery {
        timeout: Duration::from_millis(500),
        tries: 3,
        backoff: Duration::from_millis(10),
    }
}

/// Waits for a request, with a generous deadline.
fn next(rx: &mpsc::Receiver<Received>) -> Received {
    rx.recv_timeout(Duration::from_secs(60))
        .expect("no request arrived")
}

fn join(h: Option<JoinHandle<()>>) {
    h.expect("something to send").join().unwrap();
}

#[test]
fn the_webhook_gets_the_jobs_record_as_json() {
    let (url, rx) = server(vec![Answer::Status(200)]);
    let plan = Notify {
        webhook: Some(format!("{url}/hook")),
        ..Notify::default()
    };
    let failed = job(JobStatus::Failed, Some("disk full"));
    join(notify_with(&plan, &failed, NotifyEvent::Failure, fast()));
    let r = next(&rx);
    assert_eq!(r.line, "POST /hook HTTP/1.1");
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["id"], 42);
    assert_eq!(v["plan"], "databases");
    assert_eq!(v["kind"], "backup");
    assert_eq!(v["status"], "failed");
    assert_eq!(v["event"], "failure");
    assert_eq!(v["error"], "disk full");
    assert_eq!(v["files"], 12);
    assert_eq!(v["bytes_added"], 4096);
    assert_eq!(v["finished_at"], "2026-05-01T03:02:00Z");
    assert!(v["host"].as_str().is_some_and(|h| !h.is_empty()));
    // A start is not announced to the webhook.
    assert!(notify_with(&plan, &failed, NotifyEvent::Start, fast()).is_none());
}

#[test]
fn healthchecks_get_start_success_and_fail_pings() {
    let (url, rx) = server(vec![Answer::Status(200)]);
    let plan = Notify {
        healthchecks: Some(format!("{url}/ping/abc/")),
        failures_only: true,
        ..Notify::default()
    };
    join(notify_with(
        &plan,
        &job(JobStatus::Running, None),
        NotifyEvent::Start,
        fast(),
    ));
    assert_eq!(next(&rx).line, "POST /ping/abc/start HTTP/1.1");
    join(notify_with(
        &plan,
        &job(JobStatus::Succeeded, None),
        NotifyEvent::Success,
        fast(),
    ));
    assert_eq!(next(&rx).line, "POST /ping/abc HTTP/1.1");
    let failed = job(JobStatus::Failed, Some("wrong password"));
    join(notify_with(&plan, &failed, NotifyEvent::Failure, fast()));
    let r = next(&rx);
    assert_eq!(
        (r.line.as_str(), r.body.as_str()),
        ("POST /ping/abc/fail HTTP/1.1", "wrong password")
    );
}

#[test]
fn failed_deliveries_are_retried() {
    let (url, rx) = server(vec![
        Answer::Status(500),
        Answer::Status(503),
        Answer::Status(200),
    ]);
    let plan = Notify {
        webhook: Some(url),
        ..Notify::default()
    };
    join(notify_with(
        &plan,
        &job(JobStatus::Succeeded, None),
        NotifyEvent::Success,
        fast(),
    ));
    let bodies: Vec<String> = (0..3).map(|_| next(&rx).body).collect();
    assert!(bodies.iter().all(|b| b.contains("\"event\":\"success\"")));
    // Three tries in all: nothing more arrives after the success.
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
}

#[test]
fn the_caller_gets_control_back_before_the_receiver_answers() {
    let (open_gate, gate) = mpsc::channel();
    let (url, rx) = gated_server(vec![Answer::Gated], gate);
    let plan = Notify {
        webhook: Some(url),
        ..Notify::default()
    };
    let slow = Delivery {
        timeout: Duration::from_secs(600),
        ..fast()
    };
    let (returned_tx, returned) = mpsc::channel();
    std::thread::spawn(move || {
        let h = notify_with(
            &plan,
            &job(JobStatus::Succeeded, None),
            NotifyEvent::Success,
            slow,
        );
        let _ = returned_tx.send(h);
    });
    // notify returns while the receiver holds the request unanswered.
    let handle = returned
        .recv_timeout(Duration::from_secs(60))
        .expect("notify blocked on the receiver");
    assert!(next(&rx).line.starts_with("POST / "));
    open_gate.send(()).unwrap();
    join(handle);
}

#[test]
fn a_receiver_that_never_answers_is_given_up_after_the_tries() {
    let (url, rx) = server(vec![Answer::Hang]);
    let plan = Notify {
        webhook: Some(url),
        ..Notify::default()
    };
    let handle = notify_with(
        &plan,
        &job(JobStatus::Succeeded, None),
        NotifyEvent::Success,
        fast(),
    );
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        join(handle);
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the notification thread never gave up");
    assert_eq!(rx.try_iter().count(), 3, "three tries, each timed out");
}
