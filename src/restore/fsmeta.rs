//! Applying saved metadata to restored entries: ownership (as root), mode,
//! extended attributes and times, in the order that keeps each effective
//! (chown clears set-id bits, so mode comes after it; times come last).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use filetime::FileTime;

use crate::error::{Error, Result};
use crate::format::tree::Meta;

/// Is this process able to restore ownership?
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn cpath(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::io(p, std::io::Error::other("path contains NUL")))
}

/// Applies `meta` to `path`; `symlink` selects the calls that do not follow links.
pub fn apply(path: &Path, meta: &Meta, symlink: bool, warn: &mut dyn FnMut(String)) -> Result<()> {
    let c = cpath(path)?;
    if is_root() {
        // SAFETY: c is a valid NUL-terminated path.
        if unsafe { libc::lchown(c.as_ptr(), meta.uid, meta.gid) } != 0 {
            warn(format!(
                "chown {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            ));
        }
    }
    if !symlink {
        let mode = meta.mode & 0o7777;
        // SAFETY: c is a valid NUL-terminated path.
        if unsafe { libc::chmod(c.as_ptr(), mode as libc::mode_t) } != 0 {
            return Err(Error::io(path, std::io::Error::last_os_error()));
        }
    }
    for x in &meta.xattrs {
        let name = std::ffi::OsStr::from_bytes(&x.name);
        if let Err(e) = xattr::set(path, name, &x.value) {
            warn(format!(
                "xattr {} on {}: {e}",
                String::from_utf8_lossy(&x.name),
                path.display()
            ));
        }
    }
    let mtime = FileTime::from_unix_time(meta.mtime.secs, meta.mtime.nanos);
    filetime::set_symlink_file_times(path, mtime, mtime).map_err(|e| Error::io(path, e))
}
