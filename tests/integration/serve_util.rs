//! Harness for the service's end-to-end tests: a configuration file for a
//! test repository, `cairn serve` as a real process on a loopback port,
//! its signals, and its job history read from `history.db` (read-only).

#![allow(dead_code)]

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::util::{Env, PASSWORD};

/// How long any awaited condition may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// Polls `f` until it returns `Some`, failing with `what` after [`DEADLINE`].
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A service configuration around a test repository.
pub struct ServeConfig {
    pub path: PathBuf,
    pub state_dir: PathBuf,
    pub port: u16,
    head: String,
}

impl ServeConfig {
    /// `[server]` and `[repositories.main]` for `env`'s repository; plans
    /// are appended by [`ServeConfig::write`].
    pub fn new(env: &Env, server_extra: &str) -> ServeConfig {
        let pass = env.path("main.pass");
        std::fs::write(&pass, format!("{PASSWORD}\n")).unwrap();
        let port = free_port();
        let state_dir = env.path("state");
        let head = format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nstate_dir = {state:?}\ncache_dir = {cache:?}\n{server_extra}\n\n\
             [repositories.main]\nlocation = {loc:?}\npassword_file = {pass:?}\n\n",
            state = state_dir.display().to_string(),
            cache = env.cache.display().to_string(),
            loc = env.location,
            pass = pass.display().to_string(),
        );
        ServeConfig {
            path: env.path("config.toml"),
            state_dir,
            port,
            head,
        }
    }

    /// Writes the file with these plans (TOML text).
    pub fn write(&self, plans: &str) {
        std::fs::write(&self.path, format!("{}{plans}", self.head)).unwrap();
    }

    /// Writes `text` as the whole file (e.g. a broken one).
    pub fn write_raw(&self, text: &str) {
        std::fs::write(&self.path, text).unwrap();
    }
}

/// `cairn serve` running as a child process; killed on drop.
pub struct Service {
    pub child: Child,
    pub stderr: PathBuf,
    pub port: u16,
}

impl Service {
    /// Starts the service and waits until its health endpoint answers.
    pub fn start(env: &Env, cfg: &ServeConfig) -> Service {
        let stderr = env.path(&format!("serve-{}.log", rand::random::<u32>()));
        let child = serve_cmd(env, cfg)
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("start cairn serve");
        let mut s = Service {
            child,
            stderr,
            port: cfg.port,
        };
        wait_for("the service to answer /api/v1/health", || {
            if let Ok(Some(st)) = s.child.try_wait() {
                panic!("cairn serve exited with {st}: {}", s.log());
            }
            s.health().then_some(())
        });
        s
    }

    pub fn health(&self) -> bool {
        get(self.port, "/api/v1/health").is_some_and(|(code, _)| code == 200)
    }

    /// What the service wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0, "kill {sig}");
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let child = &mut self.child;
        wait_for("cairn serve to exit", || child.try_wait().unwrap())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cairn serve --config FILE`, with no password or repository in its
/// environment (the configuration names them).
pub fn serve_cmd(env: &Env, cfg: &ServeConfig) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cairn"));
    c.args(["serve", "--config"])
        .arg(&cfg.path)
        .env("CAIRN_CACHE_DIR", &env.cache)
        .env_remove("CAIRN_PASSWORD")
        .env_remove("CAIRN_REPOSITORY")
        .env_remove("CAIRN_PASSWORD_FILE")
        .env_remove("CAIRN_PASSWORD_COMMAND")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    c
}

/// A plain HTTP/1.1 GET on loopback: status code and body.
pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    get_auth(port, path, None)
}

/// A GET with a bearer token.
pub fn get_auth(port: u16, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    use std::io::Write;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let code = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf.split_once("\r\n\r\n").map(|b| b.1.to_string())?;
    Some((code, body))
}

/// A token with `scopes`, from `cairn serve token create` (its last line).
pub fn token(env: &Env, cfg: &ServeConfig, scopes: &[&str]) -> String {
    let mut c = serve_cmd(env, cfg);
    c.args(["token", "create", "--name", "t"]);
    for s in scopes {
        c.args(["--scope", s]);
    }
    let out = c.stdout(Stdio::piped()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    stdout.lines().last().expect("a token line").to_string()
}

/// One row of the job history.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub plan: Option<String>,
    pub kind: String,
    pub trigger: String,
    pub status: String,
    pub snapshot_id: Option<String>,
    pub files: Option<i64>,
    pub bytes_read: Option<i64>,
    pub started_at: Option<String>,
    pub error: Option<String>,
}

/// The job history, oldest first (empty until the service created it).
pub fn jobs(state_dir: &Path) -> Vec<Job> {
    use rusqlite::OpenFlags;
    let path = state_dir.join("history.db");
    if !path.exists() {
        return Vec::new();
    }
    let Ok(c) = rusqlite::Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return Vec::new();
    };
    let _ = c.busy_timeout(Duration::from_secs(10));
    let Ok(mut stmt) = c.prepare(
        "SELECT id, plan, kind, trigger, status, snapshot_id, files, bytes_read, started_at, error
         FROM jobs ORDER BY id",
    ) else {
        return Vec::new(); // not created yet
    };
    stmt.query_map([], |r| {
        Ok(Job {
            id: r.get(0)?,
            plan: r.get(1)?,
            kind: r.get(2)?,
            trigger: r.get(3)?,
            status: r.get(4)?,
            snapshot_id: r.get(5)?,
            files: r.get(6)?,
            bytes_read: r.get(7)?,
            started_at: r.get(8)?,
            error: r.get(9)?,
        })
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

/// The job's log lines.
pub fn job_log(state_dir: &Path, id: i64) -> Vec<String> {
    let c = rusqlite::Connection::open_with_flags(
        state_dir.join("history.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut stmt = c
        .prepare("SELECT line FROM log WHERE job = ?1 ORDER BY rowid")
        .unwrap();
    stmt.query_map([id], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// The snapshot ids in the repository.
pub fn snapshot_ids(env: &Env) -> Vec<String> {
    let v = env.json(&["snapshots"]);
    v.as_array()
        .unwrap_or_else(|| panic!("snapshots --json: {v}"))
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}
