//! One regular file of the walk: recorded from the parent when unchanged
//! (never opened), from an earlier name of the same inode, or read.
//!
//! The syscall budget of a new small file (up to one chunk, as in a tree of
//! millions of them) is: the walk's `lstat` and `llistxattr`, then `open`,
//! one `read` (with room for a byte more than listed, to notice a longer
//! file), one `fstat` and `close`; in a first backup these are made on the
//! read-ahead threads (read_ahead.rs). The `fstat` right after the read checks
//! it is the inode the walk saw before any of its bytes is stored, and
//! tells whether it changed while read; its first bytes tell whether it may
//! be a database (one that is gets its header read again by SQLite). A
//! larger file is checked before it is streamed, since a device swapped in
//! would never end.

use std::fs::File;

use super::Archiver;
use crate::backup::open::{open_nofollow, open_regular, read_small, same_inode, SeenLink, Stamp};
use crate::error::{Error, Result};
use crate::progress::FileOutcome;
use crate::source::content::{self as src_content, Content};
use crate::source::sqlite;
use crate::source::Entry;

/// An opened file (closed already if read whole ahead and not needed
/// again: read_ahead.rs), its content if already read whole, its stamp
/// when it was checked before reading, and when it was checked after
/// reading it whole.
type Opened = (Option<File>, Option<Vec<u8>>, Option<Stamp>, Option<Stamp>);

impl Archiver<'_, '_> {
    pub(super) fn file(&mut self, e: Entry, size: u64) -> Result<()> {
        self.progress.item(&e.path);
        let wanted = self.db.wants(e.meta.device, e.meta.inode);
        if let Some(kind) = self.reuse_unchanged(&e, size, wanted)? {
            let s = kind.file_content().map_or(0, |(s, _)| s);
            self.databases.count +=
                u64::from(matches!(kind, crate::format::tree::NodeKind::Sqlite { .. }));
            self.summary.files_unchanged += 1;
            self.summary.total_bytes += s;
            self.progress.file(&e.path, FileOutcome::Unmodified, s);
            self.push(super::node(e.name, e.meta, kind));
            return Ok(());
        }
        // Another name of an inode read in this backup: reuse its chunks, but only if it still
        // looks the same (it may have changed between the two names, or the inode been reused).
        let link_key = (e.meta.device, e.meta.inode);
        if e.meta.links > 1 {
            if let Some(seen) = self.links.get(&link_key) {
                if seen.size == size && seen.mtime == e.meta.mtime && seen.ctime == e.meta.ctime {
                    let (s, content) = (seen.size, seen.content.clone());
                    self.summary.total_bytes += s;
                    self.push_file(e.name, e.meta, s, content);
                    return Ok(());
                }
            }
        }
        let (file, head, before, checked) = match self.open_file(&e, size)? {
            Ok(opened) => opened,
            Err(why) => {
                self.skip(e.path, why);
                return Ok(());
            }
        };
        let is_new = !self.parent.has(&e.name);
        let maybe_db = wanted && head.as_deref().is_none_or(sqlite::has_header);
        let file = match (maybe_db, file) {
            (false, file) | (true, file @ None) => file,
            (true, Some(file)) => match src_content::open(&e.path, file, wanted, self.db) {
                Content::Database(db) => return self.database(e, db, is_new),
                Content::Plain {
                    file,
                    not_snapshotted,
                } => {
                    if let Some(why) = not_snapshotted {
                        self.not_snapshotted(&e.path, &why);
                    }
                    Some(file)
                }
            },
        };
        let (read, content) = match self.content(file.as_ref(), head) {
            Ok(r) => r,
            Err(Error::Io { source, .. }) => {
                self.skip(e.path, source.to_string());
                return Ok(());
            }
            Err(other) => return Err(other),
        };
        // Changed since the walk saw it, or while it was read: the recorded
        // metadata and the content may not belong together, so say so.
        let listed = Stamp {
            size,
            mtime: e.meta.mtime,
            ctime: e.meta.ctime,
        };
        let after = match checked {
            Some(checked) => Ok(Some(checked)),
            None => match file.as_ref().map(File::metadata) {
                Some(Ok(m)) => same_inode(&e, &m).map(Some),
                _ => Ok(None),
            },
        };
        let after = match after {
            Ok(after) => after,
            Err(why) => {
                self.skip(e.path, why);
                return Ok(());
            }
        };
        let before = before.unwrap_or(listed);
        if before != listed || after != Some(before) || before.size != read {
            self.progress
                .warn(&format!("{} changed while it was read", e.path.display()));
            self.changed.push(e.path.clone());
        }
        self.summary.files_new += u64::from(is_new);
        self.summary.files_changed += u64::from(!is_new);
        self.progress.file(&e.path, FileOutcome::read(is_new), read);
        self.summary.total_bytes += read;
        if e.meta.links > 1 {
            self.links.insert(
                link_key,
                SeenLink {
                    size: read,
                    mtime: e.meta.mtime,
                    ctime: e.meta.ctime,
                    content: content.clone(),
                },
            );
        }
        self.push_file(e.name, e.meta, read, content);
        Ok(())
    }

    /// Opens a file to read. One of at most one chunk (by its listed size)
    /// is read whole at once and checked right after, before any of its
    /// bytes is stored: a file renamed over it since the walk is skipped,
    /// never recorded under the old inode's metadata. One found longer than
    /// listed (it grew, or a special file whose size says 0) is streamed
    /// whole instead. A larger file is checked first. The inner error is
    /// why the file is skipped.
    fn open_file(&mut self, e: &Entry, size: u64) -> Result<std::result::Result<Opened, String>> {
        if size > self.repo.config().chunker.max_size as u64 {
            return Ok(open_regular(e).map(|(file, before)| (Some(file), None, Some(before), None)));
        }
        // Read ahead on another thread (read_ahead.rs), or here, the same way.
        let early = self.early.take().filter(|early| early.path == e.path);
        let (file, read, meta) = match early.map(|early| early.opened) {
            Some(opened) => opened,
            None => match open_nofollow(e) {
                Ok(file) => {
                    let read = read_small(&file, size);
                    let meta = file.metadata();
                    (Some(file), read, meta)
                }
                Err(why) => return Ok(Err(why)),
            },
        };
        // The one fstat: the inode the walk saw? (A fifo swapped in reads
        // as empty or fails, and is caught here either way.)
        let stamp = match meta {
            Ok(m) => match same_inode(e, &m) {
                Ok(stamp) => stamp,
                Err(why) => return Ok(Err(why)),
            },
            Err(err) => return Ok(Err(err.to_string())),
        };
        match read {
            Ok(data) if data.len() as u64 <= size => Ok(Ok((file, Some(data), None, Some(stamp)))),
            Ok(_) => {
                use std::io::Seek;
                // Read ahead, a file longer than listed is kept open.
                let Some(mut file) = file else {
                    return Err(Error::Internal(
                        "a longer file read ahead was closed".into(),
                    ));
                };
                match file.rewind() {
                    Ok(()) => Ok(Ok((Some(file), None, Some(stamp), None))),
                    Err(err) => Ok(Err(err.to_string())),
                }
            }
            Err(err) => Ok(Err(err.to_string())),
        }
    }
}
