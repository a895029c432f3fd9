//! `backup --hook-before CMD --hook-after CMD`: a failing before-hook stops
//! the backup before it writes anything; the after-hook runs whatever the
//! outcome, is told it, and its own failure exits 7 with the snapshot kept.

use std::path::Path;
use std::process::Output;

use crate::util::*;

const EXTERNAL: i32 = 7;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn snapshot_ids(env: &Env) -> Vec<String> {
    let list = env.json(&["snapshots"]);
    let list = list.as_array().expect("array");
    list.iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

fn source_dir(env: &Env) -> std::path::PathBuf {
    let src = env.path("src");
    write(&src.join("data.txt"), &text_bytes(3, 200_000));
    src
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn a_failing_before_hook_writes_nothing_to_the_repository() {
    let env = Env::new();
    let src = source_dir(&env);
    let before = env.objects("");
    let out = env.run(&[
        "backup",
        "--hook-before",
        "echo stopping; echo 'cannot stop the service' >&2; exit 5",
        src.to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(EXTERNAL), "{err}");
    assert!(err.contains("--hook-before"), "{err}");
    assert!(err.contains("cannot stop the service"), "{err}");
    assert!(err.contains("exit status 5"), "{err}");
    // Not a marker, not a pack, not an index, not a snapshot.
    assert_eq!(env.objects(""), before);
    assert!(snapshot_ids(&env).is_empty());
}

#[test]
fn the_before_hook_runs_before_the_files_are_read() {
    let env = Env::new();
    let src = source_dir(&env);
    let flushed = src.join("flushed.txt");
    let hook = format!("echo flushed > {}", flushed.display());
    env.ok(&["backup", "--hook-before", &hook, src.to_str().unwrap()]);
    let dumped = env.ok(&["dump", &format!("latest:{}", flushed.display())]);
    assert_eq!(dumped.stdout, b"flushed\n");
}

#[test]
fn hooks_are_told_what_happens_and_not_the_password() {
    let env = Env::new();
    let src = source_dir(&env);
    let (b, a) = (env.path("before.env"), env.path("after.env"));
    let show = "$CAIRN_HOOK $CAIRN_COMMAND [$CAIRN_RESULT] [$CAIRN_SNAPSHOT] [$CAIRN_PASSWORD]";
    let out = env.ok(&[
        "backup",
        "--hook-before",
        &format!("echo \"{show}\" > {}", b.display()),
        "--hook-after",
        &format!("echo \"{show}\" > {}", a.display()),
        src.to_str().unwrap(),
    ]);
    let ids = snapshot_ids(&env);
    assert_eq!(ids.len(), 1, "{}", stderr(&out));
    assert_eq!(read(&b).trim(), "before backup [] [] []");
    assert_eq!(
        read(&a).trim(),
        format!("after backup [ok] [{}] []", ids[0])
    );
}

#[test]
fn the_after_hook_runs_after_a_failed_backup_and_sees_failed() {
    let env = Env::new();
    let seen = env.path("result");
    let after = format!("echo $CAIRN_RESULT > {}", seen.display());
    // The backup fails: its source command exits non-zero.
    let out = env.run(&[
        "backup",
        "--hook-after",
        &after,
        "--stdin-from-command",
        "--",
        "sh",
        "-c",
        "echo half; exit 2",
    ]);
    assert_eq!(out.status.code(), Some(EXTERNAL), "{}", stderr(&out));
    assert_eq!(read(&seen).trim(), "failed");
    // A failed before-hook also runs the after-hook (it may have stopped
    // half of what it stops).
    std::fs::remove_file(&seen).unwrap();
    let src = source_dir(&env);
    let out = env.run(&[
        "backup",
        "--hook-before",
        "exit 1",
        "--hook-after",
        &after,
        src.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(EXTERNAL), "{}", stderr(&out));
    assert_eq!(read(&seen).trim(), "failed");
    assert!(snapshot_ids(&env).is_empty());
}

#[test]
fn a_failing_after_hook_exits_7_with_the_snapshot_saved() {
    let env = Env::new();
    let src = source_dir(&env);
    let out = env.run(&[
        "backup",
        "--hook-after",
        "echo 'service did not start' >&2; exit 4",
        src.to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(EXTERNAL), "{err}");
    assert!(err.contains("service did not start"), "{err}");
    let ids = snapshot_ids(&env);
    assert_eq!(ids.len(), 1);
    assert!(
        err.contains(&format!("snapshot {} was saved", &ids[0][..8])),
        "{err}"
    );
}

#[test]
fn json_reports_the_hooks_and_keeps_their_output_off_stdout() {
    let env = Env::new();
    let src = source_dir(&env);
    let out = env.run(&[
        "--json",
        "backup",
        "--hook-before",
        "echo to-stdout; echo to-stderr >&2",
        "--hook-after",
        "echo late >&2; exit 3",
        src.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(EXTERNAL), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    let summary = lines
        .iter()
        .find(|l| l["message_type"] == "summary")
        .expect("a summary");
    let hooks = summary["hooks"].as_array().unwrap();
    assert_eq!(hooks.len(), 2);
    assert_eq!(hooks[0]["hook"], "--hook-before");
    assert_eq!(hooks[0]["ok"], true);
    assert_eq!(hooks[0]["stderr_tail"], "to-stderr");
    assert_eq!(hooks[1]["ok"], false);
    assert_eq!(hooks[1]["status"], "exit status 3");
    assert_eq!(hooks[1]["stderr_tail"], "late");
    assert!(summary["snapshot_id"].is_string());
    assert_eq!(lines.last().unwrap()["message_type"], "error");
}

#[test]
fn ctrl_c_during_the_before_hook_stops_it_writes_nothing_and_runs_the_after_hook() {
    let env = Env::new();
    let src = source_dir(&env);
    let (pidfile, seen) = (env.path("hook.pid"), env.path("result"));
    let before = env.objects("");
    let mut child = env
        .cmd(&[
            "backup",
            "--hook-before",
            &format!("echo $$ > {}; exec sleep 1000", pidfile.display()),
            "--hook-after",
            &format!("echo $CAIRN_RESULT > {}", seen.display()),
            src.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = loop {
        let written = std::fs::read_to_string(&pidfile).ok();
        if let Some(pid) = written.and_then(|s| s.trim().parse::<i32>().ok()) {
            if crate::interrupt::catches(child.id(), libc::SIGINT) {
                break pid;
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "cairn exited early");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    crate::interrupt::send(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    // SAFETY: signal 0 only checks whether the hook still exists.
    assert!(
        unsafe { libc::kill(pid, 0) } != 0,
        "the hook outlived cairn"
    );
    assert_eq!(read(&seen).trim(), "failed");
    assert_eq!(env.objects(""), before);
}
