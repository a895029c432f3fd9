//! `-wal`, `-shm` and `-journal` of a SQLite database are left out; the
//! same names beside a file that is not a database are kept.

use super::*;

#[test]
fn companions_of_databases_only_are_left_out() {
    let (_d, base) = tempdir();
    let db = base.join("app.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch("CREATE TABLE t(a)").unwrap();
    drop(c);
    for n in [
        "app.db-wal",
        "app.db-shm",
        "app.db-journal",
        "notes-wal",
        "notes",
        "-wal",
    ] {
        touch(&base.join(n));
    }
    let got = render(&walk(opts(&[&base])));
    let expect = wrap(&base, &["--wal", "-app.db", "-notes", "-notes-wal"]);
    assert_eq!(got, expect);
    let kept = FsOptions {
        keep_db_companions: true,
        ..opts(&[&base])
    };
    let got = render(&walk(kept));
    let all = [
        "--wal",
        "-app.db",
        "-app.db-journal",
        "-app.db-shm",
        "-app.db-wal",
        "-notes",
        "-notes-wal",
    ];
    assert_eq!(got, wrap(&base, &all));
}
