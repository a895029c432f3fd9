//! The job history: one SQLite database (`history.db` in the state
//! directory, WAL mode) with a row per job and its log lines in a second
//! table. It outlives the process: a job a killed process left `queued` or
//! `running` is marked `failed` when the next one opens the history, so no
//! row ever claims to run when nothing does. Times are RFC 3339 UTC with
//! milliseconds, which sort as strings (pruning compares them so).

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension, Row};

use cairn::{Error, Result};

use super::model::{
    JobFigures, JobFilter, JobId, JobKind, JobRecord, JobRequest, JobStatus, Trigger,
};

/// The schema this code writes; older ones are migrated in `migrate`.
const SCHEMA_VERSION: i64 = 2;

/// What the history says of a job a previous process left unfinished.
pub const STOPPED_WHILE_RUNNING: &str = "the service stopped while it ran";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    plan TEXT,
    repository TEXT NOT NULL,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,
    queued_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    snapshot_id TEXT,
    files INTEGER,
    bytes_read INTEGER,
    bytes_added INTEGER,
    bytes_stored INTEGER,
    requests_class_a INTEGER,
    requests_class_b INTEGER,
    error TEXT,
    repository_bytes INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_plan ON jobs (plan, kind, id);
CREATE TABLE IF NOT EXISTS log (
    job INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    time TEXT NOT NULL,
    line TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_job ON log (job);
";

const COLUMNS: &str = "id, kind, plan, repository, trigger, status, queued_at, started_at, \
    finished_at, snapshot_id, files, bytes_read, bytes_added, bytes_stored, \
    requests_class_a, requests_class_b, error, repository_bytes";

/// The history database. One connection behind a mutex: writes are a few
/// per job, reads are API listings.
pub struct History {
    db: Mutex<Connection>,
}

/// Now, as the history writes times.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn db_err(e: rusqlite::Error) -> Error {
    Error::Internal(format!("job history: {e}"))
}

impl History {
    /// Opens (creating) `state_dir/history.db` and marks jobs a previous
    /// process left unfinished as failed.
    pub fn open(state_dir: &Path) -> Result<History> {
        std::fs::create_dir_all(state_dir).map_err(|e| Error::io(state_dir, e))?;
        let path = state_dir.join("history.db");
        let conn = Connection::open(&path).map_err(db_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(db_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(db_err)?;
        migrate(&conn)?;
        let h = History {
            db: Mutex::new(conn),
        };
        h.fail_unfinished()?;
        Ok(h)
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Jobs still `queued` or `running` belong to a process that is gone.
    fn fail_unfinished(&self) -> Result<()> {
        let n = self
            .conn()
            .execute(
                "UPDATE jobs SET status = 'failed', error = ?1, finished_at = ?2
                 WHERE status IN ('queued', 'running')",
                params![STOPPED_WHILE_RUNNING, now()],
            )
            .map_err(db_err)?;
        if n > 0 {
            tracing::warn!("{n} job(s) left unfinished by the previous run marked failed");
        }
        Ok(())
    }

    /// Records a new `queued` job.
    pub fn insert(&self, req: &JobRequest) -> Result<JobId> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO jobs (kind, plan, repository, trigger, status, queued_at)
             VALUES (?1, ?2, ?3, ?4, 'queued', ?5)",
            params![
                name(&req.kind),
                req.plan,
                req.repository,
                name(&req.trigger),
                now()
            ],
        )
        .map_err(db_err)?;
        Ok(conn.last_insert_rowid())
    }

    /// The job started.
    pub fn set_running(&self, id: JobId) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE jobs SET status = 'running', started_at = ?2 WHERE id = ?1",
                params![id, now()],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// The job ended (`succeeded`, `failed` or `cancelled`), with what it did.
    pub fn finish(
        &self,
        id: JobId,
        status: JobStatus,
        f: &JobFigures,
        error: Option<&str>,
    ) -> Result<()> {
        let u = |v: Option<u64>| v.map(|v| v as i64);
        self.conn()
            .execute(
                "UPDATE jobs SET status = ?2, finished_at = ?3, snapshot_id = ?4, files = ?5,
                 bytes_read = ?6, bytes_added = ?7, bytes_stored = ?8,
                 requests_class_a = ?9, requests_class_b = ?10, error = ?11,
                 repository_bytes = ?12
                 WHERE id = ?1",
                params![
                    id,
                    name(&status),
                    now(),
                    f.snapshot_id,
                    u(f.files),
                    u(f.bytes_read),
                    u(f.bytes_added),
                    u(f.bytes_stored),
                    u(f.requests_class_a),
                    u(f.requests_class_b),
                    error,
                    u(f.repository_bytes)
                ],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Appends one line to the job's log.
    pub fn append_log(&self, id: JobId, line: &str) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO log (job, time, line) VALUES (?1, ?2, ?3)",
                params![id, now(), line],
            )
            .map_err(db_err)?;
        Ok(())
    }

    pub fn get(&self, id: JobId) -> Result<Option<JobRecord>> {
        // Cached: API clients poll this, and parsing the SQL anew cost
        // more than running it.
        let sql = format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1");
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&sql).map_err(db_err)?;
        stmt.query_row(params![id], record)
            .optional()
            .map_err(db_err)
    }

