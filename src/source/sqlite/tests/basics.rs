//! Snapshots of quiescent databases, checks, and the small helpers.

use std::io::Read;

use super::*;
use crate::source::sqlite::{
    check_file, companion_of, has_header, remove_stale_companions, wal_stamp, HEADER,
};

#[test]
fn rows_only_in_the_wal_are_in_the_snapshot() {
    let (_d, dir) = tempdir();
    let db = dir.join("live.db");
    let writer = make_db(&db, true, 100);
    insert_rows(&writer, 100, 400);
    // The writer stays open and never checkpoints: the main file alone
    // lacks the rows (what a raw copy would store).
    let raw = restore(&std::fs::read(&db).unwrap(), &dir.join("raw.db"));
    assert!(raw
        .query_row("SELECT count(*) FROM t", [], |r| r.get::<_, u32>(0))
        .map_or(true, |n| n < 500));

    let taken = take(&db, CheckLevel::Quick, &Options::default());
    assert!(!taken.fallback);
    assert!(taken.check.ok, "{}", taken.check.report);
    // Page 1 as SQLite keeps it: WAL mode (file format bytes 18/19 = 2).
    assert_eq!(&taken.bytes[..16], HEADER);
    assert_eq!(&taken.bytes[18..20], &[2, 2]);
    let out = dir.join("restored.db");
    let restored = restore(&taken.bytes, &out);
    assert_eq!(count(&restored), 500);
    assert_eq!(integrity(&restored), "ok");
    // The restored file is a WAL database SQLite opens and writes (with a
    // new -wal of its own).
    let mode: String = restored
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    insert_rows(&restored, 500, 1);
    assert_eq!(count(&restored), 501);
    drop(writer);
}

#[test]
fn rollback_mode_snapshot_is_the_file() {
    let (_d, dir) = tempdir();
    let db = dir.join("j.db");
    drop(make_db(&db, false, 300));
    let taken = take(&db, CheckLevel::Full, &Options::default());
    assert!(taken.check.ok);
    assert_eq!(taken.check.level, CheckLevel::Full);
    assert_eq!(taken.page_size, 4096);
    assert_eq!(taken.bytes, std::fs::read(&db).unwrap());
}

/// The online backup rewrites four header fields as a writer would; every
/// other byte equals the streamed snapshot.
#[test]
fn fallback_gives_the_same_pages_as_the_stream() {
    for wal in [true, false] {
        let (_d, dir) = tempdir();
        let db = dir.join("q.db");
        let writer = make_db(&db, wal, 2000);
        let streamed = take(&db, CheckLevel::Quick, &Options::default());
        let forced = Options {
            force_fallback: true,
            ..Options::default()
        };
        let copied = take(&db, CheckLevel::Quick, &forced);
        assert!(copied.fallback && !streamed.fallback);
        assert!(copied.check.ok);
        let (mut a, mut b) = (streamed.bytes, copied.bytes);
        assert_eq!(a.len(), b.len());
        assert!(a.len() > 20 * 4096, "a database of many pages");
        for range in [24..28, 40..44, 92..100] {
            a[range.clone()].fill(0);
            b[range].fill(0);
        }
        assert!(a == b, "fallback differs from stream (wal: {wal})");
        drop(writer);
    }
}

