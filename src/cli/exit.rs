//! The one table from errors to exit codes (documented in the README).

use cairn::ErrorKind;

pub const OK: i32 = 0;
/// The command could not run (I/O, storage, internal error).
pub const FAILED: i32 = 1;
/// Bad arguments or input.
pub const USAGE: i32 = 2;
/// Backup saved, but some files could not be read (or, without
/// `--allow-empty`, saved nothing because the excludes left nothing);
/// restore finished, or stopped on a full disk, with files it could not
/// restore.
pub const INCOMPLETE: i32 = 3;
/// Stored data is damaged (authentication or hash failure).
pub const DAMAGED: i32 = 4;
/// The repository's format version is not supported by this build.
pub const UNSUPPORTED: i32 = 5;
/// A backup recorded nothing because packs it relied on were deleted while
/// it ran (a concurrent prune, or its backup-in-progress marker lapsed):
/// run it again.
pub const RACED: i32 = 6;
/// A hook (`--hook-before`, `--hook-after`) or a source command
/// (`--stdin-from-command`) failed.
pub const EXTERNAL: i32 = 7;
pub const NO_REPOSITORY: i32 = 10;
pub const LOCKED: i32 = 11;
pub const WRONG_PASSWORD: i32 = 12;
/// The key is put-only (`key add --put-only`): it can add backups, and
/// this command needs a full key. Refused before any data is read.
pub const PUT_ONLY_KEY: i32 = 13;
/// Stopped by SIGINT (Ctrl-C) or SIGTERM: 128 + the signal number, as a
/// shell reports a process the signal killed.
pub const INTERRUPTED_SIGINT: i32 = 130;
pub const INTERRUPTED_SIGTERM: i32 = 143;

/// Exit code for a library error.
pub fn code(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::Usage => USAGE,
        ErrorKind::NoRepository => NO_REPOSITORY,
        ErrorKind::WrongPassword => WRONG_PASSWORD,
        ErrorKind::PutOnlyKey => PUT_ONLY_KEY,
        ErrorKind::Corrupt => DAMAGED,
        ErrorKind::UnsupportedVersion => UNSUPPORTED,
        ErrorKind::Locked => LOCKED,
        ErrorKind::Raced => RACED,
        ErrorKind::External => EXTERNAL,
        ErrorKind::Storage | ErrorKind::Io | ErrorKind::Internal => FAILED,
        ErrorKind::Interrupted => crate::cli::interrupt::exit_code(),
    }
}
