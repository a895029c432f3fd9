//! `cairn serve` holding only a put-only key (issue 18's ransomware setup):
//! backups run and deduplicate, every read and every other job is a plain
//! 403 naming the put-only key, the dashboard shows a notice instead of
//! snapshots, a plan that would forget/prune/check on a repository declared
//! `put_only` is refused at load, and the full key restores everything.

use std::process::Stdio;

use crate::serve_api_util::Serve;
use crate::util::*;
use crate::web_util::{self, sign_in};

const PUT: &str = "the service's put-only password";

/// Adds a put-only key with the full key, then makes the service's
/// password file hold its password.
fn hand_the_service_a_put_only_key(s: &Serve) {
    let mut c = s.env.cmd(&[
        "--json",
        "key",
        "add",
        "--put-only",
        "--kdf-memory-mib",
        "1",
        "--kdf-iterations",
        "1",
        "--insecure-kdf",
    ]);
    c.env("CAIRN_NEW_PASSWORD", PUT);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(s.path("password"), format!("{PUT}\n")).unwrap();
}

fn assert_put_only_403(what: &str, (status, v): (u16, serde_json::Value)) {
    assert_eq!(status, 403, "{what}: {v}");
    let msg = v["error"].as_str().unwrap_or_default();
    assert!(msg.contains("put-only"), "{what}: {v}");
}

#[test]
fn serve_with_a_put_only_key_backs_up_and_refuses_the_rest_clearly() {
    let mut s = Serve::new("");
    hand_the_service_a_put_only_key(&s);
    s.start();
    let token = s.token("all", &["read", "backup", "restore", "admin"]);
    let first = s.backup(&token);
    assert!(first["bytes_added"].as_u64().unwrap() > 300_000, "{first}");
    // The second backup is served by the put-only key's own files cache.
    let second = s.backup(&token);
    assert!(second["bytes_added"].as_u64().unwrap() < 20_000, "{second}");
    let (ok, log) = s.get(&format!("/api/v1/jobs/{}/log", second["id"]), Some(&token));
    assert_eq!(ok, 200, "{log}");

    // Reads and every other job kind: 403 naming the put-only key.
    assert_put_only_403(
        "snapshots",
        s.get("/api/v1/repositories/main/snapshots", Some(&token)),
    );
    assert_put_only_403(
        "stats",
        s.get("/api/v1/repositories/main/stats", Some(&token)),
    );
    assert_put_only_403(
        "cleanup",
        s.post("/api/v1/plans/files/cleanup", Some(&token), "{}"),
    );
    assert_put_only_403(
        "check",
        s.post("/api/v1/repositories/main/check", Some(&token), "{}"),
    );
    let (m, metrics) = s.get_bytes("/metrics", Some(&token));
    assert_eq!(m, 200, "{}", String::from_utf8_lossy(&metrics));

    // The dashboard: a notice instead of the snapshot list, no error page.
    let cookie = sign_in(&s, &token);
    for page in ["/", "/repos/main/snapshots"] {
        let r = web_util::get(&s, page, Some(&cookie));
        assert_eq!(r.status, 200, "{page}: {}", r.body);
        assert!(r.body.contains("Put-only key"), "{page}: {}", r.body);
        web_util::assert_well_formed(page, &r.body);
    }
    s.stop();

    // The full key restores both snapshots byte-exact.
    let snaps = s.env.json(&["snapshots"]);
    let ids: Vec<&str> = snaps
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{snaps}");
    for (i, id) in ids.iter().enumerate() {
        let to = s.path(&format!("restored{i}"));
        s.env.ok(&["restore", id, "--target", to.to_str().unwrap()]);
        assert_same_tree(&s.data, &restored(&to, &s.data));
    }
}

#[test]
fn a_plan_that_forgets_prunes_or_checks_on_a_put_only_repository_is_refused_at_load() {
    for (extra, field) in [
        ("retention = \"7d\"\n", "retention"),
        ("prune_every = \"1d\"\n", "prune_every"),
        ("check_every = \"1d\"\n", "check_every"),
    ] {
        let s = Serve::new(extra);
        let text = std::fs::read_to_string(&s.config).unwrap();
        let declared = text.replacen("[plans.files]", "put_only = true\n\n[plans.files]", 1);
        std::fs::write(&s.config, declared).unwrap();
        let out = s
            .cmd(&[])
            .stdout(Stdio::null())
            .output()
            .expect("run cairn serve");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{field}: {err}");
        assert!(err.contains("plans.files"), "{field}: {err}");
        assert!(err.contains(field), "{field}: {err}");
        assert!(err.contains("put_only"), "{field}: {err}");
    }
}
