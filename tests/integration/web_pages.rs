//! The dashboard over plain HTTP against a real `cairn serve`: every page
//! is well-formed HTML under 200 KiB with its stylesheet and script,
//! hostile file names, tags and hosts show as text, sign-in and sessions
//! (cookie attributes, revoked tokens), CSRF and scopes on every POST.

use crate::serve_api_util::Serve;
use crate::web_util::{
    assert_well_formed, attr, count, csrf, get, parse_errors, post, sign_in, texts,
};

const HOSTILE_DIR: &str = "<script>alert(1)<";
const HOSTILE_FILE: &str = "script>";
const HOSTILE_TAG: &str = "<img src=x onerror=alert(2)>";
const HOSTILE_HOST: &str = "<b onmouseover=alert(3)>host</b>";

/// A service whose repository holds a file at `<script>alert(1)</script>`
/// (a directory and a file: a name cannot hold `/`), a snapshot with a
/// hostile tag and host, and a backup by the service.
fn hostile_service() -> (Serve, String) {
    let mut s = Serve::new("");
    let dir = s.data.join(HOSTILE_DIR);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(HOSTILE_FILE), b"not a script\n").unwrap();
    std::fs::write(s.data.join("<img src=y onerror=alert(4)>"), b"x").unwrap();
    let data = s.data.to_string_lossy().into_owned();
    s.env.ok(&[
        "backup",
        "--tag",
        HOSTILE_TAG,
        "--host",
        HOSTILE_HOST,
        &data,
    ]);
    let admin = s.token("admin", &["admin"]);
    s.start();
    s.backup(&admin);
    (s, admin)
}

