//! Applying saved metadata to restored entries: ownership (as root),
//! extended attributes, mode and times, in the order that keeps each
//! effective (chown clears set-id bits and a read-only mode blocks xattrs,
//! so mode comes after both; times come last).
//!
//! Files and directories are changed through a descriptor opened with
//! `O_NOFOLLOW`, never by path, so an entry swapped for a symlink after it
//! was created cannot redirect a chmod or chown outside the target.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use filetime::FileTime;
use xattr::FileExt;

use crate::format::object::is_reserved_xattr;
use crate::format::tree::Meta;

/// Is this process able to restore ownership? Asked once: it was a
/// `geteuid` call per restored file.
pub fn is_root() -> bool {
    static ROOT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ROOT.get_or_init(|| nix::unistd::geteuid().is_root())
}

/// How to reach the entry whose metadata is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A regular file or directory: changed through a descriptor.
    Descriptor,
    /// A symlink: only ownership and times, with calls that do not follow it.
    Symlink,
    /// A fifo or device node: opening it could block or have side effects.
    Special,
}

/// Applies `meta` to `path`; every problem is returned as a warning, so one
/// entry on a filesystem without owners or xattrs never stops a restore.
pub fn apply(path: &Path, meta: &Meta, how: Via) -> Vec<String> {
    if how == Via::Descriptor {
        return match open_nofollow(path) {
            Ok(file) => apply_open(&file, path, meta),
            Err(e) => vec![format!("open {}: {e}", path.display())],
        };
    }
    let mut warnings = Vec::new();
    let mut warn = |what: &str, e: std::io::Error| {
        warnings.push(format!("{what} {}: {e}", path.display()));
    };
    let mtime = FileTime::from_unix_time(meta.mtime.secs, meta.mtime.nanos);
    let mode = meta.mode & 0o7777;
    match how {
        Via::Descriptor => {}
        Via::Symlink | Via::Special => {
            let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
                warnings.push(format!("{}: path contains NUL", path.display()));
                return warnings;
            };
            // SAFETY: c is a valid NUL-terminated path; lchown does not follow links.
            if is_root() && unsafe { libc::lchown(c.as_ptr(), meta.uid, meta.gid) } != 0 {
                warn("chown", std::io::Error::last_os_error());
            }
            if how == Via::Special {
                // A fifo or device node is not a symlink (it was just created
                // with mknod/mkfifo); chmod by path is the only way to set it.
                // SAFETY: c is a valid NUL-terminated path.
                if unsafe { libc::chmod(c.as_ptr(), mode as libc::mode_t) } != 0 {
                    warn("chmod", std::io::Error::last_os_error());
                }
            }
            if let Err(e) = filetime::set_symlink_file_times(path, mtime, mtime) {
                warn("set times", e);
            }
        }
    }
    warnings
}

/// Applies `meta` through an open descriptor of the entry at `path` (the
/// path only names it in warnings).
pub fn apply_open(file: &File, path: &Path, meta: &Meta) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut warn = |what: &str, e: std::io::Error| {
        warnings.push(format!("{what} {}: {e}", path.display()));
    };
    let fd = file.as_raw_fd();
    // SAFETY (fchown, fchmod): fd is a live descriptor owned by `file`.
    if is_root() && unsafe { libc::fchown(fd, meta.uid, meta.gid) } != 0 {
        warn("chown", std::io::Error::last_os_error());
    }
    // `cairn.*` xattrs are a bucket object's S3 metadata (17-bucket.md), not the file's.
    let own = meta.xattrs.iter().filter(|x| !is_reserved_xattr(&x.name));
    for x in own {
        if let Err(e) = file.set_xattr(std::ffi::OsStr::from_bytes(&x.name), &x.value) {
            warn("xattr", e);
        }
    }
    if unsafe { libc::fchmod(fd, (meta.mode & 0o7777) as libc::mode_t) } != 0 {
        warn("chmod", std::io::Error::last_os_error());
    }
    let mtime = FileTime::from_unix_time(meta.mtime.secs, meta.mtime.nanos);
    if let Err(e) = filetime::set_file_handle_times(file, Some(mtime), Some(mtime)) {
        warn("set times", e);
    }
    warnings
}

/// Opens a file or directory for metadata changes without following a
/// symlink in its place and without blocking on anything special.
fn open_nofollow(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}
