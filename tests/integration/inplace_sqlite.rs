//! Issue 14, in-place restore of a SQLite database that is live at the
//! destination: a writer left rows in its `-wal` (and a `-shm`) beside the
//! database. After the restore those stale companions are gone (the next
//! opener would otherwise replay the old `-wal` into the new file), and the
//! database passes `integrity_check` with exactly the snapshot's rows. A
//! snapshot whose database fails `quick_check` replaces nothing.

use std::path::Path;
use std::process::Command;

use crate::inplace::assert_no_staging;
use crate::util::*;

fn python(script: &str, db: &Path) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(db)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A WAL-mode database with `n` rows, checkpointed and closed.
const CREATE: &str = r#"
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("PRAGMA journal_mode=WAL")
c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
c.executemany("INSERT INTO t (v) VALUES (?)", [("row %d" % i * 20,) for i in range(2000)])
c.commit()
c.close()
"#;

/// Adds rows with checkpoints off and dies without closing: the rows are
/// only in the `-wal`, which stays beside the database with its `-shm`.
const WRITE_AND_DIE: &str = r#"
import sqlite3, sys, os
c = sqlite3.connect(sys.argv[1])
c.execute("PRAGMA wal_autocheckpoint=0")
c.execute("UPDATE t SET v = 'changed' WHERE id % 3 = 0")
c.executemany("INSERT INTO t (v) VALUES (?)", [("late",)] * 500)
c.commit()
os._exit(0)
"#;

const CHECK: &str = r#"
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
ok = c.execute("PRAGMA integrity_check").fetchone()[0]
n = c.execute("SELECT count(*) FROM t").fetchone()[0]
changed = c.execute("SELECT count(*) FROM t WHERE v = 'changed'").fetchone()[0]
print(ok, n, changed)
"#;

fn companion(db: &Path, suffix: &str) -> std::path::PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

#[test]
fn stale_wal_and_shm_are_removed_and_the_database_has_the_snapshots_rows() {
    let env = Env::new();
    let dir = env.path("app");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("app.db");
    python(CREATE, &db);
    let s = env.backup(&[&dir], &[]);
    let snapshot = s["snapshot_id"].as_str().unwrap().to_string();
    python(WRITE_AND_DIE, &db);
    assert!(companion(&db, "-wal").exists() && companion(&db, "-shm").exists());
    assert_eq!(
        python(CHECK, &db),
        "ok 2500 666",
        "the live database has the new rows"
    );
    // The check above opened and closed the database: make the -wal live again.
    python(WRITE_AND_DIE, &db);
    assert!(std::fs::metadata(companion(&db, "-wal")).unwrap().len() > 0);
    // What the live database holds, read from a copy (opening it would
    // checkpoint its -wal away).
    let copy = env.path("copy");
    std::fs::create_dir_all(&copy).unwrap();
    for suffix in ["", "-wal", "-shm"] {
        std::fs::copy(
            companion(&db, suffix),
            companion(&copy.join("app.db"), suffix),
        )
        .unwrap();
    }
    let live_rows = python(CHECK, &copy.join("app.db"));
    assert_eq!(live_rows, "ok 3000 833");

    let r = env.json(&["restore", &snapshot, "--in-place"]);
    assert_eq!(r["files_swapped"], 1, "{r}");
    assert_eq!(r["databases_checked"], 1, "{r}");
    assert_eq!(r["companions_removed"].as_array().unwrap().len(), 2, "{r}");
    assert!(!companion(&db, "-wal").exists(), "stale -wal left");
    assert!(!companion(&db, "-shm").exists(), "stale -shm left");
    assert_eq!(python(CHECK, &db), "ok 2000 0", "not the snapshot's rows");
    assert_no_staging(&dir);
    // The safety snapshot took the live database with the rows only its
    // -wal held: restoring it in place brings them all back.
    let safety = r["safety_snapshot"].as_str().unwrap().to_string();
    env.json(&["restore", &safety, "--in-place"]);
    assert_eq!(python(CHECK, &db), live_rows, "the undo lost rows");
}

#[test]
fn a_staged_database_failing_quick_check_replaces_nothing() {
    let env = Env::new();
    let dir = env.path("app");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("app.db");
    python(CREATE, &db);
    // Damage a table page's header (not the file's): the file is still recognised
    // as a database, and quick_check reports the damage.
    let mut bytes = std::fs::read(&db).unwrap();
    let page = 4096;
    for b in &mut bytes[3 * page..3 * page + 64] {
        *b = 0xA5;
    }
    std::fs::write(&db, &bytes).unwrap();
    // A backup that notices the damage still stores the database.
    let s = last_json(&env.run(&["--json", "backup", dir.to_str().unwrap()]));
    let snapshot = s["snapshot_id"].as_str().unwrap().to_string();
    let live = b"the live database, not to be touched";
    std::fs::write(&db, live).unwrap();
    let out = env.run(&["restore", &snapshot, "--in-place"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("app.db") && err.contains("quick_check"),
        "{err}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), live);
    assert_no_staging(&dir);
}
