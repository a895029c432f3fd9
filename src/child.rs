//! Child processes cairn runs for the user: hooks (`--hook-before`) and
//! source commands (`--stdin-from-command`). Both need the same three
//! things, kept here once:
//!
//! - the child's stderr drained on a thread while it runs (a chatty
//!   command must not fill the pipe and deadlock), keeping only its tail
//!   for the error message;
//! - a wait that notices a stop request ([`Progress::cancelled`]): the
//!   child gets SIGTERM and is waited for, so Ctrl-C never leaves a dump
//!   or a service script running behind cairn's back;
//! - its exit status in words ("exit status 3", "killed by signal 9").
//!
//! The child keeps cairn's process group, so a terminal's Ctrl-C reaches it
//! too, and a command that asks for a password on the terminal can read it.

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStderr, Command, ExitStatus};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::progress::Progress;

/// Environment variables holding secrets that children never inherit: a
/// hook or a dump command has no use for the repository's password.
const SECRET_VARS: &[&str] = &["CAIRN_PASSWORD", "CAIRN_BUNDLE_PASSWORD"];

/// How much of a child's stderr an error message keeps.
const TAIL_BYTES: usize = 4096;
const TAIL_LINES: usize = 20;

/// How often a wait looks at the child and at the stop request.
const POLL: Duration = Duration::from_millis(20);

/// Removes the secret variables from a command's environment.
pub fn scrub_env(cmd: &mut Command) {
    for var in SECRET_VARS {
        cmd.env_remove(var);
    }
}

/// Reads `stderr` to its end on a thread, copying it to `echo` as it comes
/// (when given) and returning its last [`TAIL_BYTES`] bytes.
pub fn drain_stderr(
    mut stderr: ChildStderr,
    mut echo: Option<Box<dyn Write + Send>>,
) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut tail: Vec<u8> = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = match stderr.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            if let Some(w) = echo.as_mut() {
                // Echoing is a courtesy; a closed stderr must not stop the drain.
                let _ = w.write_all(&buf[..n]);
            }
            tail.extend_from_slice(&buf[..n]);
            if tail.len() > 2 * TAIL_BYTES {
                tail.drain(..tail.len() - TAIL_BYTES);
            }
        }
        if tail.len() > TAIL_BYTES {
            tail.drain(..tail.len() - TAIL_BYTES);
        }
        tail
    })
}

/// The drained stderr's last lines as text (lossy UTF-8, trailing blank
/// lines dropped); empty if the thread panicked or nothing was written.
pub fn tail_text(drain: JoinHandle<Vec<u8>>) -> String {
    let bytes = drain.join().unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let skip = lines.len().saturating_sub(TAIL_LINES);
    lines[skip..].join("\n")
}

/// How a child ended, in words for messages and JSON.
pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        (None, None) => format!("{status}"),
    }
}

/// Sends SIGTERM to a child that has not been reaped yet (its pid cannot
/// have been reused: an unreaped child keeps it).
pub fn terminate(child: &mut Child) {
    if matches!(child.try_wait(), Ok(None)) {
        // SAFETY: kill(2) on our own unreaped child; no memory involved.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
    }
}

/// Waits for the child; on a stop request it is sent SIGTERM once and
/// still waited for. Returns its status and whether a stop was requested
/// (then the caller reports an interruption, not the child's failure:
/// Ctrl-C at a terminal kills the child too).
pub fn wait(child: &Mutex<Child>, progress: &dyn Progress) -> std::io::Result<(ExitStatus, bool)> {
    let mut signalled = false;
    loop {
        {
            let mut c = child.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(status) = c.try_wait()? {
                return Ok((status, signalled || progress.cancelled()));
            }
            if !signalled && progress.cancelled() {
                terminate(&mut c);
                signalled = true;
            }
        }
        std::thread::sleep(POLL);
    }
}

/// Watches a child on a thread while another thread blocks on its output:
/// on a stop request the child gets SIGTERM (so the blocked read sees the
/// end of its output). The thread ends once the child has been reaped.
pub fn watch(child: Arc<Mutex<Child>>, progress: Arc<dyn Progress>) {
    std::thread::spawn(move || loop {
        {
            let mut c = child.lock().unwrap_or_else(|p| p.into_inner());
            if !matches!(c.try_wait(), Ok(None)) {
                return;
            }
            if progress.cancelled() {
                terminate(&mut c);
                return;
            }
        }
        std::thread::sleep(POLL);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;
    use std::process::Stdio;

    fn spawn(script: &str) -> Child {
        Command::new("sh")
            .args(["-c", script])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    #[test]
    fn keeps_the_last_lines_of_a_chatty_stderr() {
        // 1 MiB of noise and then the line that matters: no deadlock, and
        // the tail holds the end.
        let mut child =
            spawn("head -c 1048576 /dev/zero | tr '\\0' x >&2; echo >&2; echo last >&2");
        let drain = drain_stderr(child.stderr.take().unwrap(), None);
        let (status, stopped) = wait(&Mutex::new(child), &NoProgress).unwrap();
        assert!(status.success() && !stopped);
        let tail = tail_text(drain);
        assert!(tail.ends_with("last"), "{tail:?}");
        assert!(tail.len() <= TAIL_BYTES);
    }

    #[test]
    fn keeps_at_most_twenty_lines() {
        let mut child = spawn("for i in $(seq 1 50); do echo line$i >&2; done");
        let drain = drain_stderr(child.stderr.take().unwrap(), None);
        wait(&Mutex::new(child), &NoProgress).unwrap();
        let tail = tail_text(drain);
        let lines: Vec<&str> = tail.lines().collect();
        assert_eq!(lines.len(), 20);
        assert_eq!((lines[0], lines[19]), ("line31", "line50"));
    }

    #[test]
    fn describes_exit_codes_and_signals() {
        let mut c = spawn("exit 3");
        assert_eq!(describe(c.wait().unwrap()), "exit status 3");
        let mut c = spawn("kill -9 $$");
        assert_eq!(describe(c.wait().unwrap()), "killed by signal 9");
    }

    struct Stop;
    impl Progress for Stop {
        fn cancelled(&self) -> bool {
            true
        }
    }

    #[test]
    fn a_stop_request_terminates_the_child() {
        let child = spawn("sleep 1000");
        let (status, stopped) = wait(&Mutex::new(child), &Stop).unwrap();
        assert!(stopped);
        assert_eq!(status.signal(), Some(libc::SIGTERM));
    }
}
