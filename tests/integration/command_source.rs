//! `backup --stdin-from-command -- CMD ARGS...`: a command's stdout stored
//! as one file. A command that fails or is killed must leave no snapshot
//! (a dump cut short looks like a valid file), a chatty stderr must not
//! deadlock it, and the stored bytes are exactly what it printed.

use std::process::{Output, Stdio};

use crate::util::*;

/// Exit code for a failed hook or source command.
const EXTERNAL: i32 = 7;

fn command_backup(env: &Env, extra: &[&str], argv: &[&str]) -> Output {
    let mut args = vec!["backup", "--stdin-from-command"];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(argv);
    env.run(&args)
}

fn snapshot_count(env: &Env) -> usize {
    env.json(&["snapshots"]).as_array().expect("array").len()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_failing_command_saves_no_snapshot_and_exits_7_with_its_stderr() {
    let env = Env::new();
    let script = "echo partial; echo boom >&2; exit 3";
    let out = command_backup(&env, &[], &["sh", "-c", script]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(EXTERNAL), "{err}");
    assert!(err.contains("boom"), "{err}");
    assert!(err.contains("exit status 3"), "{err}");
    assert!(err.contains(script), "the message names the command: {err}");
    assert_eq!(snapshot_count(&env), 0);
    // The same with --json: the error line carries the tail, and nothing
    // but JSON is on stdout.
    let out = env.run(&[
        "--json",
        "backup",
        "--stdin-from-command",
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(out.status.code(), Some(EXTERNAL));
    let last = last_json(&out);
    assert_eq!(last["message_type"], "error");
    assert!(last["message"].as_str().unwrap().contains("boom"), "{last}");
    assert_eq!(snapshot_count(&env), 0);
}

#[test]
fn a_killed_command_saves_no_snapshot() {
    let env = Env::new();
    // Enough output that chunks were already stored when it dies.
    let script = "head -c 3000000 /dev/urandom; kill -9 $$";
    let out = command_backup(&env, &[], &["sh", "-c", script]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(EXTERNAL), "{err}");
    assert!(err.contains("killed by signal 9"), "{err}");
    assert_eq!(snapshot_count(&env), 0);
}

#[test]
fn a_missing_program_exits_7() {
    let env = Env::new();
    let out = command_backup(&env, &[], &["/nonexistent/pg_dump", "db"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(EXTERNAL), "{err}");
    assert!(err.contains("/nonexistent/pg_dump"), "{err}");
    assert_eq!(snapshot_count(&env), 0);
}

#[test]
fn the_stored_file_is_exactly_the_commands_output() {
    let env = Env::new();
    let data = random_bytes(14, 3 * 1024 * 1024 + 17);
    let file = env.path("dump.bin");
    write(&file, &data);
    let out = command_backup(
        &env,
        &["--stdin-filename", "app.dump"],
        &["cat", file.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let dumped = env.ok(&["dump", "latest:app.dump"]);
    assert!(dumped.stdout == data, "stored bytes differ from the output");
    let target = env.path("restored");
    env.ok(&["restore", "latest", "--target", target.to_str().unwrap()]);
    assert!(std::fs::read(target.join("app.dump")).unwrap() == data);
}

#[test]
fn a_chatty_stderr_does_not_block_the_command() {
    let env = Env::new();
    // 1 MiB on stderr before any stdout: with an undrained pipe (64 KiB)
    // the command would block for ever.
    let script =
        "head -c 1048576 /dev/zero | tr '\\0' e >&2; echo >&2; echo done >&2; printf payload";
    for json in [false, true] {
        let mut args = vec!["backup", "--stdin-from-command", "--", "sh", "-c", script];
        if json {
            args.insert(0, "--json");
        }
        let out = env.run(&args);
        assert!(out.status.success(), "json {json}: {:?}", out.status);
        if json {
            // The command's stderr is not copied into JSON stderr lines.
            assert!(
                !stderr(&out).contains("eeee"),
                "raw output on --json stderr"
            );
        } else {
            assert!(stderr(&out).contains("done"), "text mode shows its stderr");
        }
    }
    assert_eq!(env.ok(&["dump", "latest:stdin"]).stdout, b"payload");
}

#[test]
fn a_dry_run_reads_the_command_and_saves_nothing() {
    let env = Env::new();
    let out = command_backup(&env, &["--dry-run"], &["sh", "-c", "echo data"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = command_backup(&env, &["--dry-run"], &["sh", "-c", "echo x; exit 9"]);
    assert_eq!(out.status.code(), Some(EXTERNAL));
    assert_eq!(snapshot_count(&env), 0);
}

#[test]
fn the_command_does_not_see_the_repository_password() {
    let env = Env::new();
    let script = "printf '[%s][%s]' \"$CAIRN_PASSWORD\" \"$CAIRN_REPOSITORY\"";
    let out = command_backup(&env, &[], &["sh", "-c", script]);
    assert!(out.status.success(), "{}", stderr(&out));
    let seen = env.ok(&["dump", "latest:stdin"]).stdout;
    let expect = format!("[][{}]", env.location);
    assert_eq!(String::from_utf8_lossy(&seen), expect);
}

#[test]
fn stdin_and_a_command_conflict() {
    let env = Env::new();
    let out = env.run(&["backup", "--stdin", "--stdin-from-command", "--", "true"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // A command without --stdin-from-command is a usage error too.
    let src = env.path("src");
    write(&src.join("f"), b"x");
    let out = env.run(&["backup", src.to_str().unwrap(), "--", "true"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = env.run(&["backup", "--stdin-from-command"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(snapshot_count(&env), 0);
}

#[test]
fn sigterm_stops_a_silent_command_and_exits_143() {
    let env = Env::new();
    let pidfile = env.path("cmd.pid");
    let script = format!("echo $$ > {}; exec sleep 1000", pidfile.display());
    let mut child = env
        .cmd(&["backup", "--stdin-from-command", "--", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The command runs (it wrote its pid) and cairn handles SIGTERM.
    let pid = loop {
        if let Ok(s) = std::fs::read_to_string(&pidfile) {
            if let Ok(pid) = s.trim().parse::<i32>() {
                if crate::interrupt::catches(child.id(), libc::SIGTERM) {
                    break pid;
                }
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "cairn exited early");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    crate::interrupt::send(&child, libc::SIGTERM);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    // cairn waited for the command after stopping it: it is gone.
    // SAFETY: kill(2) with signal 0 only checks that the pid exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    assert!(!alive, "the source command {pid} outlived cairn");
    assert_eq!(snapshot_count(&env), 0);
}
