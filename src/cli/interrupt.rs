//! Ctrl-C and SIGTERM for long commands. The first signal asks the running
//! operation to stop at its next safe point: it then says in one line what
//! state it left, and the process exits 130 (SIGINT) or 143 (SIGTERM), as a
//! shell reports a process the signal killed. A second signal exits at once.
//!
//! Short commands keep the default disposition: they have nothing to clean
//! up, and dying on the spot is what a user pressing Ctrl-C expects.

use std::sync::atomic::{AtomicI32, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};

use cairn::{Error, Result};

use crate::cli::args::Command;
use crate::cli::exit;

/// The first stop signal received; 0 while none.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// Installs the handlers if `command` is one that stops at safe points.
pub fn install_for(command: &Command) -> Result<()> {
    let long = matches!(
        command,
        Command::Backup(_)
            | Command::Restore(_)
            | Command::Dump(_)
            | Command::Check(_)
            | Command::Prune(_)
            | Command::Forget(_)
            | Command::Repair(_)
            | Command::Export(_)
            | Command::Import(_)
            | Command::ImportRestic(_)
    );
    if !long {
        return Ok(());
    }
    for sig in [SIGINT, SIGTERM] {
        // SAFETY: the action only uses an atomic, write(2) and _exit(2),
        // which are async-signal-safe.
        unsafe { signal_hook::low_level::register(sig, move || on_signal(sig)) }
            .map_err(|e| Error::Internal(format!("cannot handle signal {sig}: {e}")))?;
    }
    Ok(())
}

/// Runs in the signal handler: nothing that allocates or locks.
fn on_signal(sig: i32) {
    let first = RECEIVED
        .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok();
    if first {
        return;
    }
    const MSG: &[u8] =
        b"cairn: interrupted again: exiting at once, without cleaning up temporary files\n";
    // SAFETY: writes a static buffer to stderr; the result does not matter.
    unsafe {
        libc::write(2, MSG.as_ptr().cast(), MSG.len());
    }
    signal_hook::low_level::exit(exit_code());
}

/// Whether a stop signal arrived.
pub fn requested() -> bool {
    RECEIVED.load(Ordering::Relaxed) != 0
}

/// The exit code for an interrupted command, by the first signal received.
pub fn exit_code() -> i32 {
    match RECEIVED.load(Ordering::Relaxed) {
        SIGTERM => exit::INTERRUPTED_SIGTERM,
        _ => exit::INTERRUPTED_SIGINT,
    }
}

/// A writer that fails once a stop signal arrived, so a command streaming
/// to its output (`dump`) stops at the next write; [`stopped_writing`]
/// then turns the failure into the one-line report.
pub struct StopWriter<W> {
    pub inner: W,
    pub written: u64,
}

impl<W: std::io::Write> std::io::Write for StopWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if requested() {
            // Not `ErrorKind::Interrupted`: `write_all` would retry that.
            return Err(std::io::Error::other("stop requested"));
        }
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// After a signal, the error of a command that was writing `what`.
pub fn stopped_writing(result: Result<()>, written: u64, what: &str) -> Result<()> {
    match result {
        Err(_) if requested() => Err(Error::Interrupted(format!(
            "dump stopped after writing {written} bytes; {what} is incomplete"
        ))),
        other => other,
    }
}