fn snapshot_ids(s: &Serve, token: &str) -> Vec<String> {
    let (st, v) = s.get("/api/v1/repositories/main/snapshots", Some(token));
    assert_eq!(st, 200, "{v}");
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn web_the_html_checker_finds_unclosed_and_misnested_tags() {
    let ok =
        "<!DOCTYPE html><html lang=en><head><title>t</title></head><body><p>a</p></body></html>";
    assert!(parse_errors(ok).is_empty(), "{:?}", parse_errors(ok));
    for bad in [
        "<!DOCTYPE html><html><head><title>t</title></head><body><div><span>x</div></body></html>",
        "<!DOCTYPE html><html><head><title>t</title></head><body><b><i>x</b></i></body></html>",
        "<!DOCTYPE html><html><head><title>t</title></head><body><table><tr><td>x</div></table></body></html>",
    ] {
        assert!(!parse_errors(bad).is_empty(), "not caught: {bad}");
    }
}

#[test]
fn web_every_page_is_well_formed_small_and_escapes_hostile_names() {
    let (s, admin) = hostile_service();
    let cookie = sign_in(&s, &admin);
    let ids = snapshot_ids(&s, &admin);
    assert_eq!(ids.len(), 2);
    let (st, jobs) = s.get("/api/v1/jobs", Some(&admin));
    assert_eq!(st, 200);
    let job = jobs[0]["id"].as_i64().unwrap();
    let data = s.data.to_string_lossy().into_owned();
    let hostile_dir = format!("{data}/{HOSTILE_DIR}");
    let q = |pairs: &[(&str, &str)]| serde_urlencoded::to_string(pairs).unwrap();
    let pages = [
        "/".to_string(),
        "/jobs".into(),
        "/jobs?plan=files&kind=backup&status=succeeded".into(),
        format!("/jobs/{job}"),
        "/repos/main/snapshots".into(),
        format!("/repos/main/snapshots?{}", q(&[("host", HOSTILE_HOST)])),
        "/repos/main/snapshots?since=2000-01-01&until=2999-12-31&tag=api".into(),
        format!("/repos/main/snapshots/{}/browse", ids[0]),
        format!(
            "/repos/main/snapshots/{}/browse?{}",
            ids[0],
            q(&[("path", &data)])
        ),
        format!(
            "/repos/main/snapshots/{}/browse?{}",
            ids[0],
            q(&[("path", &hostile_dir)])
        ),
        format!("/repos/main/diff?a={}&b={}", ids[0], ids[1]),
        "/repos/main/diff".into(),
        format!("/repos/main/restore?snapshot={}", ids[0]),
        "/repos/main/verify".into(),
    ];
    let css = get(&s, "/static/app.css", None);
    let js = get(&s, "/static/app.js", None);
    assert_eq!((css.status, js.status), (200, 200));
    let mut all = String::new();
    for p in &pages {
        let r = get(&s, p, Some(&cookie));
        assert_eq!(r.status, 200, "{p}: {}", r.body);
        assert_well_formed(p, &r.body);
        let weight = r.body.len() + css.body.len() + js.body.len();
        assert!(weight < 200 * 1024, "{p}: {weight} bytes");
        // Our one script tag, never one from the data.
        assert_eq!(count(&r.body, "script"), 1, "{p}");
        assert!(!r.body.contains("<script>alert"), "{p}");
        assert!(!r.body.contains("<img src"), "{p}");
        assert!(!r.body.contains("<b onmouseover"), "{p}");
        all.push_str(&r.body);
    }
    // The hostile strings are there, as text.
    for shown in [
        HOSTILE_DIR,
        HOSTILE_TAG,
        HOSTILE_HOST,
        "<img src=y onerror=alert(4)>",
    ] {
        let page = pages
            .iter()
            .map(|p| get(&s, p, Some(&cookie)).body)
            .find(|b| texts(b, "main").iter().any(|t| t.contains(shown)));
        assert!(page.is_some(), "{shown:?} is not shown as text anywhere");
    }
    let inner = get(
        &s,
        &format!(
            "/repos/main/snapshots/{}/browse?{}",
            ids[0],
            q(&[("path", &hostile_dir)])
        ),
        Some(&cookie),
    );
    assert!(texts(&inner.body, "a.file").contains(&HOSTILE_FILE.to_string()));
    // The sign-in page too.
    let login = get(&s, "/login", None);
    assert_well_formed("/login", &login.body);
}

#[test]
fn web_sessions_csrf_and_scopes_guard_every_post() {
    let mut s = Serve::new("");
    let admin = s.token("admin", &["admin"]);
    let read = s.token("reader", &["read"]);
    s.start();
    // No session: every page sends the browser to sign in.
    let r = get(&s, "/", None);
    assert_eq!((r.status, r.location.as_deref()), (303, Some("/login")));
    let r = post(&s, "/login", None, &[("token", "cairn_00")], &[]);
    assert_eq!(r.status, 401);
    assert!(r.set_cookie.is_none());
    assert_well_formed("bad sign-in", &r.body);

    let login = post(&s, "/login", None, &[("token", &admin)], &[]);
    let set = login.set_cookie.clone().expect("a cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: no Secure: {set}");
    assert!(!set.contains(&admin), "the cookie is not the token");
    let cookie = set.split(';').next().unwrap().to_string();
    let page = get(&s, "/", Some(&cookie)).body;
    assert_eq!(count(&page, "button"), 4, "sign out and three actions");
    let token = csrf(&page);

    let run = "/plans/files/run";
    let forged = |pairs: &[(&str, &str)], headers: &[(&str, &str)]| {
        post(&s, run, Some(&cookie), pairs, headers).status
    };
    assert_eq!(forged(&[], &[]), 403, "no CSRF token");
    assert_eq!(forged(&[("csrf", "0123")], &[]), 403, "a wrong one");
    let good = [("csrf", token.as_str())];
    let evil = "http://evil.example";
    assert_eq!(forged(&good, &[("Origin", evil)]), 403, "another origin");
    assert_eq!(forged(&good, &[("Sec-Fetch-Site", "cross-site")]), 403);
    let (_, none) = s.get("/api/v1/jobs", Some(&admin));
    assert_eq!(none.as_array().unwrap().len(), 0, "nothing was queued");
    let origin = format!("http://{}", s.addr);
    let r = post(
        &s,
        run,
        Some(&cookie),
        &good,
        &[("Origin", &origin), ("Sec-Fetch-Site", "same-origin")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let job: i64 = r
        .location
        .unwrap()
        .strip_prefix("/jobs/")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(s.wait_job(job, &admin)["status"], "succeeded");

    // A read session: no buttons but sign-out, and a forged POST is refused.
    let reader = sign_in(&s, &read);
    let page = get(&s, "/", Some(&reader)).body;
    assert_eq!(count(&page, "button"), 1, "only sign out: {page}");
    let ids = {
        let (_, v) = s.get("/api/v1/repositories/main/snapshots", Some(&read));
        v[0]["id"].as_str().unwrap().to_string()
    };
    let browse = get(
        &s,
        &format!("/repos/main/snapshots/{ids}/browse"),
        Some(&reader),
    );
    assert_eq!(count(&browse.body, "a.restore"), 0);
    let admin_browse = get(
        &s,
        &format!("/repos/main/snapshots/{ids}/browse"),
        Some(&cookie),
    );
    assert_eq!(count(&admin_browse.body, "a.restore"), 1);
    assert_eq!(get(&s, "/repos/main/restore", Some(&reader)).status, 403);
    let rtoken = csrf(&page);
    for path in [
        run,
        "/plans/files/check",
        "/plans/files/test",
        "/repos/main/check",
        "/repos/main/restore",
    ] {
        let r = post(&s, path, Some(&reader), &[("csrf", &rtoken)], &[]);
        assert_eq!(r.status, 403, "{path}: {}", r.body);
    }
    // Another session's CSRF token is not this one's.
    assert_eq!(post(&s, run, Some(&reader), &good, &[]).status, 403);
    let (_, jobs) = s.get("/api/v1/jobs", Some(&admin));
    assert_eq!(jobs.as_array().unwrap().len(), 1, "{jobs}");

    // Revoked: the next request goes to sign-in, and the session is gone.
    assert!(s.run(&["token", "revoke", "reader"]).status.success());
    let r = get(&s, "/", Some(&reader));
    assert_eq!((r.status, r.location.as_deref()), (303, Some("/login")));
    let r = post(&s, run, Some(&reader), &[("csrf", &rtoken)], &[]);
    assert_eq!((r.status, r.location.as_deref()), (303, Some("/login")));

    // Sign-out ends the session.
    let r = post(&s, "/logout", Some(&cookie), &good, &[]);
    assert_eq!((r.status, r.location.as_deref()), (303, Some("/login")));
    assert_eq!(get(&s, "/", Some(&cookie)).status, 303);
    assert!(attr(&get(&s, "/login", None).body, "input#token", "name").is_some());
}

#[test]
fn web_downloads_restores_and_large_directories() {
    let mut s = Serve::new("");
    let many = s.data.join("many");
    std::fs::create_dir_all(&many).unwrap();
    for i in 0..1200 {
        std::fs::write(many.join(format!("f{i:04}")), b"x").unwrap();
    }
    let admin = s.token("admin", &["admin"]);
    s.start();
    s.backup(&admin);
    let cookie = sign_in(&s, &admin);
    let id = {
        let (_, v) = s.get("/api/v1/repositories/main/snapshots", Some(&admin));
        v[0]["id"].as_str().unwrap().to_string()
    };
    let data = s.data.to_string_lossy().into_owned();
    let file = format!("{data}/sub/b.bin");
    let q = serde_urlencoded::to_string([("path", &file)]).unwrap();
    let url = format!("/repos/main/snapshots/{id}/download?{q}");
    let mut req = s.agent().get(s.url(&url));
    req = req.header("Cookie", &cookie);
    let mut resp = req.call().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body = resp
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .unwrap();
    assert_eq!(body, std::fs::read(s.data.join("sub/b.bin")).unwrap());
    assert_eq!(get(&s, &url, None).status, 303, "no session, no bytes");

    // A large directory comes in pages of 500 entries, each small.
    let dir = serde_urlencoded::to_string([("path", format!("{data}/many"))]).unwrap();
    let browse = format!("/repos/main/snapshots/{id}/browse?{dir}");
    let first = get(&s, &browse, Some(&cookie));
    assert_well_formed("page 1", &first.body);
    assert_eq!(count(&first.body, "a.file"), 500);
    assert!(first.body.len() < 200 * 1024, "{}", first.body.len());
    let next = attr(&first.body, "a[rel=next]", "href").expect("a next page");
    let second = get(
        &s,
        &format!("/repos/main/snapshots/{id}/{next}"),
        Some(&cookie),
    );
    assert_eq!(texts(&second.body, "a.file")[0], "f0500");
    let last = get(&s, &format!("{browse}&page=3"), Some(&cookie));
    assert_eq!(count(&last.body, "a.file"), 200);
    assert!(attr(&last.body, "a[rel=next]", "href").is_none());

    // Restore: the confirmation names the target, then the job restores.
    let page = get(
        &s,
        &format!("/repos/main/restore?snapshot={id}"),
        Some(&cookie),
    )
    .body;
    let token = csrf(&page);
    let target = s.restore_root.join("out");
    let t = target.to_string_lossy().into_owned();
    let form = [
        ("csrf", token.as_str()),
        ("snapshot", &id),
        ("path", ""),
        ("mode", "target"),
        ("target", &t),
    ];
    let r = post(&s, "/repos/main/restore", Some(&cookie), &form, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_well_formed("restore confirmation", &r.body);
    let real = s.restore_root.canonicalize().unwrap().join("out");
    assert!(
        texts(&r.body, "ul.replaced code").contains(&real.to_string_lossy().into_owned()),
        "{}",
        r.body
    );
    assert!(
        !target.exists(),
        "nothing is written before the confirmation"
    );
    let outside = s.path("elsewhere").to_string_lossy().into_owned();
    let bad = [
        ("csrf", token.as_str()),
        ("snapshot", &id),
        ("mode", "target"),
        ("target", &outside),
    ];
    assert_eq!(
        post(&s, "/repos/main/restore", Some(&cookie), &bad, &[]).status,
        400
    );
    let mut yes = form.to_vec();
    yes.push(("confirm", "yes"));
    let r = post(&s, "/repos/main/restore", Some(&cookie), &yes, &[]);
    assert_eq!(r.status, 303, "{}", r.body);
    let job: i64 = r
        .location
        .unwrap()
        .strip_prefix("/jobs/")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(s.wait_job(job, &admin)["status"], "succeeded");
    let restored = target.join(s.data.strip_prefix("/").unwrap());
    assert_eq!(std::fs::read(restored.join("a.txt")).unwrap(), b"alpha\n");
}
