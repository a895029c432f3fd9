//! `PRAGMA quick_check` / `integrity_check`, run inside the snapshot's read
//! transaction (so the check sees exactly the pages that are stored) or on
//! a restored file at rest.

use std::path::Path;

use super::open::{is_corruption, open_at_rest, preflight, sql_error};
use super::{CheckLevel, CheckResult};
use crate::Result;

/// At most this many lines of a failed check are kept for the report.
const MAX_LINES: usize = 10;
/// ... and at most this many bytes.
const MAX_BYTES: usize = 1024;

/// Runs the check at `level` on an open connection. Damage SQLite reports
/// as an error instead of report lines (a page it cannot parse) is a failed
/// check too; any other error (I/O, busy) is returned.
pub(super) fn run(conn: &rusqlite::Connection, level: CheckLevel) -> rusqlite::Result<CheckResult> {
    let sql = match level {
        CheckLevel::None => return Ok(passed(level)),
        CheckLevel::Quick => "PRAGMA quick_check(10)",
        CheckLevel::Full => "PRAGMA integrity_check(10)",
    };
    let lines = conn.prepare(sql).and_then(|mut stmt| {
        stmt.query_map([], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<String>>>()
    });
    let lines = match lines {
        Ok(lines) => lines,
        Err(e) if is_corruption(&e) => vec![e.to_string()],
        Err(e) => return Err(e),
    };
    if lines.len() == 1 && lines[0] == "ok" {
        return Ok(passed(level));
    }
    Ok(CheckResult {
        level,
        ok: false,
        report: report(&lines),
    })
}

fn passed(level: CheckLevel) -> CheckResult {
    CheckResult {
        level,
        ok: true,
        report: String::new(),
    }
}

/// The first lines of a failed check, within the line and byte limits.
fn report(lines: &[String]) -> String {
    // One row of the check's output may hold several lines.
    let mut out = lines
        .iter()
        .flat_map(|l| l.lines())
        .take(MAX_LINES)
        .collect::<Vec<_>>()
        .join("\n");
    if out.is_empty() {
        out = "check returned no lines".into();
    }
    if out.len() > MAX_BYTES {
        let mut end = MAX_BYTES;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    out
}

/// See [`super::check_file`]. A file SQLite cannot read as a database at
/// all (damaged header, truncated) is a failed check, not an error: restore
/// reports it like any other failure. A missing file or one that is not a
/// regular file is an error.
pub(super) fn check_file(path: &Path, level: CheckLevel) -> Result<CheckResult> {
    if let Err(e) = preflight(path) {
        return match e {
            crate::Error::File { source, .. }
                if source.kind() == std::io::ErrorKind::InvalidData =>
            {
                Ok(CheckResult {
                    level,
                    ok: false,
                    report: source.to_string(),
                })
            }
            e => Err(e),
        };
    }
    if level == CheckLevel::None {
        return Ok(passed(level));
    }
    let conn = open_at_rest(path)?;
    run(&conn, level).map_err(|e| sql_error(path, e, std::time::Duration::ZERO))
}
