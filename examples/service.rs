//! A service that backs itself up through the cairn library, the way the
//! applications that asked for cairn do: it keeps a SQLite database open
//! and, on SIGTERM or on `POST /backup`, flushes what it holds in memory,
//! backs the database up (tag `shutdown` or `manual`), and applies a 30-day
//! retention with a floor of 3 snapshots. DuckDB users do the same with
//! their own connection after `CHECKPOINT`.
//!
//! ```text
//! CAIRN_REPOSITORY=/srv/backups CAIRN_PASSWORD_FILE=/etc/app/backup.pw \
//! SERVICE_DATA=/var/lib/app SERVICE_ADDR=127.0.0.1:8080 cargo run --example service
//! curl -X POST 127.0.0.1:8080/rows -d 100     # buffer 100 rows in memory
//! curl -X POST 127.0.0.1:8080/backup          # flush, back up, forget
//! kill -TERM <pid>                            # flush, back up, forget, exit
//! ```
//!
//! Every answer and the final report are one JSON line. The repository is
//! created on first start; the password is read from the file, never from
//! the command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use cairn::app::{Backups, Options, Retention};
use rusqlite::Connection;
use serde_json::{json, Value};

/// What the service holds: its database and rows not yet written to it.
struct App {
    db: Mutex<Db>,
    db_path: PathBuf,
    backups: Backups,
}

struct Db {
    conn: Connection,
    pending: u64,
    next: u64,
}

impl App {
    /// Writes the buffered rows in one transaction: after this, the
    /// database file (with its `-wal`) holds everything the service knows.
    fn flush(&self) -> rusqlite::Result<u64> {
        let mut db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        let (start, n) = (db.next, db.pending);
        let tx = db.conn.transaction()?;
        for i in start..start + n {
            tx.execute(
                "INSERT INTO events (id, body) VALUES (?1, ?2)",
                (i, format!("event {i}")),
            )?;
        }
        tx.commit()?;
        db.next += n;
        db.pending = 0;
        Ok(db.next)
    }

    /// Flush, back up with `tag`, apply the retention. Blocking.
    fn backup(&self, tag: &str) -> Result<Value, String> {
        let rows = self
            .flush()
            .map_err(|e| format!("flushing the database: {e}"))?;
        let report = self
            .backups
            .backup(std::slice::from_ref(&self.db_path), &[tag])
            .map_err(|e| format!("backup: {e}"))?;
        let forgotten = self
            .backups
            .forget(&Retention::within_days(30, 3))
            .map_err(|e| format!("retention: {e}"))?;
        Ok(json!({
            "tag": tag,
            "snapshot": report.snapshot_id.map(|id| id.to_string()),
            "rows": rows,
            "complete": report.is_complete(),
            "kept": forgotten.kept(),
            "removed": forgotten.removed.len(),
        }))
    }
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

fn open(data: PathBuf) -> Result<App, String> {
    let location = env("CAIRN_REPOSITORY")?;
    let pw_file = env("CAIRN_PASSWORD_FILE")?;
    let password = std::fs::read(&pw_file).map_err(|e| format!("{pw_file}: {e}"))?;
    let password = password.strip_suffix(b"\n").unwrap_or(&password);
    let mut options = Options {
        cache_dir: std::env::var_os("CAIRN_CACHE_DIR").map(PathBuf::from),
        ..Options::default()
    };
    if std::env::var_os("SERVICE_INSECURE_KDF").is_some() {
        // Tests only: a cheap key derivation for a throwaway repository.
        options.init.kdf = Some(cairn::crypto::KdfParams::insecure_for_tests());
    }
    let backups = Backups::open_or_init(&location, password, &options)
        .map_err(|e| format!("repository {location}: {e}"))?;
    std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
    let db_path = data.join("app.db");
    let conn = Connection::open(&db_path).map_err(|e| format!("{}: {e}", db_path.display()))?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL;
         CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
    )
    .map_err(|e| format!("{}: {e}", db_path.display()))?;
    let next: u64 = conn
        .query_row("SELECT COALESCE(MAX(id) + 1, 0) FROM events", [], |r| {
            r.get(0)
        })
        .map_err(|e| format!("{}: {e}", db_path.display()))?;
    let db = Mutex::new(Db {
        conn,
        pending: 0,
        next,
    });
    Ok(App {
        db,
        db_path,
        backups,
    })
}

async fn add_rows(State(app): State<Arc<App>>, body: String) -> (StatusCode, Json<Value>) {
    let Ok(n) = body.trim().parse::<u64>() else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "body must be a row count"})),
        );
    };
    let mut db = app.db.lock().unwrap_or_else(|p| p.into_inner());
    db.pending += n;
    (StatusCode::OK, Json(json!({"pending": db.pending})))
}

async fn backup_now(State(app): State<Arc<App>>) -> (StatusCode, Json<Value>) {
    let done = tokio::task::spawn_blocking(move || app.backup("manual")).await;
    match done {
        Ok(Ok(v)) => (StatusCode::OK, Json(v)),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": e}))),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": e.to_string()})),
        ),
    }
}

async fn run() -> Result<(), String> {
    let data = PathBuf::from(env("SERVICE_DATA")?);
    let addr: SocketAddr = std::env::var("SERVICE_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:8080".into())
        .parse()
        .map_err(|e| format!("SERVICE_ADDR: {e}"))?;
    let app = Arc::new(
        tokio::task::spawn_blocking(move || open(data))
            .await
            .map_err(|e| e.to_string())??,
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    println!("{}", json!({"listening": local.to_string()}));
    let router = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/rows", post(add_rows))
        .route("/backup", post(backup_now))
        .with_state(app.clone());
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            term.recv().await;
        })
        .await
        .map_err(|e| format!("serving: {e}"))?;
    // SIGTERM: the server has stopped taking requests; save the state.
    let report = tokio::task::spawn_blocking(move || app.backup("shutdown"))
        .await
        .map_err(|e| e.to_string())??;
    println!("{report}");
    Ok(())
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("service: {e}");
        std::process::exit(1);
    }
}
