//! A command's standard output as the content of one file, for
//! `backup --stdin-from-command -- CMD ARGS...`: a dump (`pg_dump`,
//! `sqlite3 db .dump`, DuckDB's `EXPORT DATABASE` piped through tar)
//! stored without a temporary copy on disk.
//!
//! A dump that fails halfway looks like a short, valid-looking file, so a
//! failed command must never become a snapshot. The reader therefore waits
//! for the command when its output ends and, if it exited non-zero or was
//! killed, fails the read with an [`Error::SourceCommand`] wrapped in the
//! I/O error ([`super::skippable`]): the archiver then fails the
//! whole backup before any snapshot is saved.
//!
//! The command runs directly (no shell: its arguments are passed as given),
//! with stdin closed and the repository password variables removed. Its
//! stderr is drained on a thread (a chatty command must not deadlock on a
//! full pipe) and the tail kept for the error. A stop request sends it
//! SIGTERM, so the blocked read ends.

use std::io::Read;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::child;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::source::stdin::StdinSource;

/// The command's stdout as a stream that fails at its end if the command
/// failed. Dropping it early stops and reaps the command.
pub struct CommandReader {
    /// The command as the user gave it, for messages.
    command: String,
    child: Arc<Mutex<Child>>,
    stdout: Option<ChildStdout>,
    stderr: Option<child::Drain>,
    progress: Arc<dyn Progress>,
    /// The command was waited for (successfully: failures are returned once,
    /// then the stream stays at its end).
    finished: bool,
}

/// A source of one file named `filename` holding the stdout of `argv`
/// (program and arguments). `echo_stderr` copies the command's stderr to
/// cairn's as it comes (text mode); it is kept for the error either way.
pub fn source(
    filename: String,
    argv: &[String],
    echo_stderr: bool,
    progress: Arc<dyn Progress>,
) -> Result<StdinSource> {
    let reader = CommandReader::spawn(argv, echo_stderr, progress)?;
    StdinSource::new(filename, Box::new(reader))
}

impl CommandReader {
    /// Starts the command; an empty `argv` is a usage error, a command that
    /// cannot start an [`Error::SourceCommand`].
    pub fn spawn(
        argv: &[String],
        echo_stderr: bool,
        progress: Arc<dyn Progress>,
    ) -> Result<CommandReader> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| Error::Usage("--stdin-from-command needs a command after --".into()))?;
        let command = argv.join(" ");
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        child::scrub_env(&mut cmd);
        let mut c = cmd.spawn().map_err(|e| Error::SourceCommand {
            command: command.clone(),
            status: format!("could not be started: {e}"),
            stderr_tail: String::new(),
        })?;
        let echo: Option<Box<dyn std::io::Write + Send>> = match echo_stderr {
            true => Some(Box::new(std::io::stderr())),
            false => None,
        };
        let stderr = c.stderr.take().map(|s| child::drain_stderr(s, echo));
        let stdout = c.stdout.take();
        let c = Arc::new(Mutex::new(c));
        child::watch(c.clone(), progress.clone());
        Ok(CommandReader {
            command,
            child: c,
            stdout,
            stderr,
            progress,
            finished: false,
        })
    }

    /// At the end of the output: waits for the command and turns a failure
    /// (or a stop request) into the error that fails the backup.
    fn finish(&mut self) -> Result<()> {
        self.finished = true;
        self.stdout = None;
        let waited = child::wait(&self.child, &*self.progress);
        let tail = self.stderr.take().map(child::tail_text).unwrap_or_default();
        let failed = |status: String| Error::SourceCommand {
            command: self.command.clone(),
            status,
            stderr_tail: tail.clone(),
        };
        let (status, stopped) =
            waited.map_err(|e| failed(format!("could not be waited for: {e}")))?;
        if stopped {
            return Err(Error::Interrupted(format!(
                "the source command was stopped ({})",
                child::describe(status)
            )));
        }
        if !status.success() {
            return Err(failed(child::describe(status)));
        }
        Ok(())
    }
}

impl Read for CommandReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(stdout) = self.stdout.as_mut() else {
            return Ok(0);
        };
        let n = stdout.read(buf)?;
        if n == 0 && !buf.is_empty() && !self.finished {
            self.finish().map_err(std::io::Error::other)?;
        }
        Ok(n)
    }
}

impl Drop for CommandReader {
    /// A backup that failed before reading to the end leaves no command
    /// running behind it, and no zombie.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        self.stdout = None;
        let mut c = self.child.lock().unwrap_or_else(|p| p.into_inner());
        child::terminate(&mut c);
        let _ = c.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;
    use crate::source::skippable;
    use crate::ErrorKind;

    fn sh(script: &str) -> CommandReader {
        let argv = ["sh", "-c", script].map(String::from);
        CommandReader::spawn(&argv, false, Arc::new(NoProgress)).unwrap()
    }

    fn read_all(r: &mut CommandReader) -> (Vec<u8>, std::io::Result<usize>) {
        let mut out = Vec::new();
        let res = r.read_to_end(&mut out);
        (out, res)
    }

    #[test]
    fn a_successful_command_is_read_to_its_end() {
        let (out, res) = read_all(&mut sh("printf 'a\\0b'; echo chatter >&2"));
        assert_eq!(out, b"a\0b");
        assert!(res.is_ok());
    }

    #[test]
    fn a_failing_command_fails_the_read_with_its_stderr() {
        let (out, res) = read_all(&mut sh("echo partial; echo boom >&2; exit 3"));
        assert_eq!(out, b"partial\n");
        let err = skippable(res.unwrap_err()).expect_err("a source command error");
        assert_eq!(err.kind(), ErrorKind::External);
        let msg = err.to_string();
        assert!(
            msg.contains("exit status 3") && msg.contains("boom"),
            "{msg}"
        );
        assert!(msg.contains("sh -c echo partial"), "{msg}");
    }

    #[test]
    fn a_killed_command_fails_the_read() {
        let (_, res) = read_all(&mut sh("echo partial; kill -9 $$"));
        let err = skippable(res.unwrap_err()).expect_err("a source command error");
        assert!(err.to_string().contains("killed by signal 9"), "{err}");
    }

    #[test]
    fn a_missing_program_is_a_source_command_error() {
        let argv = ["/nonexistent/dump-tool".to_string()];
        let err = CommandReader::spawn(&argv, false, Arc::new(NoProgress))
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::External);
        assert!(err.to_string().contains("/nonexistent/dump-tool"));
    }

    struct Stop;
    impl Progress for Stop {
        fn cancelled(&self) -> bool {
            true
        }
    }

    #[test]
    fn a_stop_request_ends_a_silent_command() {
        // The command writes nothing, so the read blocks until the watcher
        // terminates it.
        let argv = ["sleep", "1000"].map(String::from);
        let mut r = CommandReader::spawn(&argv, false, Arc::new(Stop)).unwrap();
        let (_, res) = read_all(&mut r);
        let err = skippable(res.unwrap_err()).expect_err("an interruption");
        assert_eq!(err.kind(), ErrorKind::Interrupted, "{err}");
    }
}
