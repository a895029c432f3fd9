//! A bucket source behind a loopback proxy that cuts the connection in the
//! middle of a response body: the part is read again, the backup succeeds.
//! Needs the S3 server (bucket_util.rs).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::bucket_util::TestBucket;
use crate::util::*;

/// Bytes sent back on one connection before the one cut.
const CUT_AFTER: usize = 150_000;

/// Forwards loopback connections to `upstream`; the first connection whose
/// answers pass [`CUT_AFTER`] bytes is shut down there, once. Returns its
/// `http://127.0.0.1:PORT` and whether the cut happened.
fn cutting_proxy(upstream: &str) -> (String, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let upstream = upstream.trim_start_matches("http://").to_string();
    let cut = Arc::new(AtomicBool::new(false));
    let done = cut.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let server = TcpStream::connect(&upstream).unwrap();
            let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || std::io::copy(&mut c_in, &mut s_out));
            let done = done.clone();
            std::thread::spawn(move || answer(server, client, &done));
        }
    });
    (format!("http://127.0.0.1:{port}"), cut)
}

/// Copies the server's answers to the client, cutting once (see above).
fn answer(mut server: TcpStream, mut client: TcpStream, done: &AtomicBool) {
    let (mut buf, mut sent) = (vec![0u8; 16 * 1024], 0usize);
    loop {
        let n = match server.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if sent + n > CUT_AFTER && !done.swap(true, Ordering::SeqCst) {
            let _ = client.write_all(&buf[..CUT_AFTER - sent]);
            break;
        }
        sent += n;
        if client.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
}

#[test]
fn bucket_body_cut_off_is_read_again() {
    let env = Env::new();
    let b = TestBucket::new("cut");
    let body = random_bytes(7, 300_000);
    b.put("big", &body);
    b.put("small", b"tiny");
    let (proxy, cut) = cutting_proxy(&b.endpoint);
    let location = b.location("").replacen(&b.endpoint, &proxy, 1);
    let mut cmd = env.cmd(&["--json", "backup", &location]);
    let out = b.with_keys(&mut cmd).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(cut.load(Ordering::SeqCst), "the proxy cut nothing");
    assert!(out.status.success(), "backup: {stderr}");
    let summary = last_json(&out);
    assert_eq!(summary["files_new"], 2, "{summary}");
    assert_eq!(summary["skipped"].as_array().unwrap().len(), 0, "{summary}");
    let target = env.path("restored");
    env.ok(&["restore", "latest", "--target", target.to_str().unwrap()]);
    assert!(
        std::fs::read(target.join("big")).unwrap() == body,
        "big differs"
    );
}
