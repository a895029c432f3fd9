//! Hooks: shell commands the user runs around an operation, to quiesce what
//! is being backed up or replaced (flush a store, stop a service) and to
//! undo that afterwards. `--hook-before` runs before anything is written to
//! the repository or the target, and its failure stops the operation;
//! `--hook-after` runs whatever the outcome (a stopped service must be
//! started again) and is told that outcome.
//!
//! A hook is `sh -c CMD`. It learns what is happening from its environment:
//!
//! | variable | value |
//! |---|---|
//! | `CAIRN_HOOK` | `before` or `after` |
//! | `CAIRN_COMMAND` | the operation: `backup`, `restore` |
//! | `CAIRN_RESULT` | after-hooks only: `ok` or `failed` |
//! | `CAIRN_SNAPSHOT` | the snapshot id, once known |
//!
//! The repository password variables are removed from it. Its stdout never
//! reaches cairn's stdout (that may be JSON): with `echo`, both its streams
//! are copied to cairn's stderr; without, stdout is discarded and stderr
//! only kept. Either way the end of its stderr is kept for the report and
//! for the error of a failed hook.

use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Instant;

use crate::child;
use crate::error::{Error, Result};
use crate::progress::Progress;

/// When a hook runs, relative to the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Before,
    /// After the operation, with whether it succeeded.
    After {
        ok: bool,
    },
}

/// What a hook is told about the operation it runs around.
#[derive(Debug, Clone)]
pub struct HookContext {
    /// `backup` or `restore`.
    pub operation: String,
    pub phase: Phase,
    /// The snapshot the operation saved or reads, once known.
    pub snapshot: Option<String>,
}

impl HookContext {
    /// The variables the hook's environment gets.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("CAIRN_COMMAND", self.operation.clone())];
        match self.phase {
            Phase::Before => env.push(("CAIRN_HOOK", "before".into())),
            Phase::After { ok } => {
                env.push(("CAIRN_HOOK", "after".into()));
                env.push(("CAIRN_RESULT", if ok { "ok" } else { "failed" }.into()));
            }
        }
        if let Some(id) = &self.snapshot {
            env.push(("CAIRN_SNAPSHOT", id.clone()));
        }
        env
    }
}

/// A hook that ran and succeeded (a failed one is an [`Error::Hook`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookRun {
    /// The option that named it, e.g. `--hook-before`.
    pub hook: String,
    /// The command as the user gave it.
    pub command: String,
    /// "exit status 0".
    pub status: String,
    /// The last lines of its stderr (up to 20 lines, 4 KiB).
    pub stderr_tail: String,
    pub duration_ms: u64,
}

/// Runs `command` under `sh -c` as the hook named by `hook` (the option,
/// for messages). A non-zero exit, a signal or a failure to start is an
/// [`Error::Hook`]; a stop request ([`Progress::cancelled`]) while it runs
/// sends it SIGTERM, waits for it, and is an [`Error::Interrupted`].
pub fn run(
    hook: &str,
    command: &str,
    ctx: &HookContext,
    echo: bool,
    progress: &dyn Progress,
) -> Result<HookRun> {
    let started = Instant::now();
    let failed = |status: String, stderr_tail: String| Error::Hook {
        hook: hook.to_string(),
        command: command.to_string(),
        status,
        stderr_tail,
    };
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(command).envs(ctx.env());
    child::scrub_env(&mut cmd);
    cmd.stdin(Stdio::null())
        .stdout(stdout_for(echo))
        .stderr(Stdio::piped());
    let mut c = cmd
        .spawn()
        .map_err(|e| failed(format!("could not be started: {e}"), String::new()))?;
    let echo_to: Option<Box<dyn std::io::Write + Send>> = match echo {
        true => Some(Box::new(std::io::stderr())),
        false => None,
    };
    let drain = c.stderr.take().map(|s| child::drain_stderr(s, echo_to));
    let c = Mutex::new(c);
    let waited = child::wait(&c, progress);
    let tail = drain.map(child::tail_text).unwrap_or_default();
    let (status, stopped) =
        waited.map_err(|e| failed(format!("could not be waited for: {e}"), tail.clone()))?;
    if stopped {
        return Err(Error::Interrupted(format!(
            "the {hook} command was stopped ({})",
            child::describe(status)
        )));
    }
    if !status.success() {
        return Err(failed(child::describe(status), tail));
    }
    Ok(HookRun {
        hook: hook.to_string(),
        command: command.to_string(),
        status: child::describe(status),
        stderr_tail: tail,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// The hook's stdout: cairn's stderr when echoing, else nowhere.
fn stdout_for(echo: bool) -> Stdio {
    if !echo {
        return Stdio::null();
    }
    match std::io::stderr().as_fd().try_clone_to_owned() {
        Ok(fd) => Stdio::from(fd),
        Err(_) => Stdio::null(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;
    use crate::ErrorKind;

    fn ctx(phase: Phase) -> HookContext {
        HookContext {
            operation: "backup".into(),
            phase,
            snapshot: Some("abc123".into()),
        }
    }

    #[test]
    fn a_hook_sees_what_is_happening() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("env");
        let cmd = format!(
            "echo \"$CAIRN_HOOK $CAIRN_COMMAND $CAIRN_RESULT $CAIRN_SNAPSHOT [$CAIRN_PASSWORD]\" > {}",
            out.display()
        );
        let run = run(
            "--hook-after",
            &cmd,
            &ctx(Phase::After { ok: false }),
            false,
            &NoProgress,
        )
        .unwrap();
        assert_eq!(run.status, "exit status 0");
        let seen = std::fs::read_to_string(&out).unwrap();
        assert_eq!(seen.trim(), "after backup failed abc123 []");
    }

    #[test]
    fn a_failing_hook_is_an_external_error_with_its_stderr_tail() {
        let err = run(
            "--hook-before",
            "echo starting; echo boom >&2; exit 3",
            &ctx(Phase::Before),
            false,
            &NoProgress,
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::External);
        let msg = err.to_string();
        assert!(msg.contains("--hook-before"), "{msg}");
        assert!(
            msg.contains("echo starting; echo boom >&2; exit 3"),
            "{msg}"
        );
        assert!(msg.contains("exit status 3"), "{msg}");
        assert!(msg.contains("boom"), "{msg}");
    }

    #[test]
    fn a_hook_killed_by_a_signal_fails() {
        let err = run(
            "--hook-before",
            "kill -9 $$",
            &ctx(Phase::Before),
            false,
            &NoProgress,
        )
        .unwrap_err();
        assert!(err.to_string().contains("killed by signal 9"), "{err}");
    }

    struct Stop;
    impl Progress for Stop {
        fn cancelled(&self) -> bool {
            true
        }
    }

    #[test]
    fn a_stop_request_stops_the_hook() {
        let err = run(
            "--hook-before",
            "sleep 1000",
            &ctx(Phase::Before),
            false,
            &Stop,
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Interrupted, "{err}");
    }
}
