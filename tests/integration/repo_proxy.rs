//! The append-only proxy end to end: `cairn serve-repo` as a real process
//! on a loopback port with a tokens file, its backend the repository
//! location under test (a directory, or the test SeaweedFS when
//! `CAIRN_TEST_BACKEND=s3`), and the `cairn` client on a `rest:` location.
//! Backups work with an append-only token; deletes and overwrites are
//! refused with 403 and leave the objects alone; a proxy killed with
//! `kill -9` mid-backup loses nothing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::serve_util::{free_port, wait_for};
use crate::util::*;

pub const FULL: &str = "operator-secret-0123456789abcdef";
pub const APPEND: &str = "laptop-secret-0123456789abcdef";

/// `cairn serve-repo` in front of `env`'s repository; killed on drop.
pub struct Proxy {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Proxy {
    /// Starts a proxy on a fresh port and waits until it answers.
    pub fn start(env: &Env) -> Proxy {
        let tokens = env.path("tokens");
        std::fs::write(
            &tokens,
            format!("# test tokens\noperator full {FULL}\nlaptop append {APPEND}\n"),
        )
        .unwrap();
        let port = free_port();
        let log = env.path(&format!("proxy-{port}.log"));
        // The proxy needs no password: it moves sealed objects.
        let child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["serve-repo", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--tokens-file")
            .arg(&tokens)
            .env("CAIRN_REPOSITORY", &env.location)
            .env("CAIRN_LOG", "info")
            .env_remove("CAIRN_PASSWORD")
            .env_remove("CAIRN_PASSWORD_FILE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start cairn serve-repo");
        let mut p = Proxy { child, port, log };
        wait_for("the proxy to answer", || {
            if let Ok(Some(st)) = p.child.try_wait() {
                panic!("serve-repo exited with {st}: {}", p.log());
            }
            p.call("GET", "list?prefix=config", None, b"").ok()
        });
        p
    }

    pub fn location(&self) -> String {
        format!("rest:http://127.0.0.1:{}/", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A raw request: status and body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), ureq::Error> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("http://127.0.0.1:{}/{path}", self.port));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let mut resp = agent.run(req.body(body.to_vec()).unwrap())?;
        let bytes = resp.body_mut().with_config().limit(1 << 30).read_to_vec()?;
        Ok((resp.status().as_u16(), bytes))
    }

    fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cairn ARGS` on the proxy's `rest:` location with `token`.
fn client(env: &Env, proxy: &Proxy, token: &str, args: &[&str]) -> Command {
    let mut c = env.cmd(args);
    c.env("CAIRN_REPOSITORY", proxy.location())
        .env("CAIRN_REST_TOKEN", token);
    c
}

fn run(env: &Env, proxy: &Proxy, token: &str, args: &[&str]) -> Output {
    client(env, proxy, token, args).output().unwrap()
}

pub fn ok_json(env: &Env, proxy: &Proxy, token: &str, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = run(env, proxy, token, &all);
    assert!(
        out.status.success(),
        "cairn {args:?} through the proxy: {:?}\n{}\nproxy log:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr),
        proxy.log()
    );
    last_json(&out)
}

/// A fresh backend, a proxy in front of it, and a repository initialised
/// through the proxy with the `full` token.
fn setup(extra_init: &[&str]) -> (Env, Proxy) {
    let env = Env::uninit();
    let proxy = Proxy::start(&env);
    ok_json(&env, &proxy, FULL, &init_args(extra_init));
    (env, proxy)
}

fn make_source(root: &Path, files: u64, size: usize) {
    for i in 0..files {
        write(
            &root.join(format!("d{}/f{i}.bin", i % 3)),
            &random_bytes(i, size),
        );
    }
    write(&root.join("notes.txt"), &text_bytes(99, 20_000));
}

fn backup(env: &Env, proxy: &Proxy, src: &Path) -> serde_json::Value {
    ok_json(env, proxy, APPEND, &["backup", src.to_str().unwrap()])
}

fn restore_and_compare(env: &Env, proxy: &Proxy, src: &Path, name: &str) {
    let target = env.path(name);
    let args = [
        "restore",
        "latest",
        "--target",
        target.to_str().unwrap(),
        "--verify",
    ];
    ok_json(env, proxy, APPEND, &args);
    assert_same_tree(src, &restored(&target, src));
}

/// Every object of the backend, with its size.
fn objects(env: &Env) -> Vec<(String, u64)> {
    env.objects("")
}

#[test]
fn proxy_append_token_backs_up_dedups_restores_and_checks() {
    let (env, proxy) = setup(&[]);
    let src = env.path("src");
    make_source(&src, 6, 300_000);
    let first = backup(&env, &proxy, &src);
    assert!(first["data_blobs_added"].as_u64().unwrap() > 0, "{first}");
    let second = backup(&env, &proxy, &src);
    assert_eq!(second["data_blobs_added"], 0, "{second}");
    assert_eq!(second["bytes_read"], 0, "{second}");
    restore_and_compare(&env, &proxy, &src, "restore");
    ok_json(&env, &proxy, APPEND, &["check", "--read-data"]);
    // The backup path needed nothing the append-only policy refuses.
    assert!(!proxy.log().contains("refused"), "{}", proxy.log());
    assert_eq!(env.objects("snapshots/").len(), 2);
    assert!(env.objects("running/").is_empty(), "markers left behind");
}

#[test]
fn proxy_append_token_cannot_delete_or_overwrite() {
    let (env, proxy) = setup(&[]);
    let src = env.path("src");
    make_source(&src, 3, 100_000);
    backup(&env, &proxy, &src);
    // The second snapshot lacks a file, so forgetting the first frees data.
    std::fs::remove_file(src.join("d0/f0.bin")).unwrap();
    write(&src.join("new.bin"), &random_bytes(7, 50_000));
    backup(&env, &proxy, &src);
    let before = objects(&env);
    let (pack, _) = env.objects("packs/").into_iter().next().expect("a pack");
    let original = env.storage().get(&pack).unwrap();
    let path = format!("o/{pack}");

    let (status, body) = proxy.call("DELETE", &path, Some(APPEND), b"").unwrap();
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("append-only"));
    let (status, _) = proxy.call("PUT", &path, Some(APPEND), b"ransom").unwrap();
    assert_eq!(status, 403);
    let (status, _) = proxy.call("PUT", &path, Some(APPEND), &original).unwrap();
    assert_eq!(status, 204, "a retried upload of the same bytes");
    for token in [
        None,
        Some("wrong-token-0123456789abcdef"),
        Some(&APPEND[1..]),
    ] {
        for (method, body) in [("GET", &b""[..]), ("DELETE", b""), ("PUT", b"x")] {
            let (status, _) = proxy.call(method, &path, token, body).unwrap();
            assert_eq!(status, 401, "{method} with {token:?}");
        }
        assert_eq!(
            proxy.call("GET", "list?prefix=", token, b"").unwrap().0,
            401
        );
    }
    assert_eq!(
        env.storage().get(&pack).unwrap(),
        original,
        "the pack changed"
    );
    assert!(!proxy.log().contains(APPEND), "a token in the proxy's log");

    // forget and prune with the append token: refused clearly, no panic.
    for args in [
        &["forget", "--keep-last", "1"][..],
        &["forget", "--keep-last", "1", "--prune"],
    ] {
        refused(&env, &proxy, args);
    }
    assert_eq!(
        objects(&env),
        before,
        "a refused forget changed the repository"
    );
    // The operator forgets with the full token; an append-token prune,
    // which now has data to delete, is refused too.
    ok_json(&env, &proxy, FULL, &["forget", "--keep-last", "1"]);
    let before = objects(&env);
    refused(&env, &proxy, &["prune", "--grace", "0"]);
    let after = objects(&env);
    for o in &before {
        assert!(after.contains(o), "{o:?} was deleted or changed");
    }
    assert_eq!(env.objects("snapshots/").len(), 1);
    ok_json(&env, &proxy, APPEND, &["check"]);
}

/// Runs `args` with the append token and asserts a clear refusal.
fn refused(env: &Env, proxy: &Proxy, args: &[&str]) {
    let out = run(env, proxy, APPEND, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(
        stderr.contains("this token is append-only"),
        "{args:?}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains(APPEND), "the token in a message: {stderr}");
}

#[test]
fn proxy_killed_mid_backup_loses_nothing() {
    let (env, mut proxy) = setup(&["--pack-size-mib", "1"]);
    let src = env.path("src");
    make_source(&src, 40, 1 << 20);
    let mut child = client(&env, &proxy, APPEND, &["backup", src.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Freeze the client once it has stored a pack, so the kill lands
    // mid-backup whatever the machine's speed.
    wait_for("the first pack through the proxy", || {
        (!env.objects("packs/").is_empty()).then_some(())
    });
    signal(&child, libc::SIGSTOP);
    let stored = objects(&env);
    proxy.kill9();
    signal(&child, libc::SIGCONT);
    let out = wait_for("the client to give up", || child.try_wait().unwrap());
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(
        !out.success(),
        "the backup finished without its proxy: {stderr}"
    );
    assert_eq!(out.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("talking to the proxy"), "{stderr}");

    let proxy = Proxy::start(&env);
    backup(&env, &proxy, &src);
    ok_json(&env, &proxy, APPEND, &["check", "--read-data"]);
    restore_and_compare(&env, &proxy, &src, "restore");
    let after = objects(&env);
    for o in stored.iter().filter(|(k, _)| !k.starts_with("running/")) {
        assert!(after.contains(o), "{o:?} lost");
    }
}

#[test]
fn proxy_rereads_its_tokens_on_sighup() {
    let (env, proxy) = setup(&[]);
    let newer = "rotated-secret-0123456789abcdef";
    let (status, _) = proxy.call("GET", "list?prefix=", Some(newer), b"").unwrap();
    assert_eq!(status, 401);
    std::fs::write(env.path("tokens"), format!("laptop append {newer}\n")).unwrap();
    signal(&proxy.child, libc::SIGHUP);
    wait_for("the new token to be accepted", || {
        let (status, _) = proxy.call("GET", "list?prefix=", Some(newer), b"").unwrap();
        (status == 200).then_some(())
    });
    for old in [FULL, APPEND] {
        let (status, _) = proxy.call("GET", "list?prefix=", Some(old), b"").unwrap();
        assert_eq!(status, 401, "a removed token still works");
    }
    // A broken file keeps the tokens in force.
    std::fs::write(env.path("tokens"), "laptop bogus-scope x\n").unwrap();
    signal(&proxy.child, libc::SIGHUP);
    wait_for("the reload error in the log", || {
        proxy.log().contains("tokens not reloaded").then_some(())
    });
    let (status, _) = proxy.call("GET", "list?prefix=", Some(newer), b"").unwrap();
    assert_eq!(status, 200);
    // So does an emptied one, as at start: it would lock everyone out.
    std::fs::write(env.path("tokens"), "# all revoked?\n").unwrap();
    signal(&proxy.child, libc::SIGHUP);
    wait_for("the empty-file error in the log", || {
        proxy.log().contains("no tokens in it").then_some(())
    });
    let (status, _) = proxy.call("GET", "list?prefix=", Some(newer), b"").unwrap();
    assert_eq!(status, 200, "an empty tokens file was loaded");
    assert!(!proxy.log().contains(newer), "a token in the proxy's log");
}

#[test]
fn proxy_usage_errors_are_clear() {
    let (env, proxy) = setup(&[]);
    // A client without a token is told where to put one.
    let out = env
        .cmd(&["snapshots"])
        .env("CAIRN_REPOSITORY", proxy.location())
        .env_remove("CAIRN_REST_TOKEN")
        .env_remove("CAIRN_REST_TOKEN_FILE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("CAIRN_REST_TOKEN_FILE"), "{stderr}");
    // The token from a file works like the variable.
    let file = env.path("client-token");
    std::fs::write(&file, format!("{APPEND}\n")).unwrap();
    let out = env
        .cmd(&["snapshots"])
        .env("CAIRN_REPOSITORY", proxy.location())
        .env_remove("CAIRN_REST_TOKEN")
        .env("CAIRN_REST_TOKEN_FILE", &file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A wrong token: the command fails and says so, without echoing it.
    let wrong = "wrong-secret-0123456789abcdef";
    let out = run(&env, &proxy, wrong, &["snapshots"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refused the token"), "{stderr}");
    assert!(!stderr.contains(wrong), "{stderr}");
    // Tokens in clear text across the network need a stated reason.
    let out = env
        .cmd(&["serve-repo", "--listen", "0.0.0.0:1", "--tokens-file"])
        .arg(env.path("tokens"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--insecure-listen"), "{stderr}");
}

/// The start-up probe of create-only writes ran and left nothing behind,
/// and an Object Lock repository cannot be created through the proxy (the
/// protocol carries no retention), not even with the `full` token.
#[test]
fn proxy_probes_create_only_writes_and_refuses_object_lock() {
    let env = Env::uninit();
    let proxy = Proxy::start(&env);
    assert!(
        proxy.log().contains("create-only writes checked"),
        "{}",
        proxy.log()
    );
    assert!(env.objects("").is_empty(), "the probe was left behind");
    let out = run(&env, &proxy, FULL, &init_args(&["--object-lock", "1"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("has no Object Lock enabled"), "{stderr}");
    assert!(env.objects("").is_empty(), "stored without protection");
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}
