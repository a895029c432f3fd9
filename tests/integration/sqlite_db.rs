//! SQLite databases in backups (issue 14): consistent snapshots with their
//! `-wal` content, companions left out, a corrupted database among seven,
//! `-wal`-only change detection, `--sqlite`/`--no-sqlite`, and a
//! version-1 repository. Real SQLite files through rusqlite and python3.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::util::*;

/// A database with `rows` rows of ~300 bytes in table `t` (with an index),
/// in the given journal mode; the connection stays open for more writes.
pub fn make_db(path: &Path, mode: &str, rows: u32) -> Connection {
    let c = Connection::open(path).unwrap();
    let _: String = c
        .query_row(&format!("PRAGMA journal_mode = {mode}"), [], |r| r.get(0))
        .unwrap();
    c.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, pad BLOB); CREATE INDEX t_v ON t(v);",
    )
    .unwrap();
    insert(&c, 0, rows);
    c
}

pub fn insert(c: &Connection, from: u32, n: u32) {
    c.execute_batch("BEGIN").unwrap();
    for i in from..from + n {
        c.execute(
            "INSERT INTO t(id, v, pad) VALUES (?1, 'row ' || ?1, randomblob(300))",
            [i],
        )
        .unwrap();
    }
    c.execute_batch("COMMIT").unwrap();
}

pub fn count(path: &Path) -> u32 {
    let c = Connection::open(path).unwrap();
    c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap()
}

