//! Retries and error kinds against a scripted loopback HTTP server: each
//! connection gets the next scripted answer (an S3 error, silence, a hang-up
//! or success), so the tests count exactly how many tries each failure costs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::storage::StorageErrorKind;

#[derive(Clone, Copy)]
enum Answer {
    /// An S3 error document with this status and code.
    Error(u16, &'static str),
    /// Close the connection without answering.
    HangUp,
    /// Say nothing for this long, then close.
    Silence(Duration),
    /// 200 with this body.
    Ok(&'static str),
}

/// Serves `script` (its last answer repeats), counting requests.
fn serve(script: Vec<Answer>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let answer = script[n.min(script.len() - 1)];
            std::thread::spawn(move || answer_one(stream, answer));
        }
    });
    (format!("http://{addr}"), count)
}

fn answer_one(stream: TcpStream, answer: Answer) {
    let mut reader = BufReader::new(stream);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    let mut stream = reader.into_inner();
    let (status, text) = match answer {
        Answer::HangUp => return,
        Answer::Silence(d) => {
            std::thread::sleep(d);
            return;
        }
        Answer::Error(status, code) => (
            status,
            format!("<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>scripted</Message></Error>"),
        ),
        Answer::Ok(body) => (200, body.to_string()),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn storage(endpoint: &str) -> S3Storage {
    let env = |k: &str| match k {
        "AWS_ACCESS_KEY_ID" => Some("AKIDTEST".to_string()),
        "AWS_SECRET_ACCESS_KEY" => Some("scripted-secret".to_string()),
        _ => None,
    };
    let opts = S3Options {
        attempt_timeout: Duration::from_millis(700),
        ..S3Options::default()
    };
    S3Storage::open_with_env(&format!("s3:{endpoint}/bkt"), &opts, false, &env).unwrap()
}

#[test]
fn throttling_and_server_errors_are_retried_until_success() {
    let (endpoint, count) = serve(vec![
        Answer::Error(503, "SlowDown"),
        Answer::Error(500, "InternalError"),
        Answer::Ok(""),
    ]);
    let s = storage(&endpoint);
    s.put("k", Bytes::from_static(b"data")).unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 3);
    // Every try is on the wire, and billed.
    let wire = s.wire().snapshot();
    assert_eq!((wire.requests, wire.class_a), (3, 3), "{wire:?}");
}

#[test]
fn dropped_connections_and_timeouts_are_retried() {
    let (endpoint, count) = serve(vec![
        Answer::HangUp,
        Answer::Silence(Duration::from_secs(3)),
        Answer::Ok(""),
    ]);
    storage(&endpoint)
        .put("k", Bytes::from_static(b"data"))
        .unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[test]
fn permanent_errors_fail_at_the_first_try() {
    for (status, code, kind) in [
        (403, "AccessDenied", StorageErrorKind::Permanent),
        (403, "SignatureDoesNotMatch", StorageErrorKind::Permanent),
        (404, "NoSuchBucket", StorageErrorKind::Permanent),
        (404, "NoSuchKey", StorageErrorKind::NotFound),
    ] {
        let (endpoint, count) = serve(vec![Answer::Error(status, code)]);
        let err = storage(&endpoint).get("k").unwrap_err();
        assert_eq!(err.kind, kind, "{code}: {err}");
        assert_eq!(count.load(Ordering::SeqCst), 1, "{code} was retried");
        assert!(!err.to_string().contains("scripted-secret"));
    }
}

#[test]
fn persistent_server_errors_give_up_after_the_configured_tries() {
    let (endpoint, count) = serve(vec![Answer::Error(503, "SlowDown")]);
    let err = storage(&endpoint).list("").unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Transient, "{err}");
    assert_eq!(
        count.load(Ordering::SeqCst),
        S3Options::default().attempts as usize
    );
}
