//! The library's one error type. Every failure carries an [`ErrorKind`] so the
//! CLI can map it to a documented exit code without matching on messages.

use std::path::PathBuf;

/// Broad classes of failure; the CLI turns these into exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Bad arguments or input from the user (unknown snapshot, bad glob, ...).
    Usage,
    /// No repository at the given location.
    NoRepository,
    /// The password does not open any key file.
    WrongPassword,
    /// Stored bytes failed authentication, a hash check or decoding.
    Corrupt,
    /// The repository uses a format version this build does not know.
    UnsupportedVersion,
    /// The storage backend failed (I/O, network, permissions).
    Storage,
    /// Local I/O outside the backend (source files, restore target, cache).
    Io,
    /// An operation that needs exclusive access found a lock, or an object
    /// it must delete is still under its retention lock.
    Locked,
    /// Anything else that is a bug or cannot be classified.
    Internal,
    /// A backup recorded nothing because data it relied on was deleted while
    /// it ran (or could have been: its backup-in-progress marker lapsed).
    /// Running it again is the fix.
    Raced,
    /// The user asked the operation to stop (Ctrl-C, SIGTERM); it stopped
    /// at a safe point.
    Interrupted,
    /// A command the user gave cairn to run (a hook, a source command)
    /// failed.
    External,
    /// The key opens the repository only for adding backups
    /// (format-spec/18-put-only.md); the command needs a full key.
    PutOnlyKey,
}

/// Errors returned by the cairn library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("no repository at {0} (create one with `cairn init`)")]
    NoRepository(String),
    #[error("wrong password: no key file in the repository opens with it")]
    WrongPassword,
    /// A foreign repository being imported (`import-restic`) has no key
    /// file the password opens; names the repository, never the password.
    #[error("wrong password for {0}: no key file in it opens with it")]
    ForeignPassword(String),
    /// `what` names the refused operation ("restore", "reading snapshots").
    #[error("the key is put-only: it can add backups but {0} needs a full key")]
    PutOnlyKey(String),
    #[error("corrupt {what}: {detail}")]
    Corrupt { what: String, detail: String },
    #[error(
        "repository format version {found} is not supported by this build (supports versions 1 to {supported})"
    )]
    UnsupportedVersion { found: u32, supported: u32 },
    #[error("storage: {0}")]
    Storage(#[from] crate::storage::StorageError),
    /// A bucket that is not the repository failed: the source of a bucket
    /// backup or the target of a restore into a bucket. `role` says which
    /// ("source", "target"), so a refused key is never taken for the
    /// repository's; `bucket` is its location (no secrets in it).
    #[error("{role} bucket {bucket}: {source}")]
    Bucket {
        role: &'static str,
        bucket: String,
        #[source]
        source: crate::storage::StorageError,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Local I/O on a file the user named or the command needs, saying
    /// what the file was for ("password file", "exclude file").
    #[error("{what} {}: {source}", path.display())]
    File {
        what: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A bundle (`cairn import`) that its password does not open.
    #[error("wrong bundle password: {0}")]
    BundlePassword(String),
    #[error("index cache: {0}")]
    Cache(#[from] rusqlite::Error),
    #[error("repository is locked: {0}")]
    Locked(String),
    /// An object still under the repository's retention lock (Object Lock
    /// or a bucket-lock rule) that an operation would have to delete; the
    /// text says until when and what that means. Exit code as `Locked`.
    #[error("{0}")]
    Retained(String),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("{0}")]
    Raced(String),
    /// Stopped on request at a safe point; the text says what state the
    /// operation left (what was kept, what the next run reuses).
    #[error("interrupted, {0}")]
    Interrupted(String),
    /// A `--hook-before`/`--hook-after` command exited non-zero, was killed
    /// or could not start. `command` is the user's own text; environment
    /// values never appear here.
    #[error(
        "{hook} command `{command}` failed: {status}{}",
        tail_block(stderr_tail)
    )]
    Hook {
        hook: String,
        command: String,
        status: String,
        stderr_tail: String,
    },
    /// A `--stdin-from-command` command exited non-zero, was killed or could
    /// not start: its output is incomplete, so no snapshot holds it.
    #[error(
        "source command `{command}` failed: {status}{}",
        tail_block(stderr_tail)
    )]
    SourceCommand {
        command: String,
        status: String,
        stderr_tail: String,
    },
}

/// A command's stderr tail, indented below its error line.
fn tail_block(tail: &str) -> String {
    if tail.trim().is_empty() {
        return String::new();
    }
    let lines: Vec<String> = tail.lines().map(|l| format!("  {l}")).collect();
    format!("; its stderr ended with:\n{}", lines.join("\n"))
}

impl Error {
    /// The class of this error, for exit codes and retry decisions.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Usage(_) => ErrorKind::Usage,
            Error::NoRepository(_) => ErrorKind::NoRepository,
            Error::WrongPassword | Error::BundlePassword(_) | Error::ForeignPassword(_) => {
                ErrorKind::WrongPassword
            }
            Error::PutOnlyKey(_) => ErrorKind::PutOnlyKey,
            Error::Corrupt { .. } => ErrorKind::Corrupt,
            Error::UnsupportedVersion { .. } => ErrorKind::UnsupportedVersion,
            Error::Storage(_) | Error::Bucket { .. } => ErrorKind::Storage,
            Error::Io { .. } | Error::File { .. } | Error::Cache(_) => ErrorKind::Io,
            Error::Locked(_) | Error::Retained(_) => ErrorKind::Locked,
            Error::Internal(_) => ErrorKind::Internal,
            Error::Raced(_) => ErrorKind::Raced,
            Error::Interrupted(_) => ErrorKind::Interrupted,
            Error::Hook { .. } | Error::SourceCommand { .. } => ErrorKind::External,
        }
    }

    /// Shorthand for a [`Error::Corrupt`] naming what was being decoded.
    pub fn corrupt(what: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        Error::Corrupt {
            what: what.into(),
            detail: detail.to_string(),
        }
    }

    /// Shorthand for an I/O error on a local path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl Error {
    /// An I/O error on a local file, with what the file was for.
    pub fn file(what: impl Into<String>, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::File {
            what: what.into(),
            path: path.into(),
            source,
        }
    }
}

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