/// Flips the page-type byte of table `t`'s root page on disk.
fn damage_table_root(db: &std::path::Path) {
    let conn = Connection::open(db).unwrap();
    let (root, page_size): (u64, u64) = conn
        .query_row(
            "SELECT rootpage, (SELECT page_size FROM pragma_page_size) FROM sqlite_schema WHERE name = 't'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    drop(conn);
    let mut bytes = std::fs::read(db).unwrap();
    let at = ((root - 1) * page_size) as usize;
    bytes[at] = 0x77;
    bytes[at + 3] ^= 0xff;
    std::fs::write(db, bytes).unwrap();
}

#[test]
fn a_damaged_page_fails_the_check_and_is_still_streamed() {
    let (_d, dir) = tempdir();
    let db = dir.join("bad.db");
    drop(make_db(&db, false, 2000));
    damage_table_root(&db);
    for level in [CheckLevel::Quick, CheckLevel::Full] {
        let taken = take(&db, level, &Options::default());
        assert!(!taken.check.ok, "{level:?} check must fail");
        assert!(!taken.check.report.is_empty());
        assert!(taken.check.report.len() <= 1024);
        assert!(taken.check.report.lines().count() <= 10);
        assert_eq!(taken.bytes, std::fs::read(&db).unwrap(), "stored as it is");
        let at_rest = check_file(&db, level).unwrap();
        assert!(!at_rest.ok);
    }
    let unchecked = take(&db, CheckLevel::None, &Options::default());
    assert!(unchecked.check.ok);
}

#[test]
fn index_damage_is_found_by_the_full_check() {
    let (_d, dir) = tempdir();
    let db = dir.join("idx.db");
    let conn = make_db(&db, false, 500);
    // An index entry that points at the wrong row: pages parse fine, only
    // the index-to-table cross check sees it.
    conn.execute_batch(
        "PRAGMA writable_schema = ON;
         UPDATE sqlite_schema SET sql = 'CREATE INDEX t_v ON t(id)' WHERE name = 't_v';",
    )
    .unwrap();
    drop(conn);
    let full = check_file(&db, CheckLevel::Full).unwrap();
    assert!(!full.ok, "integrity_check finds the index mismatch");
    assert!(full.report.contains("t_v"), "{}", full.report);
    let taken = take(&db, CheckLevel::Full, &Options::default());
    assert!(!taken.check.ok);
}

#[test]
fn check_file_on_files_at_rest() {
    let (_d, dir) = tempdir();
    let db = dir.join("ok.db");
    let conn = make_db(&db, true, 50);
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    drop(conn);
    let _ = remove_stale_companions(&db).unwrap();
    assert!(check_file(&db, CheckLevel::Quick).unwrap().ok);
    // Immutable: no companion was created next to the checked file.
    assert!(!dir.join("ok.db-wal").exists() && !dir.join("ok.db-shm").exists());

    let bytes = std::fs::read(&db).unwrap();
    let cut = dir.join("cut.db");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let r = check_file(&cut, CheckLevel::Quick).unwrap();
    assert!(!r.ok && !r.report.is_empty(), "truncated: {r:?}");

    let text = dir.join("text.db");
    std::fs::write(&text, b"hello, not a database at all, just some text......").unwrap();
    assert!(!check_file(&text, CheckLevel::Quick).unwrap().ok);
    assert!(check_file(&dir, CheckLevel::Quick).is_err(), "a directory");
    assert!(check_file(&dir.join("absent.db"), CheckLevel::Quick).is_err());
}

#[test]
fn stale_companions_are_removed() {
    let (_d, dir) = tempdir();
    let db = dir.join("r.db");
    std::fs::write(&db, b"x").unwrap();
    for s in ["-wal", "-shm", "-journal"] {
        std::fs::write(dir.join(format!("r.db{s}")), b"stale").unwrap();
    }
    std::fs::write(dir.join("r.dbx-wal"), b"other").unwrap();
    let mut removed = remove_stale_companions(&db).unwrap();
    removed.sort();
    let mut want: Vec<_> = ["-journal", "-shm", "-wal"]
        .iter()
        .map(|s| dir.join(format!("r.db{s}")))
        .collect();
    want.sort();
    assert_eq!(removed, want);
    assert!(db.exists() && dir.join("r.dbx-wal").exists());
    assert!(remove_stale_companions(&db).unwrap().is_empty());
}

#[test]
fn companion_names_and_header() {
    assert_eq!(companion_of(b"x.db-wal"), Some(&b"x.db"[..]));
    assert_eq!(companion_of(b"x.db-shm"), Some(&b"x.db"[..]));
    assert_eq!(
        companion_of(b"app.sqlite-journal"),
        Some(&b"app.sqlite"[..])
    );
    assert_eq!(companion_of(b"\xffdb-wal"), Some(&b"\xffdb"[..]));
    assert_eq!(companion_of(b"-wal"), None);
    assert_eq!(companion_of(b"x.db"), None);
    assert_eq!(companion_of(b"x.db-wal2"), None);
    assert!(has_header(b"SQLite format 3\0\x10\x00"));
    assert!(!has_header(b"SQLite format 3"));
    assert!(!has_header(b"SQLite format 2\0"));
}

#[test]
fn wal_stamp_changes_when_the_wal_grows() {
    let (_d, dir) = tempdir();
    let db = dir.join("s.db");
    let plain = dir.join("plain.db");
    drop(make_db(&plain, false, 1));
    assert_eq!(wal_stamp(&plain), None);
    let writer = make_db(&db, true, 10);
    let before = wal_stamp(&db).expect("a -wal exists");
    let main_before = std::fs::metadata(&db).unwrap().len();
    insert_rows(&writer, 10, 200);
    let after = wal_stamp(&db).unwrap();
    assert_ne!(before, after);
    assert!(after.size > before.size);
    assert_eq!(
        std::fs::metadata(&db).unwrap().len(),
        main_before,
        "main file untouched"
    );
}

#[test]
fn a_held_lock_gives_a_typed_busy_error_naming_the_database() {
    let (_d, dir) = tempdir();
    let db = dir.join("locked.db");
    let holder = make_db(&db, false, 10);
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let short = Options {
        busy_timeout: std::time::Duration::from_millis(50),
        ..Options::default()
    };
    let err = match Snapshot::open_with(&db, CheckLevel::Quick, &dir, &short) {
        Err(e) => e,
        Ok(_) => panic!("snapshot taken under an exclusive lock"),
    };
    match &err {
        crate::Error::File { path, source, .. } => {
            assert_eq!(path, &db);
            assert_eq!(source.kind(), std::io::ErrorKind::ResourceBusy);
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(err.to_string().contains("locked.db"), "{err}");
    assert!(err.to_string().contains("locked"), "{err}");
    holder.execute_batch("COMMIT").unwrap();
}

/// In rollback-journal mode the snapshot's SHARED lock keeps a writer from
/// committing until the reader is dropped, even half read, and the check
/// beside it has ended. (The database
/// is larger than the pages read ahead: once every page is read the lock
/// goes, before the consumer has taken them all.)
#[test]
fn rollback_mode_reader_blocks_commits_until_dropped() {
    let (_d, dir) = tempdir();
    let db = dir.join("shared.db");
    let writer = make_db(&db, false, 0);
    fill(&writer, 1, 20_000);
    writer.busy_timeout(std::time::Duration::ZERO).unwrap();
    let snap = Snapshot::open(&db, CheckLevel::Quick, &dir).unwrap();
    let (mut reader, check) = snap.into_parts();
    let mut first = vec![0u8; 4096];
    reader.read_exact(&mut first).unwrap();
    let insert = "INSERT INTO t(id, v) VALUES (100000, 'x')";
    let blocked = writer.execute(insert, []).unwrap_err();
    assert_eq!(
        blocked.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy),
        "commit must wait for the reader's lock: {blocked}"
    );
    drop(reader);
    // The check reads the same state beside the stream, under its own
    // SHARED lock: writers wait for it too.
    assert!(check.wait().ok);
    writer.execute(insert, []).unwrap();
}

/// The archiver may open a snapshot on one thread and read it on another.
#[test]
fn snapshot_and_reader_are_send() {
    fn send<T: Send>(_: &T) {}
    let (_d, dir) = tempdir();
    let db = dir.join("send.db");
    drop(make_db(&db, true, 1));
    let snap = Snapshot::open(&db, CheckLevel::None, &dir).unwrap();
    send(&snap);
    let reader = snap.into_reader();
    send(&reader);
}

/// The fallback's temporary copy goes when the snapshot or its half-read
/// reader is dropped, not only after a full read.
#[test]
fn fallback_copy_is_deleted_on_drop() {
    let (_d, dir) = tempdir();
    let db = dir.join("f.db");
    drop(make_db(&db, true, 2000));
    let temp = dir.join("cache");
    std::fs::create_dir(&temp).unwrap();
    let forced = Options {
        force_fallback: true,
        ..Options::default()
    };
    let files = || std::fs::read_dir(&temp).unwrap().count();
    let snap = Snapshot::open_with(&db, CheckLevel::Quick, &temp, &forced).unwrap();
    assert!(snap.used_fallback());
    assert_eq!(files(), 1, "the copy is in temp_dir");
    drop(snap);
    assert_eq!(files(), 0);
    let snap = Snapshot::open_with(&db, CheckLevel::Quick, &temp, &forced).unwrap();
    let mut reader = snap.into_reader();
    let mut page = vec![0u8; 4096];
    reader.read_exact(&mut page).unwrap();
    assert_eq!(&page[..16], HEADER);
    drop(reader);
    assert_eq!(files(), 0);
}
