//! Throughput of a snapshot against `cat file > /dev/null` on a ~200 MiB
//! database (warm page cache). Not a test: run it by hand, in release:
//! `cargo test --release --lib source::sqlite::tests::bench -- --ignored --nocapture`

use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::*;

const ROWS: u32 = 38_000;

fn best_of<F: FnMut()>(n: usize, mut f: F) -> Duration {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn snapshot_to_sink(db: &Path, level: CheckLevel, opts: &Options) -> u64 {
    let temp = tempfile::tempdir().unwrap();
    let snap = Snapshot::open_with(db, level, temp.path(), opts).unwrap();
    // As the archiver does: the check runs beside the stream, waited for last.
    let (mut reader, check) = snap.into_parts();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    drop(reader);
    assert!(check.wait().ok);
    total
}

#[test]
#[ignore = "benchmark: builds a ~200 MiB database"]
fn snapshot_throughput_against_cat() {
    let (_d, dir) = tempdir();
    let db = dir.join("big.db");
    let conn = make_db(&db, true, 0);
    conn.execute(
        "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?1)
         INSERT INTO t(id, v) SELECT i, printf('%08d', i) || hex(randomblob(500)) FROM c",
        [ROWS],
    )
    .unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    drop(conn);
    let size = std::fs::metadata(&db).unwrap().len();
    let mib = size as f64 / (1 << 20) as f64;
    let cat = || {
        let ok = Command::new("sh")
            .arg("-c")
            .arg("cat \"$1\" > /dev/null")
            .arg("sh")
            .arg(&db)
            .status()
            .unwrap()
            .success();
        assert!(ok);
    };
    let mut cat = cat;
    cat();
    let rate = |d: Duration| mib / d.as_secs_f64();
    let t_cat = best_of(3, &mut cat);
    println!("database {mib:.0} MiB");
    println!(
        "cat > /dev/null        {:>7.3} s {:>7.0} MiB/s",
        t_cat.as_secs_f64(),
        rate(t_cat)
    );
    let plain = Options::default();
    let forced = Options {
        force_fallback: true,
        ..Options::default()
    };
    for (name, level, opts) in [
        ("snapshot, no check", CheckLevel::None, &plain),
        ("snapshot, quick_check", CheckLevel::Quick, &plain),
        ("snapshot, integrity", CheckLevel::Full, &plain),
        ("fallback, no check", CheckLevel::None, &forced),
    ] {
        let t = best_of(3, || assert_eq!(snapshot_to_sink(&db, level, opts), size));
        println!(
            "{name:<22} {:>7.3} s {:>7.0} MiB/s",
            t.as_secs_f64(),
            rate(t)
        );
    }
}
