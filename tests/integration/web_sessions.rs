//! Dashboard sessions end everything they opened: a live event stream
//! stops when its session is signed out or its token revoked.

use std::io::Read;
use std::sync::mpsc;
use std::time::Duration;

use crate::serve_api_util::Serve;
use crate::web_util::{csrf, get, post, sign_in};

/// Opens `/events` with `cookie` on a thread; the first message is the
/// response's status and type, the second comes when the stream ends.
fn open_events(s: &Serve, cookie: &str) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let (url, cookie) = (s.url("/events"), cookie.to_string());
    std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let mut r = agent.get(&url).header("Cookie", &cookie).call().unwrap();
        let ty = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        let _ = tx.send(format!(
            "{} {}",
            r.status().as_u16(),
            ty.unwrap_or_default()
        ));
        let mut body = String::new();
        let end = r.body_mut().as_reader().read_to_string(&mut body);
        let _ = tx.send(format!("ended: {:?}", end.map(|_| ())));
    });
    rx
}

/// Waits for the stream to open as an event stream.
fn opened(rx: &mpsc::Receiver<String>) {
    let first = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the stream opens");
    assert_eq!(first, "200 text/event-stream");
}

/// Waits (generously) for the stream to end on its own.
fn ends(rx: &mpsc::Receiver<String>, why: &str) {
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(m) => assert_eq!(m, "ended: Ok(())", "{why}"),
        Err(e) => panic!("{why}: the event stream outlived its session ({e})"),
    }
}

#[test]
fn web_event_stream_ends_with_its_session() {
    let mut s = Serve::new("");
    let admin = s.token("admin", &["admin"]);
    let read = s.token("reader", &["read"]);
    s.start();

    let signed_out = sign_in(&s, &admin);
    let revoked = sign_in(&s, &read);
    let a = open_events(&s, &signed_out);
    let b = open_events(&s, &revoked);
    opened(&a);
    opened(&b);
    // Both streams carry events while their sessions live.
    s.backup(&admin);
    assert!(a.try_recv().is_err() && b.try_recv().is_err(), "still open");

    let page = get(&s, "/", Some(&signed_out)).body;
    let r = post(
        &s,
        "/logout",
        Some(&signed_out),
        &[("csrf", &csrf(&page))],
        &[],
    );
    assert_eq!(r.status, 303);
    ends(&a, "signed out");

    assert!(s.run(&["token", "revoke", "reader"]).status.success());
    ends(&b, "token revoked");
}

#[test]
fn web_every_post_route_refuses_a_missing_or_wrong_csrf_token() {
    let mut s = Serve::new("");
    let admin = s.token("admin", &["admin"]);
    s.start();
    let cookie = sign_in(&s, &admin);
    let routes = [
        "/jobs/1/cancel",
        "/logout",
        "/repos/main/restore",
        "/plans/files/run",
        "/plans/files/check",
        "/plans/files/test",
        "/repos/main/check",
    ];
    for path in routes {
        for pairs in [&[][..], &[("csrf", "0123")][..]] {
            let r = post(&s, path, Some(&cookie), pairs, &[]);
            assert_eq!(r.status, 403, "{path} {pairs:?}: {}", r.body);
        }
    }
    let (_, jobs) = s.get("/api/v1/jobs", Some(&admin));
    assert_eq!(jobs.as_array().unwrap().len(), 0, "nothing queued: {jobs}");
    assert_eq!(get(&s, "/", Some(&cookie)).status, 200, "still signed in");
}
