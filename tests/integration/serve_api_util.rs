//! The harness of the API tests: a configuration file for a real `cairn
//! serve` on a free loopback port, over a real repository (local or S3,
//! as the suite runs), tokens made by `cairn serve token create`, and HTTP
//! through `ureq`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::{Env, PASSWORD};

/// A configured (and, after [`Serve::start`], running) service.
pub struct Serve {
    pub env: Env,
    pub config: PathBuf,
    pub addr: String,
    /// What the plan `files` backs up.
    pub data: PathBuf,
    /// The only directory restores may write under.
    pub restore_root: PathBuf,
    /// `http`, or `https` with [`Serve::tls_ca`] trusted.
    pub scheme: &'static str,
    pub tls_ca: Option<Vec<u8>>,
    child: Option<Child>,
}

/// A port nobody listens on now (the OS picks it).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

impl Serve {
    /// A repository, a data directory with a few files, and a configuration
    /// with the plan `files` (no schedule) and `extra` appended.
    pub fn new(extra: &str) -> Serve {
        let env = Env::new();
        let data = env.path("data");
        std::fs::create_dir_all(data.join("sub")).unwrap();
        std::fs::write(data.join("a.txt"), b"alpha\n").unwrap();
        std::fs::write(
            data.join("sub/b.bin"),
            crate::util::random_bytes(7, 300_000),
        )
        .unwrap();
        let restore_root = env.path("restores");
        std::fs::create_dir_all(&restore_root).unwrap();
        let pw = env.path("password");
        std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let config = env.path("cairn.toml");
        let text = format!(
            r#"[server]
listen = "{addr}"
state_dir = {state:?}
cache_dir = {cache:?}
restore_roots = [{root:?}]

[repositories.main]
location = {loc:?}
password_file = {pw:?}

[plans.files]
repository = "main"
paths = [{data:?}]
tags = ["api"]
{extra}
"#,
            state = env.path("state"),
            cache = env.path("serve-cache"),
            root = restore_root,
            loc = env.location,
        );
        std::fs::write(&config, text).unwrap();
        Serve {
            env,
            config,
            addr,
            data,
            restore_root,
            scheme: "http",
            tls_ca: None,
            child: None,
        }
    }

    /// `cairn --config FILE serve ARGS…`.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.env.cmd(&["--config"]);
        c.arg(&self.config).arg("serve").args(args);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run cairn serve")
    }

    /// A new token with `scopes`, as `token create` prints it.
    pub fn token(&self, name: &str, scopes: &[&str]) -> String {
        let mut args = vec!["token", "create", "--name", name];
        for s in scopes {
            args.extend(["--scope", s]);
        }
        let out = self.run(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        stdout.lines().last().expect("a token line").to_string()
    }

    /// Starts the service and waits until it answers.
    pub fn start(&mut self) {
        self.start_with(&[]);
    }

    /// [`Serve::start`] with extra environment variables.
    pub fn start_with(&mut self, vars: &[(&str, &str)]) {
        let child = self
            .cmd(&[])
            .envs(vars.iter().copied())
            .env("CAIRN_LOG", "info")
            .stdout(Stdio::null())
            .spawn()
            .expect("start cairn serve");
        self.child = Some(child);
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end {
            if let Ok((200, _)) = self.try_get("/api/v1/health", None) {
                return;
            }
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("cairn serve exited early: {st}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("cairn serve did not answer on {}", self.addr);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }

    /// An agent that returns 4xx/5xx as responses and trusts the test CA.
    pub fn agent(&self) -> ureq::Agent {
        let mut b = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)));
        if let Some(pem) = &self.tls_ca {
            let cert = ureq::tls::Certificate::from_pem(pem).expect("a PEM certificate");
            let roots = ureq::tls::RootCerts::Specific(std::sync::Arc::new(vec![cert]));
            b = b.tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build());
        }
        b.build().into()
    }

    /// A request with the bearer token, if any: status, `WWW-Authenticate`, JSON body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> (u16, Option<String>, serde_json::Value) {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(self.url(path))
            .header("Content-Type", "application/json");
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let req = req.body(body.to_string()).unwrap();
        let mut resp = self.agent().run(req).expect("request");
        let www = resp
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = resp.body_mut().read_to_vec().expect("body");
        (resp.status().as_u16(), www, json(&bytes))
    }

    fn try_get(&self, path: &str, token: Option<&str>) -> Result<(u16, Vec<u8>), ureq::Error> {
        self.get_with(&self.agent(), path, token)
    }

    /// GET through `agent` (which keeps its connections open between calls).
    pub fn get_with(
        &self,
        agent: &ureq::Agent,
        path: &str,
        token: Option<&str>,
    ) -> Result<(u16, Vec<u8>), ureq::Error> {
        let mut req = agent.get(self.url(path));
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let mut resp = req.call()?;
        let status = resp.status().as_u16();
        let body = resp.body_mut().with_config().limit(1 << 30).read_to_vec()?;
        Ok((status, body))
    }

    /// GET: status and body bytes.
    pub fn get_bytes(&self, path: &str, token: Option<&str>) -> (u16, Vec<u8>) {
        self.try_get(path, token).expect("GET")
    }

    /// GET: status and JSON body.
    pub fn get(&self, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        let (s, b) = self.get_bytes(path, token);
        (s, json(&b))
    }

    /// POST a JSON body: status and JSON body.
    pub fn post(&self, path: &str, token: Option<&str>, body: &str) -> (u16, serde_json::Value) {
        let mut req = self
            .agent()
            .post(self.url(path))
            .header("Content-Type", "application/json");
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let mut resp = req.send(body).expect("POST");
        let status = resp.status().as_u16();
        let bytes = resp.body_mut().read_to_vec().expect("body");
        (status, json(&bytes))
    }

    /// Waits for job `id` to end; its record.
    pub fn wait_job(&self, id: i64, token: &str) -> serde_json::Value {
        let end = Instant::now() + Duration::from_secs(120);
        loop {
            let (s, v) = self.get(&format!("/api/v1/jobs/{id}"), Some(token));
            assert_eq!(s, 200, "{v}");
            let st = v["status"].as_str().unwrap_or("").to_string();
            if !["queued", "running"].contains(&st.as_str()) {
                return v;
            }
            assert!(Instant::now() < end, "job {id} did not end: {v}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts a backup of the plan `files` and waits for it; the job record.
    pub fn backup(&self, token: &str) -> serde_json::Value {
        let (s, v) = self.post("/api/v1/plans/files/run", Some(token), "{}");
        assert_eq!(s, 202, "{v}");
        let job = self.wait_job(v["job"].as_i64().expect("job id"), token);
        assert_eq!(job["status"], "succeeded", "{job}");
        job
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.env.path(rel)
    }

    /// SIGTERM, then wait.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn json(bytes: &[u8]) -> serde_json::Value {
    if bytes.is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// Whether `path` exists below `root` (for restore targets).
pub fn under(root: &Path, rel: &str) -> PathBuf {
    root.join(rel)
}
