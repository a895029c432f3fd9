//! Opening a file the walk listed, safely: never through a symlink or a
//! fifo swapped in since, and only if it is still the same inode; plus the
//! size-and-times stamps that tell whether it changed around the read.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;

use crate::format::tree::Timestamp;
use crate::ids::ChunkId;
use crate::source::Entry;

/// Size and times of an open file, compared before and after reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    pub(super) size: u64,
    pub(super) mtime: Timestamp,
    pub(super) ctime: Timestamp,
}

impl Stamp {
    pub(super) fn of(m: &std::fs::Metadata) -> Self {
        Stamp {
            size: m.len(),
            mtime: Timestamp {
                secs: m.mtime(),
                nanos: m.mtime_nsec() as u32,
            },
            ctime: Timestamp {
                secs: m.ctime(),
                nanos: m.ctime_nsec() as u32,
            },
        }
    }
}

/// A multiply-linked file already read in this backup.
pub(super) struct SeenLink {
    pub(super) size: u64,
    pub(super) mtime: Timestamp,
    pub(super) ctime: Timestamp,
    pub(super) content: Vec<ChunkId>,
}

/// Opens the entry for reading without following a symlink or blocking on a
/// fifo that replaced it since the walk, and checks it is still the regular
/// file the walk saw (same device and inode). For a file streamed from the
/// descriptor, which must be known to be a regular file before reading.
pub(super) fn open_regular(e: &Entry) -> std::result::Result<(File, Stamp), String> {
    let file = open_nofollow(e)?;
    let m = file.metadata().map_err(|err| err.to_string())?;
    Ok((file, same_inode(e, &m)?))
}

/// Opens the entry for reading only: for a file read with one bounded read
/// of its listed size, checked with [`same_inode`] afterwards (one `fstat`
/// per file instead of one before and one after the read).
pub(crate) fn open_nofollow(e: &Entry) -> std::result::Result<File, String> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(&e.path)
        .map_err(|err| match err.raw_os_error() {
            Some(libc::ELOOP) => "replaced by a symlink since it was listed".to_string(),
            _ => err.to_string(),
        })
}

/// The stamp of an open file, if it is still the regular file the walk saw.
pub(super) fn same_inode(e: &Entry, m: &std::fs::Metadata) -> std::result::Result<Stamp, String> {
    if !m.is_file() || m.dev() != e.meta.device || m.ino() != e.meta.inode {
        return Err("replaced by another file since it was listed".into());
    }
    Ok(Stamp::of(m))
}

/// The whole content of a file no larger than one chunk, read before
/// anything else looks at it. Exactly its listed `size` is asked for,
/// so no read is spent finding the end and a device swapped in for it
/// is read no further: a file that grew, shrank or was replaced
/// meanwhile shows in the `fstat` the caller makes after reading.
pub(crate) fn read_small(file: &File, size: u64) -> std::io::Result<Vec<u8>> {
    // Room for one byte more than listed: a file longer than its size
    // says (grown, or a special file listing 0) shows as a full buffer,
    // and the caller streams it instead. A regular file's read returns
    // all of it at once, so the usual cost is one read, no EOF read.
    let mut data = vec![0; size as usize + 1];
    let mut filled = 0;
    while filled < data.len() {
        match (&mut &*file).read(&mut data[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        if filled == size as usize {
            break;
        }
    }
    data.truncate(filled);
    Ok(data)
}
