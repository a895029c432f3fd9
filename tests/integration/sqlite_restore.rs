//! Restoring over a live database that already has the snapshot's bytes:
//! its `-wal` holds later commits of a running application. Restore must
//! not delete it (the rows would be lost, and the application, still
//! writing to the deleted file, would corrupt the database); it says so.

use crate::sqlite_db::{insert, make_db};
use crate::util::*;

fn rows(c: &rusqlite::Connection) -> u32 {
    c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_live_wal_beside_an_unchanged_database_is_left_alone() {
    let env = Env::new();
    let live = env.path("live");
    std::fs::create_dir_all(&live).unwrap();
    let db = live.join("app.db");
    let app = make_db(&db, "WAL", 100);
    app.execute_batch("PRAGMA wal_autocheckpoint = 0; PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    let snap = env.backup(&[&live], &[]);
    let id = snap["snapshot_id"].as_str().unwrap().to_string();
    // The application goes on: 50 rows committed, only in its -wal.
    insert(&app, 1000, 50);
    let wal = live.join("app.db-wal");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);

    let spec = format!("{id}:{}", live.display());
    let out = env.run(&[
        "--json",
        "restore",
        &spec,
        "--target",
        live.to_str().unwrap(),
    ]);
    let report = last_json(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(report["files_unchanged"], 1, "{report}");
    assert!(wal.exists(), "the live -wal was deleted\n{stderr}");
    assert_eq!(rows(&app), 150);
    let fresh = rusqlite::Connection::open(&db).unwrap();
    assert_eq!(rows(&fresh), 150, "committed rows lost");
    let warned = report["warnings"].to_string();
    assert!(
        warned.contains("app.db") && warned.contains("-wal"),
        "{report}"
    );
}