pub fn integrity(path: &Path) -> String {
    let c = Connection::open(path).unwrap();
    c.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

/// Damages the b-tree root page of table `t` so every check fails.
pub fn damage(db: &Path) {
    let c = Connection::open(db).unwrap();
    let (root, page): (u64, u64) = c
        .query_row(
            "SELECT rootpage, (SELECT page_size FROM pragma_page_size) FROM sqlite_schema WHERE name = 't'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    drop(c);
    let mut bytes = std::fs::read(db).unwrap();
    let at = ((root - 1) * page) as usize;
    bytes[at] = 0x77;
    bytes[at + 3] ^= 0xff;
    std::fs::write(db, bytes).unwrap();
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Restores snapshot `id` into a fresh directory and returns it.
pub fn restore_into(env: &Env, id: &str, name: &str) -> PathBuf {
    let target = env.path(name);
    env.ok(&["restore", id, "--target", s(&target)]);
    target
}

#[test]
fn rows_only_in_the_wal_are_restored_and_companions_are_not_stored() {
    let env = Env::new();
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    let db = src.join("app.db");
    let c = make_db(&db, "wal", 200);
    c.execute_batch("PRAGMA wal_autocheckpoint = 0").unwrap();
    // Committed, never checkpointed: these rows live only in app.db-wal.
    insert(&c, 200, 300);
    assert!(src.join("app.db-wal").metadata().unwrap().len() > 0);
    write(&src.join("notes.txt"), b"plain file");
    let sum = env.backup(&[&src], &[]);
    assert_eq!(sum["databases"]["count"], 1, "{sum}");
    assert_eq!(sum["databases"]["needs_v2"], false);
    let ls = String::from_utf8(env.ok(&["ls", "latest"]).stdout).unwrap();
    assert!(ls.contains("app.db") && ls.contains("notes.txt"), "{ls}");
    for companion in ["app.db-wal", "app.db-shm", "app.db-journal"] {
        assert!(!ls.contains(companion), "{companion} stored:\n{ls}");
    }
    // A stale -wal at the target would be replayed into the restored file.
    let target = env.path("restored");
    let at = restored(&target, &src);
    std::fs::create_dir_all(&at).unwrap();
    std::fs::copy(src.join("app.db-wal"), at.join("app.db-wal")).unwrap();
    let out = env.json(&["restore", "latest", "--target", s(&target)]);
    assert_eq!(out["databases_checked"], 1, "{out}");
    assert!(!at.join("app.db-wal").exists(), "stale -wal left in place");
    assert_eq!(count(&at.join("app.db")), 500);
    assert_eq!(integrity(&at.join("app.db")), "ok");
    drop(c);
}

#[test]
fn a_changed_wal_with_an_untouched_main_file_is_read_again() {
    let env = Env::new();
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    let db = src.join("w.db");
    let c = make_db(&db, "wal", 100);
    c.execute_batch("PRAGMA wal_autocheckpoint = 0").unwrap();
    insert(&c, 100, 10);
    env.backup(&[&src], &[]);
    let main_before = std::fs::metadata(&db).unwrap();
    insert(&c, 110, 40);
    let main_after = std::fs::metadata(&db).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        (
            main_before.mtime_nsec(),
            main_before.ctime_nsec(),
            main_before.len()
        ),
        (
            main_after.mtime_nsec(),
            main_after.ctime_nsec(),
            main_after.len()
        ),
        "the commit must reach only the -wal for this test to mean anything"
    );
    let sum = env.backup(&[&src], &[]);
    assert_eq!(sum["files_changed"], 1, "{sum}");
    let target = restore_into(&env, "latest", "r");
    assert_eq!(count(&restored(&target, &src).join("w.db")), 150);
    // Nothing changed since: the database is reused, not read.
    let sum = env.backup(&[&src], &[]);
    assert_eq!(sum["files_unchanged"], 1, "{sum}");
    assert_eq!(sum["databases"]["count"], 1, "{sum}");
    drop(c);
}

#[test]
fn seven_databases_one_corrupted_exit_3_and_six_restore() {
    let env = Env::new();
    let src = env.path("svc");
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..7 {
        let mode = if i % 2 == 0 { "wal" } else { "delete" };
        drop(make_db(&src.join(format!("db{i}.sqlite")), mode, 300));
    }
    damage(&src.join("db6.sqlite"));
    let out = env.run(&["--json", "backup", s(&src)]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("db6.sqlite"), "{stderr}");
    let sum = last_json(&out);
    assert_eq!(sum["errors"], 1, "{sum}");
    assert_eq!(sum["databases"]["count"], 7, "{sum}");
    let failed = sum["databases"]["failed_checks"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{sum}");
    assert!(failed[0]["path"].as_str().unwrap().ends_with("db6.sqlite"));
    assert!(!failed[0]["report"].as_str().unwrap().is_empty());
    // Restore: the six are fine, the seventh is reported (exit 3).
    let target = env.path("r");
    let out = env.run(&["restore", "latest", "--target", s(&target)]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("db6.sqlite"));
    let at = restored(&target, &src);
    for i in 0..6 {
        let db = at.join(format!("db{i}.sqlite"));
        assert_eq!(integrity(&db), "ok", "{}", db.display());
        assert_eq!(count(&db), 300);
    }
    // Stored anyway: the user gets the damaged database back as it was.
    assert_eq!(
        std::fs::read(at.join("db6.sqlite")).unwrap(),
        std::fs::read(src.join("db6.sqlite")).unwrap()
    );
}

#[test]
fn sqlite_flag_names_a_database_and_refuses_anything_else() {
    let env = Env::new();
    let db = env.path("elsewhere/one.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    drop(make_db(&db, "wal", 50));
    let text = env.path("elsewhere/readme.txt");
    write(&text, b"not a database at all, just some text");
    let out = env.run(&["backup", "--sqlite", s(&text)]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("readme.txt") && err.contains("not a SQLite database"),
        "{err}"
    );
    // --no-sqlite turns recognition off, --sqlite still names this one.
    let sum = env.json(&["backup", "--no-sqlite", "--sqlite", s(&db)]);
    assert_eq!(sum["databases"]["count"], 1, "{sum}");
    let target = restore_into(&env, "latest", "r");
    assert_eq!(count(&restored(&target, &db)), 50);
}

#[test]
fn no_sqlite_stores_raw_bytes_and_companions() {
    let env = Env::new();
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    let db = src.join("raw.db");
    let c = make_db(&db, "wal", 50);
    c.execute_batch("PRAGMA wal_autocheckpoint = 0").unwrap();
    insert(&c, 50, 20);
    let sum = env.backup(&[&src], &["--no-sqlite"]);
    assert_eq!(sum["databases"]["count"], 0, "{sum}");
    let ls = String::from_utf8(env.ok(&["ls", "latest"]).stdout).unwrap();
    assert!(ls.contains("raw.db-wal"), "{ls}");
    let target = restore_into(&env, "latest", "r");
    let at = restored(&target, &src);
    // The raw main file: byte for byte what is on disk (no WAL rows in it).
    assert_eq!(
        std::fs::read(at.join("raw.db")).unwrap(),
        std::fs::read(&db).unwrap()
    );
    drop(c);
}

#[test]
fn a_version_1_repository_stays_version_1_and_records_files() {
    use cairn::format::tree::NodeKind;
    use cairn::repo::{InitOptions, OpenOptions, Repository};
    let env = Env::uninit();
    let storage = cairn::storage::open_location(&env.location, true).unwrap();
    let init = InitOptions {
        kdf: Some(cairn::crypto::KdfParams::insecure_for_tests()),
        version: 1,
        ..Default::default()
    };
    drop(Repository::init(storage, PASSWORD.as_bytes(), init, OpenOptions::default()).unwrap());
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    let c = make_db(&src.join("v1.db"), "wal", 80);
    c.execute_batch("PRAGMA wal_autocheckpoint = 0").unwrap();
    insert(&c, 80, 20);
    let out = env.run(&["--json", "backup", s(&src)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("version-2"));
    let sum = last_json(&out);
    assert_eq!(sum["databases"]["needs_v2"], true, "{sum}");
    let target = restore_into(&env, "latest", "r");
    let at = restored(&target, &src);
    assert_eq!(
        count(&at.join("v1.db")),
        100,
        "WAL rows are in the snapshot"
    );
    assert!(!at.join("v1.db-wal").exists());
    // The config is still version 1 and the node a plain File.
    let storage = cairn::storage::open_location(&env.location, false).unwrap();
    let open = OpenOptions {
        cache_dir: Some(env.cache.clone()),
        ..Default::default()
    };
    let repo = Repository::open(storage, PASSWORD.as_bytes(), open).unwrap();
    assert_eq!(repo.config().version, 1);
    let snap = repo.readable_snapshots(&Default::default()).unwrap().0;
    let mut tree = repo.load_tree(&snap.last().unwrap().snapshot.tree).unwrap();
    for name in src.strip_prefix("/").unwrap().components() {
        let n = tree
            .nodes
            .iter()
            .find(|n| n.name == name.as_os_str().as_encoded_bytes())
            .unwrap();
        let NodeKind::Dir { subtree } = n.kind else {
            panic!("{:?}", n.kind)
        };
        tree = repo.load_tree(&subtree).unwrap();
    }
    let node = tree.nodes.iter().find(|n| n.name == b"v1.db").unwrap();
    assert!(
        matches!(node.kind, NodeKind::File { .. }),
        "{:?}",
        node.kind
    );
    drop(c);
}

#[test]
fn a_database_locked_past_the_busy_timeout_is_stored_raw_and_exits_3() {
    let env = Env::new();
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    let db = src.join("locked.db");
    let c = make_db(&db, "delete", 40);
    // Read before the lock is taken: closing any descriptor of the file
    // would drop this process's lock.
    let raw = std::fs::read(&db).unwrap();
    // A writer holding the EXCLUSIVE lock for longer than the 10 s busy
    // timeout: no reader can take a snapshot.
    c.execute_batch("BEGIN EXCLUSIVE; INSERT INTO t(id) VALUES (1000);")
        .unwrap();
    let out = env.run(&["--json", "backup", s(&src)]);
    c.execute_batch("COMMIT").unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("locked.db") && stderr.contains("locked"),
        "{stderr}"
    );
    let sum = last_json(&out);
    assert_eq!(sum["errors"], 1, "{sum}");
    assert_eq!(sum["databases"]["count"], 0, "{sum}");
    let not = sum["databases"]["not_snapshotted"].as_array().unwrap();
    assert!(
        not[0]["path"].as_str().unwrap().ends_with("locked.db"),
        "{sum}"
    );
    let target = restore_into(&env, "latest", "r");
    assert_eq!(
        std::fs::read(restored(&target, &src).join("locked.db")).unwrap(),
        raw
    );
}

/// A database spread over many chunks in several packs, restored beside
/// plain files into a fresh target: it is checked once, as soon as its last
/// chunk is written (restore/database.rs; the debug log says so). A check
/// fired earlier would most likely read pages not written yet and report
/// the database damaged. The log, piped here, carries no colour codes.
#[test]
fn a_database_over_several_packs_is_checked_once_complete() {
    let env = Env::uninit();
    env.init_small_packs();
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    let db = src.join("big.db");
    drop(make_db(&db, "wal", 20_000));
    let size = db.metadata().unwrap().len();
    assert!(size > 6 << 20, "{size} bytes: too few chunks and packs");
    for i in 0..40u8 {
        write(
            &src.join(format!("f{i}.bin")),
            &vec![i; 50_000 + usize::from(i) * 997],
        );
    }
    env.backup(&[&src], &[]);
    let target = env.path("restored");
    let run = env
        .cmd(&["--json", "restore", "latest", "--target", s(&target)])
        .env("CAIRN_LOG", "cairn::restore=debug")
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    let out = last_json(&run);
    assert_eq!(out["databases_checked"], 1, "{out}");
    assert_eq!(out["errors"], serde_json::json!([]), "{out}");
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(
        !log.contains('\x1b'),
        "colour codes in a log that is no terminal:\n{log}"
    );
    let early: Vec<_> = log
        .lines()
        .filter(|l| l.contains("database checked as soon as written"))
        .collect();
    assert_eq!(early.len(), 1, "not checked early, or twice:\n{log}");
    assert!(
        early[0].contains("big.db") && early[0].contains("ok=true"),
        "{log}"
    );
    let at = restored(&target, &src);
    assert_eq!(count(&at.join("big.db")), 20_000);
    assert_eq!(integrity(&at.join("big.db")), "ok");
    assert_eq!(
        std::fs::read(at.join("f39.bin")).unwrap(),
        vec![39u8; 50_000 + 39 * 997]
    );
}
