//! `examples/service.rs`, a service that backs itself up through the
//! library: one backup on `POST /backup` (tag `manual`), one on SIGTERM
//! (tag `shutdown`), each after flushing rows it held in memory; both
//! snapshots restore to databases holding exactly the rows flushed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::util::{example, Env, PASSWORD};

/// One HTTP/1.1 request on a fresh connection; returns status and body.
fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the service");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let status = reply[9..12].parse().expect("status code");
    let body = reply.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

fn next_json(lines: &mut impl Iterator<Item = std::io::Result<String>>) -> serde_json::Value {
    let line = lines.next().expect("a line from the service").unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

fn start(env: &Env, data: &Path) -> Child {
    let pw = env.path("password");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    Command::new(example("service"))
        .env("CAIRN_REPOSITORY", &env.location)
        .env("CAIRN_PASSWORD_FILE", &pw)
        .env("CAIRN_CACHE_DIR", env.path("service-cache"))
        .env("SERVICE_DATA", data)
        .env("SERVICE_ADDR", "127.0.0.1:0")
        .env("SERVICE_INSECURE_KDF", "1")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the example service")
}

fn rows_in(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok", "{}", db.display());
    conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn service_backs_itself_up_on_a_call_and_on_sigterm() {
    let env = Env::uninit();
    let data = env.path("data");
    let mut child = start(&env, &data);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = next_json(&mut lines)["listening"]
        .as_str()
        .unwrap()
        .to_string();

    assert_eq!(http(&addr, "POST", "/rows", "250").0, 200);
    let (status, body) = http(&addr, "POST", "/backup", "");
    assert_eq!(status, 200, "{body}");
    let manual: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (manual["tag"].as_str(), manual["rows"].as_u64()),
        (Some("manual"), Some(250))
    );
    assert_eq!(http(&addr, "POST", "/rows", "not a number").0, 400);

    // Rows only in memory when the signal comes are flushed and saved.
    assert_eq!(http(&addr, "POST", "/rows", "100").0, 200);
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let shutdown = next_json(&mut lines);
    assert!(child.wait().unwrap().success());
    assert_eq!(
        (shutdown["tag"].as_str(), shutdown["rows"].as_u64()),
        (Some("shutdown"), Some(350))
    );
    assert_eq!(shutdown["kept"].as_u64(), Some(2), "{shutdown}");

    for (report, rows) in [(&manual, 250), (&shutdown, 350)] {
        let id = report["snapshot"].as_str().unwrap();
        let target = env.path(&format!("restore-{id}"));
        env.ok(&["restore", id, "--target", target.to_str().unwrap()]);
        let db = crate::util::restored(&target, &data).join("app.db");
        assert_eq!(rows_in(&db), rows, "snapshot {id}");
    }
    let snaps = env.json(&["snapshots"]);
    let tags: Vec<String> = snaps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["tags"][0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(tags, ["manual", "shutdown"], "{snaps}");
}
