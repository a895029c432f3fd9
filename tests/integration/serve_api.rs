//! The REST API of a running `cairn serve`, over real HTTP, on a real
//! repository (local or S3, as the suite runs): every endpoint at least
//! once, tokens and scopes, errors naming their field, byte-exact
//! downloads and restores.

use serde_json::Value;

use crate::serve_api_util::Serve;
use crate::util::assert_same_tree;

fn job_id(v: &Value) -> i64 {
    v["job"]
        .as_i64()
        .unwrap_or_else(|| panic!("no job id: {v}"))
}

#[test]
fn serve_api_tokens_and_scopes_guard_a_backup() {
    let mut s = Serve::new("");
    let read = s.token("reader", &["read"]);
    let backup = s.token("ci", &["backup"]);
    s.start();

    let (st, v) = s.get("/api/v1/health", None);
    assert_eq!((st, v["status"].as_str()), (200, Some("ok")), "{v}");
    assert!(v["version"].is_string());

    let run = "/api/v1/plans/files/run";
    let (st, www, none) = s.call("POST", run, None, "{}");
    assert_eq!((st, www.as_deref()), (401, Some("Bearer")), "{none}");
    let (st, www, wrong) = s.call("POST", run, Some("cairn_0000"), "{}");
    assert_eq!((st, www.as_deref()), (401, Some("Bearer")));
    assert_eq!(none, wrong, "an unknown token learns what no token learns");
    let (st, _, v) = s.call("POST", run, Some(&read), "{}");
    assert_eq!(st, 403, "{v}");
    assert!(v["error"].is_string());

    let (st, v) = s.post(run, Some(&backup), r#"{"tags": ["manual"]}"#);
    assert_eq!(st, 202, "{v}");
    let job = s.wait_job(job_id(&v), &read);
    assert_eq!(job["status"], "succeeded", "{job}");
    let (_, snaps) = s.get(
        "/api/v1/repositories/main/snapshots?tag=manual",
        Some(&read),
    );
    assert_eq!(snaps.as_array().unwrap().len(), 1, "{snaps}");

    // Revoked: refused at the next request, no restart.
    assert!(s.run(&["token", "revoke", "ci"]).status.success());
    let (st, _) = s.post(run, Some(&backup), "{}");
    assert_eq!(st, 401);
}

#[test]
fn serve_api_every_endpoint_answers() {
    let mut s = Serve::new("");
    let admin = s.token("admin", &["admin"]);
    let read = s.token("reader", &["read"]);
    s.start();
    let job = s.backup(&admin);
    let snapshot = job["snapshot_id"]
        .as_str()
        .expect("snapshot id")
        .to_string();

    // Plans.
    let (st, v) = s.get("/api/v1/plans", Some(&read));
    assert_eq!(st, 200);
    assert_eq!(v[0]["name"], "files");
    assert_eq!(v[0]["last"]["status"], "succeeded", "{v}");
    let (st, v) = s.get("/api/v1/plans/files", Some(&read));
    assert_eq!((st, v["repository"].as_str()), (200, Some("main")));
    let (st, v) = s.get("/api/v1/plans/nope", Some(&read));
    assert_eq!((st, v["field"].as_str()), (404, Some("name")), "{v}");
    let (st, v) = s.post("/api/v1/plans/files/run", Some(&admin), r#"{"tags": "x"}"#);
    assert_eq!((st, v["field"].as_str()), (400, Some("tags")), "{v}");
    let (st, v) = s.post(
        "/api/v1/plans/files/run",
        Some(&admin),
        r#"{"tags": ["a"], "x": 1}"#,
    );
    assert_eq!(st, 400, "an unknown field: {v}");
    let (st, v) = s.post("/api/v1/plans/files/run", Some(&admin), "{not json");
    assert_eq!((st, v["field"].as_str()), (400, Some("body")), "{v}");
    let big = format!(r#"{{"tags": ["{}"]}}"#, "x".repeat(100_000));
    let (st, v) = s.post("/api/v1/plans/files/run", Some(&admin), &big);
    assert_eq!(st, 413, "{v}");
    assert!(v["error"].is_string());
    let (st, v) = s.post("/api/v1/plans/files/cleanup", Some(&admin), "");
    assert_eq!(st, 202, "{v}");
    assert_eq!(s.wait_job(job_id(&v), &read)["status"], "succeeded");

    // Jobs.
    let (st, v) = s.get(
        "/api/v1/jobs?plan=files&kind=backup&status=succeeded&limit=5",
        Some(&read),
    );
    assert_eq!(st, 200);
    assert!(
        v.as_array().unwrap().iter().any(|j| j["id"] == job["id"]),
        "{v}"
    );
    for (q, field) in [
        ("status=done", "status"),
        ("kind=x", "kind"),
        ("limit=0", "limit"),
        ("before=x", "before"),
    ] {
        let (st, v) = s.get(&format!("/api/v1/jobs?{q}"), Some(&read));
        assert_eq!((st, v["field"].as_str()), (400, Some(field)), "{q}: {v}");
    }
    let id = job["id"].as_i64().unwrap();
    let (st, v) = s.get(&format!("/api/v1/jobs/{id}/log"), Some(&read));
    assert!(st == 200 && v.is_array(), "{v}");
    let (st, v) = s.get("/api/v1/jobs/abc", Some(&read));
    assert_eq!((st, v["field"].as_str()), (400, Some("id")));
    let (st, _) = s.get("/api/v1/jobs/99999", Some(&read));
    assert_eq!(st, 404);
    let (st, v) = s.post(&format!("/api/v1/jobs/{id}/cancel"), Some(&admin), "");
    assert_eq!(st, 409, "a finished job: {v}");

    // Repositories.
    let (st, v) = s.get("/api/v1/repositories", Some(&read));
    assert_eq!((st, v[0]["name"].as_str()), (200, Some("main")), "{v}");
    let (st, v) = s.post("/api/v1/repositories/main/test", Some(&admin), "");
    assert_eq!(st, 202, "{v}");
    assert_eq!(s.wait_job(job_id(&v), &read)["status"], "succeeded");
    let (st, v) = s.post(
        "/api/v1/repositories/main/check",
        Some(&admin),
        r#"{"read_data_subset": "50%"}"#,
    );
    assert_eq!(st, 202, "{v}");
    assert_eq!(s.wait_job(job_id(&v), &read)["status"], "succeeded");
    let (_, v) = s.get("/api/v1/repositories/main/stats", Some(&read));
    assert_eq!(v["audit_coverage"], 0.0, "{v}");
    let (st, v) = s.post(
        "/api/v1/repositories/main/check",
        Some(&admin),
        r#"{"audit_budget": "1GiB"}"#,
    );
    assert_eq!(st, 202, "{v}");
    assert_eq!(s.wait_job(job_id(&v), &read)["status"], "succeeded");
    let (st, v) = s.post(
        "/api/v1/repositories/main/check",
        Some(&admin),
        r#"{"read_data_subset": "lots"}"#,
    );
    assert_eq!(
        (st, v["field"].as_str()),
        (400, Some("read_data_subset")),
        "{v}"
    );
    let (st, v) = s.get("/api/v1/repositories/main/stats", Some(&read));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["snapshots"], 1);
    assert!(v["stored_bytes"].as_u64().unwrap() > 0 && v["dedup_ratio"].as_f64().unwrap() > 0.0);
    assert_eq!(v["last_check"]["status"], "succeeded", "{v}");
    // The audit verified every pack.
    assert_eq!(v["audit_coverage"], 1.0, "{v}");
    assert!(v["audit_oldest_verified"].is_string() && v["blobs"].as_u64().unwrap() > 0);
    let (st, _) = s.get("/api/v1/repositories/nope/stats", Some(&read));
    assert_eq!(st, 404);

    // Snapshots.
    let (st, v) = s.get(
        "/api/v1/repositories/main/snapshots?tag=api&host=",
        Some(&read),
    );
    assert_eq!((st, v.as_array().map(Vec::len)), (200, Some(1)), "{v}");
    let (_, v) = s.get("/api/v1/repositories/main/snapshots?tag=nope", Some(&read));
    assert_eq!(v.as_array().map(Vec::len), Some(0));
    let (_, v) = s.get(
        "/api/v1/repositories/main/snapshots?since=2999-01-01T00:00:00Z",
        Some(&read),
    );
    assert_eq!(v.as_array().map(Vec::len), Some(0));
    let (_, v) = s.get(
        "/api/v1/repositories/main/snapshots?until=2999-01-01T00:00:00Z",
        Some(&read),
    );
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    let (st, v) = s.get(
        "/api/v1/repositories/main/snapshots?since=yesterday",
        Some(&read),
    );
    assert_eq!((st, v["field"].as_str()), (400, Some("since")), "{v}");
    let (st, v) = s.get("/api/v1/repositories/main/snapshots/latest", Some(&read));
    assert_eq!(
        (st, v["id"].as_str()),
        (200, Some(snapshot.as_str())),
        "{v}"
    );
    let (st, v) = s.get("/api/v1/repositories/main/snapshots/deadbeef", Some(&read));
    assert_eq!((st, v["field"].as_str()), (400, Some("id")), "{v}");
    let data = s.data.to_string_lossy().into_owned();
    let (st, v) = s.get(
        &format!("/api/v1/repositories/main/snapshots/latest/files?path={data}"),
        Some(&read),
    );
    assert_eq!(st, 200, "{v}");
    let mut names: Vec<_> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["a.txt", "sub"]);
    let (st, v) = s.get(
        &format!("/api/v1/repositories/main/snapshots/latest/files?path={data}/none"),
        Some(&read),
    );
    assert_eq!((st, v["field"].as_str()), (400, Some("path")), "{v}");

    // Service.
    let (st, v) = s.get("/api/v1/openapi.json", None);
    assert_eq!(st, 200);
    assert!(v["paths"]["/api/v1/plans/{name}/run"].is_object());
    let (st, text) = s.get_bytes("/metrics", Some(&read));
    let text = String::from_utf8(text).unwrap();
    assert_eq!(st, 200);
    assert!(
        text.contains("repository=\"main\""),
        "the stats call's figures: {text}"
    );
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    let (st, _) = s.get_bytes("/metrics", None);
    assert_eq!(st, 401);
    let (st, v) = s.get("/api/v1/nothing", Some(&read));
    assert_eq!(st, 404, "{v}");
}

#[test]
fn serve_api_downloads_are_byte_exact() {
    let mut s = Serve::new("");
    let read = s.token("reader", &["read"]);
    let backup = s.token("ci", &["backup"]);
    s.start();
    s.backup(&backup);
    let base = "/api/v1/repositories/main/snapshots/latest/download";
    let data = s.data.to_string_lossy().into_owned();
    for rel in ["a.txt", "sub/b.bin"] {
        let (st, bytes) = s.get_bytes(&format!("{base}?path={data}/{rel}"), Some(&read));
        assert_eq!(st, 200, "{}", String::from_utf8_lossy(&bytes));
        assert!(
            bytes == std::fs::read(s.data.join(rel)).unwrap(),
            "{rel} differs"
        );
    }
    let (st, v) = s.get(&format!("{base}?path={data}"), Some(&read));
    assert_eq!(
        (st, v["field"].as_str()),
        (400, Some("path")),
        "a directory needs a format: {v}"
    );
    let (st, v) = s.get(&format!("{base}?path={data}&format=rar"), Some(&read));
    assert_eq!((st, v["field"].as_str()), (400, Some("format")), "{v}");

    let (st, tar) = s.get_bytes(&format!("{base}?path={data}&format=tar"), Some(&read));
    assert_eq!(st, 200);
    let out = s.path("untar");
    tar::Archive::new(&tar[..]).unpack(&out).unwrap();
    let unpacked = crate::util::files_under(&out);
    assert_eq!(unpacked.len(), 2, "{unpacked:?}");
    for rel in ["a.txt", "sub/b.bin"] {
        let found = unpacked.iter().find(|p| p.ends_with(rel)).expect(rel);
        assert!(std::fs::read(found).unwrap() == std::fs::read(s.data.join(rel)).unwrap());
    }
    let (st, zip) = s.get_bytes(&format!("{base}?path={data}/sub&format=zip"), Some(&read));
    assert_eq!(st, 200);
    assert!(zip.starts_with(b"PK"), "a zip archive");
}

#[test]
fn serve_api_restore_is_byte_exact_and_confined_to_the_roots() {
    let mut s = Serve::new("");
    let backup = s.token("ci", &["backup"]);
    let restore = s.token("ops", &["restore"]);
    s.start();
    s.backup(&backup);
    let url = "/api/v1/repositories/main/restore";
    let root = s.restore_root.to_string_lossy().into_owned();
    let body = |target: &str| format!(r#"{{"snapshot": "latest", "target": {target:?}}}"#);

    let (st, _) = s.post(url, Some(&backup), &body(&format!("{root}/r1")));
    assert_eq!(st, 403, "restoring needs the restore scope");
    let outside = s.path("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, s.restore_root.join("link")).unwrap();
    for bad in [
        outside.to_string_lossy().into_owned(),
        format!("{root}/../outside"),
        format!("{root}/link/x"),
        "relative/dir".to_string(),
    ] {
        let (st, v) = s.post(url, Some(&restore), &body(&bad));
        assert_eq!(
            (st, v["field"].as_str()),
            (400, Some("target")),
            "{bad}: {v}"
        );
    }
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing written outside"
    );
    let (st, v) = s.post(
        url,
        Some(&restore),
        &format!(r#"{{"snapshot": "ffff", "target": "{root}/r0"}}"#),
    );
    assert_eq!((st, v["field"].as_str()), (400, Some("snapshot")), "{v}");
    // In place means the snapshot's own paths, which lie outside the roots.
    let (st, v) = s.post(
        url,
        Some(&restore),
        r#"{"snapshot": "latest", "in_place": true}"#,
    );
    assert_eq!((st, v["field"].as_str()), (400, Some("in_place")), "{v}");
    let (st, v) = s.post(url, Some(&restore), r#"{"snapshot": "latest"}"#);
    assert_eq!((st, v["field"].as_str()), (400, Some("target")), "{v}");

    let (st, v) = s.post(url, Some(&restore), &body(&format!("{root}/r1")));
    assert_eq!(st, 202, "{v}");
    let job = s.wait_job(job_id(&v), &restore);
    assert_eq!(job["status"], "succeeded", "{job}");
    let restored = s
        .restore_root
        .join("r1")
        .join(s.data.strip_prefix("/").unwrap());
    assert_same_tree(&s.data, &restored);
}
