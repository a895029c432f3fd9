//! DuckDB databases backed up the two ways their users do it, with the
//! real `duckdb` Python package (scripts/test installs it):
//!
//! - the file: a writer process (a stand-in for the service) holds the
//!   database open and commits rows; `--hook-before` stops it (it runs
//!   `CHECKPOINT` and closes the file), `--hook-after` starts it again.
//!   The restored file opens in DuckDB with exactly the rows at the stop.
//! - a dump: `--stdin-from-command` runs `EXPORT DATABASE` and streams the
//!   export as a tar; it is restored and imported into a fresh database.
//!
//! Without the package the tests print SKIPPED, unless scripts/test set
//! `CAIRN_TEST_REQUIRE_DUCKDB=1`: then they fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::*;

/// The Python that has `duckdb`, or `None` (after saying SKIPPED) when the
/// package is missing and not required.
fn duckdb_python(test: &str) -> Option<String> {
    let python = std::env::var("CAIRN_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let has = Command::new(&python)
        .args(["-c", "import duckdb"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if has {
        return Some(python);
    }
    if std::env::var("CAIRN_TEST_REQUIRE_DUCKDB").as_deref() == Ok("1") {
        panic!(
            "{test}: the duckdb Python package is missing for {python} (scripts/test installs it)"
        );
    }
    println!("SKIPPED {test}: the duckdb Python package is missing (pip install duckdb)");
    None
}

/// The stand-in service: commits rows one transaction each until SIGTERM,
/// then `CHECKPOINT`s, writes the row count to `CTL/stopped` and exits.
/// `CTL/pid` appears once it holds the database; `CTL/ready` after 300 more
/// rows.
const WRITER: &str = r#"
import duckdb, os, signal, sys
db, ctl = sys.argv[1], sys.argv[2]
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
def put(name, text):
    with open(f"{ctl}/{name}.tmp", "w") as f:
        f.write(text)
    os.rename(f"{ctl}/{name}.tmp", f"{ctl}/{name}")
con = duckdb.connect(db)
con.execute("CREATE TABLE IF NOT EXISTS t (id BIGINT PRIMARY KEY, payload VARCHAR)")
n = con.execute("SELECT count(*) FROM t").fetchone()[0]
if n == 0:
    # A database of some size first: 200k rows, a few MiB.
    con.execute("INSERT INTO t SELECT i, 'bulk ' || i || repeat('y', i % 50) FROM range(200000) r(i)")
    n = 200000
start = n
put("pid", str(os.getpid()))
while not stop:
    con.execute("INSERT INTO t VALUES (?, ?)", [n, f"row {n} " + "x" * (n % 200)])
    n += 1
    if n - start == 300:
        put("ready", "")
con.execute("CHECKPOINT")
count = con.execute("SELECT count(*) FROM t").fetchone()[0]
con.close()
put("stopped", str(count))
"#;

/// Row count, id sum and a digest of every row: equal means same rows.
const SUMMARY: &str = r#"
import duckdb, sys
con = duckdb.connect(sys.argv[1], read_only=True)
print(con.execute("SELECT count(*), coalesce(sum(id), 0), "
    "coalesce(md5(string_agg(id::VARCHAR || ':' || payload, ',' ORDER BY id)), '') FROM t").fetchone())
"#;

struct Writer {
    python: String,
    script: PathBuf,
    db: PathBuf,
    ctl: PathBuf,
}

impl Writer {
    fn new(env: &Env, python: &str) -> Writer {
        let script = env.path("writer.py");
        write(&script, WRITER.as_bytes());
        let ctl = env.path("ctl");
        std::fs::create_dir_all(&ctl).unwrap();
        let db = env.path("data/app.duckdb");
        std::fs::create_dir_all(db.parent().unwrap()).unwrap();
        Writer {
            python: python.into(),
            script,
            db,
            ctl,
        }
    }

    /// The shell line that starts the service in the background and waits
    /// until it holds the database (what `--hook-after` runs).
    fn start_line(&self) -> String {
        format!(
            "rm -f {c}/pid {c}/ready {c}/stopped; {py} {s} {db} {c} >>{c}/log 2>&1 & \
             while [ ! -e {c}/pid ]; do sleep 0.02; done",
            c = self.ctl.display(),
            py = self.python,
            s = self.script.display(),
            db = self.db.display(),
        )
    }

    /// The shell line that stops it and waits until it checkpointed and
    /// closed the database (what `--hook-before` runs).
    /// Each stop's row count is appended to `CTL/stops`.
    fn stop_line(&self) -> String {
        format!(
            "kill -TERM $(cat {c}/pid) && while [ ! -e {c}/stopped ]; do sleep 0.02; done; \
             cat {c}/stopped >> {c}/stops; echo >> {c}/stops",
            c = self.ctl.display()
        )
    }

    /// The row counts at each stop so far.
    fn stops(&self) -> Vec<u64> {
        let text = std::fs::read_to_string(self.ctl.join("stops")).unwrap_or_default();
        text.lines().map(|l| l.trim().parse().unwrap()).collect()
    }

    /// Waits for the writer's control file `name`; fails if it crashed
    /// (or, as a guard against a hung test, after two minutes).
    fn wait_for(&self, name: &str) -> String {
        let p = self.ctl.join(name);
        let start = std::time::Instant::now();
        loop {
            assert!(start.elapsed().as_secs() < 120, "never got {name}");
            if let Ok(s) = std::fs::read_to_string(&p) {
                return s;
            }
            let log = std::fs::read_to_string(self.ctl.join("log")).unwrap_or_default();
            assert!(!log.contains("Traceback"), "the writer failed: {log}");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

impl Drop for Writer {
    /// A failing test leaves no writer behind.
    fn drop(&mut self) {
        if self.ctl.join("stopped").exists() {
            return;
        }
        if let Ok(pid) = std::fs::read_to_string(self.ctl.join("pid")) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                // SAFETY: kill(2) on the running writer this test started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

fn sh(line: &str) {
    let st = Command::new("sh").args(["-c", line]).status().unwrap();
    assert!(st.success(), "{line}");
}

fn summary(python: &str, env: &Env, db: &Path) -> String {
    let script = env.path("summary.py");
    write(&script, SUMMARY.as_bytes());
    let out = Command::new(python).arg(&script).arg(db).output().unwrap();
    assert!(
        out.status.success(),
        "DuckDB cannot read {}: {}",
        db.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn duckdb_file_backed_up_with_the_writer_stopped_by_hooks() {
    let Some(python) = duckdb_python("duckdb_file_backed_up_with_the_writer_stopped_by_hooks")
    else {
        return;
    };
    let env = Env::new();
    let w = Writer::new(&env, &python);
    sh(&w.start_line());
    w.wait_for("ready");
    let db = w.db.to_str().unwrap();
    let out = env.ok(&[
        "--json",
        "backup",
        "--hook-before",
        &w.stop_line(),
        "--hook-after",
        &w.start_line(),
        db,
    ]);
    let saved = last_json(&out);
    assert_eq!(saved["hooks"].as_array().unwrap().len(), 2, "{saved}");
    // The after-hook started the service again: it writes on.
    w.wait_for("ready");
    sh(&w.stop_line());
    let (at_stop, at_end) = match w.stops()[..] {
        [a, b] => (a, b),
        ref other => panic!("stops: {other:?}"),
    };
    assert!(
        at_end >= at_stop + 300,
        "{at_end} rows after restart, {at_stop} at the stop"
    );

    let target = env.path("restored");
    env.ok(&["restore", "latest", "--target", target.to_str().unwrap()]);
    let restored = restored(&target, &w.db);
    let got = summary(&python, &env, &restored);
    let n = at_stop;
    assert!(
        got.starts_with(&format!("({n}, {}, '", n * (n.saturating_sub(1)) / 2)),
        "restored {got}, expected {n} rows"
    );
    println!(
        "duckdb file: {} rows at the stop, file {} bytes, stored {} bytes",
        n,
        std::fs::metadata(&restored).unwrap().len(),
        saved["bytes_added_stored"]
    );
}

/// Streams `EXPORT DATABASE` as a tar on stdout (what a user would run).
const EXPORT: &str = r#"
import duckdb, os, sys, tarfile, tempfile
with tempfile.TemporaryDirectory() as tmp:
    con = duckdb.connect(sys.argv[1], read_only=True)
    con.execute(f"EXPORT DATABASE '{tmp}/export' (FORMAT parquet)")
    con.close()
    with tarfile.open(fileobj=sys.stdout.buffer, mode="w|") as tar:
        tar.add(f"{tmp}/export", arcname="export")
"#;

const IMPORT: &str = r#"
import duckdb, sys, tarfile
dump, into, db = sys.argv[1], sys.argv[2], sys.argv[3]
with tarfile.open(dump) as tar:
    tar.extractall(into)
con = duckdb.connect(db)
con.execute(f"IMPORT DATABASE '{into}/export'")
con.close()
"#;

#[test]
fn duckdb_dump_through_a_command_source() {
    let Some(python) = duckdb_python("duckdb_dump_through_a_command_source") else {
        return;
    };
    let env = Env::new();
    let w = Writer::new(&env, &python);
    let export = env.path("export.py");
    write(&export, EXPORT.as_bytes());
    let db = w.db.to_str().unwrap();
    let dump = [python.as_str(), export.to_str().unwrap(), db];
    sh(&w.start_line());
    w.wait_for("ready");
    // While the service holds the database, DuckDB lets no other process
    // open it: the dump fails, and no snapshot pretends otherwise.
    let mut args = vec![
        "backup",
        "--stdin-from-command",
        "--stdin-filename",
        "app.tar",
        "--",
    ];
    args.extend_from_slice(&dump);
    let out = env.run(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{err}");
    assert!(err.to_lowercase().contains("lock"), "{err}");
    assert!(env.json(&["snapshots"]).as_array().unwrap().is_empty());

    sh(&w.stop_line());
    let before = summary(&python, &env, &w.db);
    let started = std::time::Instant::now();
    env.ok(&args);
    let took = started.elapsed();
    let tar = env.path("app.tar");
    let dumped = env.ok(&["dump", "latest:app.tar"]).stdout;
    write(&tar, &dumped);
    let import = env.path("import.py");
    write(&import, IMPORT.as_bytes());
    let fresh = env.path("fresh.duckdb");
    let st = Command::new(&python)
        .arg(&import)
        .arg(&tar)
        .arg(env.path("unpacked"))
        .arg(&fresh)
        .status()
        .unwrap();
    assert!(st.success(), "import failed");
    assert_eq!(summary(&python, &env, &fresh), before);
    println!(
        "duckdb dump: database {} bytes, export tar {} bytes, backup {:.2}s",
        std::fs::metadata(&w.db).unwrap().len(),
        dumped.len(),
        took.as_secs_f64()
    );
}
