//! `cairn backup`'s SQLite flags (`--sqlite`, `--no-sqlite`,
//! `--sqlite-check`) and how databases show in its output.

use cairn::backup::{DatabaseOptions, DatabaseReport};
use cairn::source::sqlite::CheckLevel;
use cairn::Result;

use crate::cli::args::{BackupArgs, Global, SqliteCheckArg};

/// The options, after checking that every `--sqlite` file is a database
/// (a usage error naming it otherwise: exit 2).
pub fn options(g: &Global, a: &BackupArgs) -> Result<DatabaseOptions> {
    let named = DatabaseOptions::name_files("--sqlite", &a.sqlite)?;
    let temp_dir = g
        .cache_dir
        .clone()
        .or_else(cairn::repo::default_cache_root)
        .filter(|d| std::fs::create_dir_all(d).is_ok())
        .unwrap_or_else(std::env::temp_dir);
    Ok(DatabaseOptions {
        recognise: !a.no_sqlite,
        named,
        check: match a.sqlite_check {
            SqliteCheckArg::Quick => CheckLevel::Quick,
            SqliteCheckArg::Full => CheckLevel::Full,
            SqliteCheckArg::None => CheckLevel::None,
        },
        temp_dir,
    })
}

/// The `databases` object of `backup --json`'s summary.
pub fn json(r: &DatabaseReport) -> serde_json::Value {
    serde_json::json!({
        "count": r.count,
        "failed_checks": r.failed_checks,
        "fallback": r.fallback,
        "not_snapshotted": r.not_snapshotted,
        "needs_v2": r.needs_v2,
    })
}

/// One line in the text summary when there were databases.
pub fn print(r: &DatabaseReport) {
    if r.count == 0 && r.not_snapshotted.is_empty() {
        return;
    }
    println!(
        "databases: {} consistent snapshots, {} failed checks, {} through a temporary copy, {} stored raw",
        r.count,
        r.failed_checks.len(),
        r.fallback.len(),
        r.not_snapshotted.len()
    );
}

/// The closing warnings when databases made the snapshot incomplete.
pub fn warn_incomplete(r: &DatabaseReport) {
    for f in &r.failed_checks {
        eprintln!(
            "warning: database {} failed its check (stored anyway): {}",
            f.path.display(),
            f.report.lines().next().unwrap_or("")
        );
    }
    for n in &r.not_snapshotted {
        eprintln!(
            "warning: database {} could not be snapshotted; its raw file was stored: {}",
            n.path.display(),
            n.error
        );
    }
}