    /// Jobs matching `f`, newest first.
    pub fn list(&self, f: &JobFilter) -> Result<Vec<JobRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM jobs
             WHERE (?1 IS NULL OR plan = ?1) AND (?2 IS NULL OR kind = ?2)
               AND (?3 IS NULL OR status = ?3) AND (?4 IS NULL OR repository = ?4)
               AND (?5 IS NULL OR id < ?5)
             ORDER BY id DESC LIMIT ?6"
        );
        let limit = f.limit.unwrap_or(100).clamp(1, 1000);
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&sql).map_err(db_err)?;
        let rows = stmt
            .query_map(
                params![
                    f.plan,
                    f.kind.as_ref().map(name),
                    f.status.as_ref().map(name),
                    f.repository,
                    f.before,
                    limit
                ],
                record,
            )
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db_err)
    }

    /// The job's log lines, oldest first, with their times.
    pub fn log(&self, id: JobId) -> Result<Vec<(String, String)>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT time, line FROM log WHERE job = ?1 ORDER BY rowid")
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![id], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db_err)
    }

    /// The repository's recorded sizes, newest first, at most `limit`:
    /// `(snapshot the job saved, if any; repository bytes after it)`.
    pub fn sizes(&self, repository: &str, limit: usize) -> Result<Vec<(Option<String>, u64)>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT snapshot_id, repository_bytes FROM jobs
                 WHERE repository = ?1 AND repository_bytes IS NOT NULL
                 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![repository, limit as i64], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))
            })
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db_err)
    }

    /// The plan's newest job of `kind` (with `status`, if given).
    pub fn last(
        &self,
        plan: &str,
        kind: JobKind,
        status: Option<JobStatus>,
    ) -> Result<Option<JobRecord>> {
        let f = JobFilter {
            plan: Some(plan.to_string()),
            kind: Some(kind),
            status,
            limit: Some(1),
            ..JobFilter::default()
        };
        Ok(self.list(&f)?.into_iter().next())
    }

    /// Deletes jobs (and their logs) that finished more than `days` days ago.
    pub fn prune(&self, days: u32) -> Result<usize> {
        let cutoff = chrono::Utc::now() - chrono::Duration::days(days as i64);
        let cutoff = cutoff.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        self.conn()
            .execute(
                "DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?1",
                params![cutoff],
            )
            .map_err(db_err)
    }
}

#[cfg(test)]
impl History {
    /// Moves a job's start (tests of what the scheduler does with old runs).
    pub fn set_started_at(&self, id: JobId, at: &str) {
        self.conn()
            .execute(
                "UPDATE jobs SET started_at = ?2 WHERE id = ?1",
                params![id, at],
            )
            .unwrap();
    }
}

fn migrate(conn: &Connection) -> Result<()> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(db_err)?;
    if version > SCHEMA_VERSION {
        return Err(Error::Usage(format!(
            "the job history was written by a newer cairn (schema {version}, this one knows {SCHEMA_VERSION})"
        )));
    }
    if version == 1 {
        // Schema 2 records the repository's size after each job.
        conn.execute_batch("ALTER TABLE jobs ADD COLUMN repository_bytes INTEGER")
            .map_err(db_err)?;
    }
    conn.execute_batch(SCHEMA).map_err(db_err)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(db_err)
}

/// The name serde gives a vocabulary value (`backup`, `running`, `api`).
fn name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn parse<T: serde::de::DeserializeOwned>(s: String) -> rusqlite::Result<T> {
    serde_json::from_value(serde_json::Value::String(s.clone()))
        .map_err(|_| rusqlite::Error::InvalidColumnType(0, s, rusqlite::types::Type::Text))
}

fn record(r: &Row<'_>) -> rusqlite::Result<JobRecord> {
    let u = |i: usize| -> rusqlite::Result<Option<u64>> {
        Ok(r.get::<_, Option<i64>>(i)?.map(|v| v as u64))
    };
    Ok(JobRecord {
        id: r.get(0)?,
        kind: parse(r.get(1)?)?,
        plan: r.get(2)?,
        repository: r.get(3)?,
        trigger: parse::<Trigger>(r.get(4)?)?,
        status: parse(r.get(5)?)?,
        queued_at: r.get(6)?,
        started_at: r.get(7)?,
        finished_at: r.get(8)?,
        figures: JobFigures {
            snapshot_id: r.get(9)?,
            files: u(10)?,
            bytes_read: u(11)?,
            bytes_added: u(12)?,
            bytes_stored: u(13)?,
            requests_class_a: u(14)?,
            requests_class_b: u(15)?,
            repository_bytes: u(17)?,
        },
        error: r.get(16)?,
    })
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
