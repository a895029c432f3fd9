//! Ctrl-C and SIGTERM: a long command stops at a safe point, says in one
//! line what it left, removes its temporary files and exits 130 or 143;
//! `kill -9` leaves temporary files that `check` reports once they are a
//! day old and `prune` removes.
//!
//! The signals are sent at points the test controls: a backup reading
//! standard input waits for the test's next bytes, so the test knows what
//! the backup has done when the signal arrives.

use std::io::Write;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

const MIB: usize = 1024 * 1024;

/// A repository with 1 MiB packs, so a few MiB make several packs and an
/// index file (every 8 packs).
fn small_pack_env(env: Env) -> Env {
    env.init_small_packs();
    env
}

/// Polls `cond` until it holds; fails if `child` exits first.
fn wait_until(child: &mut Child, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("cairn exited ({status}) before {what}");
        }
        assert!(start.elapsed() < Duration::from_secs(120), "never {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether `pid` handles `sig` (its bit in `SigCgt` of /proc/PID/status).
pub fn catches(pid: u32, sig: i32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (sig - 1)) != 0)
}

pub fn send(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as i32, sig) };
    assert_eq!(rc, 0, "kill {sig}");
}

/// Starts `cairn backup --stdin` with its standard input a pipe.
fn stdin_backup(env: &Env) -> Child {
    env.cmd(&["backup", "--stdin", "--stdin-filename", "big.bin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Exit code 130/143 and exactly one line on stderr containing `expect`.
pub fn assert_interrupted(out: &std::process::Output, code: i32, expect: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "not one line: {stderr}");
    assert!(lines[0].contains(expect), "{stderr}");
    stderr
}

fn no_strays(env: &Env) {
    let strays = env.storage().strays().unwrap();
    assert!(strays.is_empty(), "temporary files left: {strays:?}");
}

/// The signal arrives mid-upload (packs of this backup are stored, more
/// data is on its way): the uploaded packs are indexed and reused.
fn interrupt_mid_upload(sig: i32, code: i32) {
    let env = small_pack_env(Env::uninit());
    let data = random_bytes(7, 24 * MIB);
    let mut child = stdin_backup(&env);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&data[..16 * MIB]).unwrap();
    wait_until(&mut child, "two packs were stored", || {
        env.pack_count() >= 2
    });
    send(&child, sig);
    // The backup notices at its next chunk; it may stop reading at once.
    let _ = stdin.write_all(&data[16 * MIB..]);
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let line = assert_interrupted(
        &out,
        code,
        "interrupted, nothing recorded; the next backup reuses",
    );
    assert!(!line.contains("reuses 0.0 MiB"), "{line}");
    no_strays(&env);
    assert!(env.json(&["snapshots"]).as_array().unwrap().is_empty());

    let next = env.json_with_stdin(&["backup", "--stdin", "--stdin-filename", "big.bin"], &data);
    let added = next["bytes_added"].as_u64().unwrap();
    assert!(added < data.len() as u64, "nothing reused: {next}");
    let check = env.ok(&["check", "--read-data"]);
    assert!(String::from_utf8_lossy(&check.stdout).contains("no problems"));
}

#[test]
fn sigint_mid_upload_exits_130_and_the_next_backup_reuses() {
    interrupt_mid_upload(libc::SIGINT, 130);
}

#[test]
fn sigterm_mid_upload_exits_143_and_the_next_backup_reuses() {
    interrupt_mid_upload(libc::SIGTERM, 143);
}

/// The signal arrives before anything was read: nothing to reuse, nothing
/// left behind.
#[test]
fn sigint_before_the_first_chunk() {
    let env = small_pack_env(Env::uninit());
    let mut child = stdin_backup(&env);
    let pid = child.id();
    wait_until(&mut child, "the handlers were installed", || {
        catches(pid, libc::SIGINT) && catches(pid, libc::SIGTERM)
    });
    send(&child, libc::SIGINT);
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(&random_bytes(8, 3 * MIB));
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_interrupted(&out, 130, "the next backup reuses 0.0 MiB already uploaded");
    no_strays(&env);
    assert!(env.json(&["snapshots"]).as_array().unwrap().is_empty());
    env.ok(&["check"]);
}

/// A directory source, interrupted while its files are read and uploaded.
#[test]
fn sigterm_during_a_directory_backup() {
    let env = small_pack_env(Env::uninit());
    let src = env.path("src");
    for i in 0..12u64 {
        write(
            &src.join(format!("f{i}.bin")),
            &random_bytes(200 + i, 8 * MIB),
        );
    }
    let mut child = env
        .cmd(&["backup", src.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(&mut child, "an index file was written", || {
        !env.objects("index/").is_empty()
    });
    send(&child, libc::SIGTERM);
    let out = child.wait_with_output().unwrap();
    assert_interrupted(&out, 143, "interrupted, nothing recorded");
    no_strays(&env);
    let s = env.backup(&[&src], &[]);
    assert!(
        s["bytes_added"].as_u64().unwrap() < 12 * 8 * MIB as u64,
        "{s}"
    );
    let t = env.path("t");
    env.restore_verified(&t);
    assert_same_tree(&src, &restored(&t, &src));
}

impl Env {
    /// Runs with `--json`, `input` on standard input; the last JSON line.
    pub fn json_with_stdin(&self, args: &[&str], input: &[u8]) -> serde_json::Value {
        let mut child = self
            .cmd(&[&["--json"], args].concat())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        last_json(&out)
    }
}

/// `kill -9` leaves temporary files: `check` ignores fresh ones (they may
/// be a running backup's), reports those a day old, and `prune` removes
/// them (`--dry-run` only reports them).
#[test]
fn kill_9_leftovers_are_reported_when_old_and_pruned() {
    let env = small_pack_env(Env::uninit_local()); // LOCAL-ONLY: ages temp files
    let mut child = stdin_backup(&env);
    let mut stdin = child.stdin.take().unwrap();
    // Feed it until a pack is being staged in a temporary file.
    let data = random_bytes(9, 64 * MIB);
    let pid = child.id() as i32;
    let staged = data.chunks(MIB).any(|piece| {
        stdin.write_all(piece).unwrap();
        if env.storage().strays().unwrap().is_empty() {
            return false;
        }
        // Freeze it, so the file seen cannot be finished and renamed before
        // the kill (seen on a loaded machine); if it already was, go on.
        // SAFETY: signals to our own child, whose pid it still holds (not reaped).
        unsafe { libc::kill(pid, libc::SIGSTOP) };
        if !env.storage().strays().unwrap().is_empty() {
            return true;
        }
        unsafe { libc::kill(pid, libc::SIGCONT) };
        false
    });
    assert!(staged, "no temporary file seen while 64 MiB were read");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let strays = env.storage().strays().unwrap();
    assert!(!strays.is_empty());

    let fresh = env.json(&["check"]);
    assert!(fresh.get("stray_temp_files").is_none(), "{fresh}");
    let day_old = filetime::FileTime::from_unix_time(chrono::Utc::now().timestamp() - 90_000, 0);
    for s in &strays {
        filetime::set_file_mtime(env.repo.join(&s.name), day_old).unwrap();
    }
    let bytes: u64 = strays.iter().map(|s| s.size).sum();
    let old = env.json(&["check"]);
    assert_eq!(old["stray_temp_files"]["count"], strays.len(), "{old}");
    assert_eq!(old["stray_temp_files"]["bytes"], bytes, "{old}");
    let text = String::from_utf8_lossy(&env.ok(&["check"]).stdout).into_owned();
    assert!(text.contains("stray temporary files"), "{text}");

    let dry = env.json(&["prune", "--dry-run"]);
    assert_eq!(dry["stray_temp_files"]["count"], strays.len(), "{dry}");
    assert_eq!(env.storage().strays().unwrap().len(), strays.len());
    let pruned = env.json(&["prune"]);
    assert_eq!(
        pruned["stray_temp_files"]["count"],
        strays.len(),
        "{pruned}"
    );
    assert!(env.storage().strays().unwrap().is_empty());
    let clean = env.json(&["check"]);
    assert!(clean.get("stray_temp_files").is_none(), "{clean}");
}

/// A restore stopped mid-way says how far it got; a second restore with
/// `--overwrite if-changed` finishes the tree byte-exact.
#[test]
fn sigint_during_restore_says_how_far_it_got() {
    let env = small_pack_env(Env::uninit());
    let src = env.path("src");
    for i in 0..16u64 {
        write(
            &src.join(format!("f{i:02}.bin")),
            &random_bytes(300 + i, 6 * MIB),
        );
    }
    env.backup(&[&src], &[]);
    let target = env.path("t");
    let t = target.to_str().unwrap();
    let mut child = env
        .cmd(&["restore", "latest", "--target", t])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(&mut child, "a file was restored", || {
        files_under(&target).iter().any(|f| f.is_file())
    });
    send(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    let line = assert_interrupted(&out, 130, "of 16 files restored to");
    assert!(line.contains("--overwrite if-changed"), "{line}");
    env.ok(&[
        "restore",
        "latest",
        "--target",
        t,
        "--overwrite",
        "if-changed",
        "--verify",
    ]);
    assert_same_tree(&src, &restored(&target, &src));
}

/// Starts `cairn ARGS`, waits until it handles the stop signals, sends
/// `sig` and returns its output.
fn interrupt_early(mut cmd: std::process::Command, sig: i32) -> std::process::Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    wait_until(&mut child, "the handlers were installed", || {
        catches(pid, libc::SIGINT) && catches(pid, libc::SIGTERM)
    });
    send(&child, sig);
    child.wait_with_output().unwrap()
}

/// Prune and check stop at their first safe point, say so, and leave a
/// repository that checks clean and prunes normally afterwards.
#[test]
fn prune_and_check_stop_cleanly() {
    let env = small_pack_env(Env::uninit());
    let src = env.path("src");
    for i in 0..6u64 {
        write(
            &src.join(format!("f{i}.bin")),
            &random_bytes(400 + i, 4 * MIB),
        );
        env.backup(&[&src], &[]);
    }
    env.ok(&["forget", "--keep-last", "1"]);
    let packs = env.pack_count();

    let out = interrupt_early(env.cmd(&["prune", "--grace", "0"]), libc::SIGTERM);
    // Usually "after planning, before any change"; on a loaded machine the
    // signal can land once planning is done (this repository plans in
    // milliseconds), and prune then stops at its next safe point, which
    // deletes no pack either.
    let said = assert_interrupted(&out, 143, "interrupted, prune stopped ");
    assert!(
        said.contains("after planning, before any change")
            || said.contains("after writing the new index, before deleting packs"),
        "{said}"
    );
    assert!(said.contains("consistent"), "{said}");
    assert_eq!(
        env.pack_count(),
        packs,
        "the interrupted prune deleted packs"
    );

    let out = interrupt_early(env.cmd(&["check", "--read-data"]), libc::SIGINT);
    assert_interrupted(&out, 130, "interrupted, check stopped while reading data");

    let check = env.ok(&["check", "--read-data"]);
    assert!(String::from_utf8_lossy(&check.stdout).contains("no problems"));
    env.ok(&["prune", "--grace", "0"]);
    env.ok(&["check", "--read-data"]);
}

/// `dump` to a pipe, interrupted while it writes: one line, exit 130, and
/// it stops before the end of the file.
#[test]
fn sigint_during_dump() {
    use std::io::Read;
    let env = small_pack_env(Env::uninit());
    let data = random_bytes(11, 24 * MIB);
    env.json_with_stdin(&["backup", "--stdin", "--stdin-filename", "big.bin"], &data);
    let mut child = env
        .cmd(&["dump", "latest:/big.bin"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = vec![0u8; MIB];
    stdout.read_exact(&mut first).unwrap();
    send(&child, libc::SIGINT);
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_interrupted(&out, 130, "interrupted, dump stopped after writing");
    assert!(MIB + rest.len() < data.len(), "the whole file was written");
    assert_eq!(first, &data[..MIB]);
}

/// Export and import interrupted: no bundle file, no snapshot added, and
/// both work when run again.
#[test]
fn export_and_import_stop_cleanly() {
    let env = small_pack_env(Env::uninit());
    let data = random_bytes(12, 24 * MIB);
    env.json_with_stdin(&["backup", "--stdin", "--stdin-filename", "big.bin"], &data);
    let bundle = env.path("b.cairn");
    let b = bundle.to_str().unwrap();
    let export = |env: &Env| {
        let mut c = env.cmd(&[
            "export",
            "--to",
            b,
            "--kdf-memory-mib",
            "1",
            "--kdf-iterations",
            "1",
            "--insecure-kdf",
            "latest",
        ]);
        c.env("CAIRN_BUNDLE_PASSWORD", "bundle secret");
        c
    };
    let out = interrupt_early(export(&env), libc::SIGINT);
    assert_interrupted(
        &out,
        130,
        "interrupted, export stopped; the partial bundle is discarded",
    );
    assert!(!bundle.exists());
    assert!(export(&env).status().unwrap().success());

    let dst = small_pack_env(Env::uninit());
    let mut import = dst.cmd(&["import", b]);
    import.env("CAIRN_BUNDLE_PASSWORD", "bundle secret");
    let out = interrupt_early(import, libc::SIGTERM);
    assert_interrupted(&out, 143, "interrupted, import stopped");
    assert!(dst.json(&["snapshots"]).as_array().unwrap().is_empty());
    let mut import = dst.cmd(&["import", b]);
    import.env("CAIRN_BUNDLE_PASSWORD", "bundle secret");
    assert!(import.status().unwrap().success());
    dst.ok(&["check", "--read-data"]);
}

/// A command that has no safe point to stop at (here `forget`, signalled
/// while it reads its password) finishes, and still says in one line that
/// the signal was heard: never a silent exit.
#[test]
fn a_command_that_finishes_anyway_says_it_heard_the_signal() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a"), b"one");
    env.backup(&[&src], &[]);
    write(&src.join("a"), b"two");
    env.backup(&[&src], &[]);
    let mut cmd = env.cmd(&["forget", "--keep-last", "1"]);
    cmd.env_remove("CAIRN_PASSWORD").env(
        "CAIRN_PASSWORD_COMMAND",
        format!("sleep 1; printf '%s' '{PASSWORD}'"),
    );
    let out = interrupt_early(cmd, libc::SIGINT);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("interrupted after the work was done"), "{err}");
    let list = env.json(&["snapshots"]);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
}

/// Interrupting a restore that replaces existing files puts back every
/// original it had set aside for a file it did not finish: each file ends
/// as the snapshot's version or the original, never hidden or partial.
#[test]
fn an_interrupted_overwrite_puts_the_originals_back() {
    let env = small_pack_env(Env::uninit());
    let src = env.path("src");
    let name = |i: u64| src.join(format!("f{i:02}.bin"));
    for i in 0..16u64 {
        write(&name(i), &random_bytes(500 + i, 2 * MIB));
    }
    env.backup(&[&src], &[]);
    let target = env.path("t");
    let t = target.to_str().unwrap();
    env.ok(&["restore", "latest", "--target", t]);
    let old: Vec<Vec<u8>> = (0..16).map(|i| random_bytes(500 + i, 2 * MIB)).collect();
    let new: Vec<Vec<u8>> = (0..16).map(|i| random_bytes(600 + i, 6 * MIB)).collect();
    for (i, data) in new.iter().enumerate() {
        write(&name(i as u64), data);
    }
    env.backup(&[&src], &[]);
    let mut child = env
        .cmd(&["restore", "latest", "--target", t, "--overwrite", "always"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(&mut child, "an original was set aside", || {
        files_under(&target)
            .iter()
            .any(|f| f.to_string_lossy().contains("cairn-replaced"))
    });
    send(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_interrupted(&out, 130, "files restored to");
    let files = files_under(&target);
    assert!(
        files
            .iter()
            .all(|f| !f.to_string_lossy().contains("cairn-replaced")),
        "originals left hidden: {files:?}"
    );
    let dir = restored(&target, &src);
    for i in 0..16usize {
        let got = std::fs::read(dir.join(format!("f{i:02}.bin"))).unwrap();
        assert!(
            got == old[i] || got == new[i],
            "f{i:02}.bin is neither version"
        );
    }
}
