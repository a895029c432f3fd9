//! A source holding one regular file whose content is read from a stream
//! (standard input, a command's output), for `backup --stdin`.

use std::io::Read;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::format::tree::{is_safe_name, Meta, Timestamp};
use crate::source::fs::meta::Owners;
use crate::source::{Entry, EntryKind, Event, Source};

/// Yields a single [`Event::Stream`] at the snapshot root.
pub struct StdinSource {
    filename: String,
    reader: Option<Box<dyn Read + Send>>,
}

impl StdinSource {
    /// `filename` is the name the content gets in the snapshot; it must be a
    /// single safe name (restore joins it onto a target directory).
    pub fn new(filename: String, reader: Box<dyn Read + Send>) -> Result<StdinSource> {
        if !is_safe_name(filename.as_bytes()) {
            return Err(Error::Usage(format!(
                "stdin file name must be a single file name, not {filename:?}"
            )));
        }
        Ok(StdinSource {
            filename,
            reader: Some(reader),
        })
    }

    /// A regular file owned by the current user, modified now. Its size is
    /// unknown until the stream is read, so it is recorded as 0 here.
    fn entry(&self) -> Entry {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let now = Timestamp {
            secs: i64::try_from(now.as_secs()).unwrap_or(i64::MAX),
            nanos: now.subsec_nanos(),
        };
        // SAFETY: geteuid/getegid cannot fail and touch no memory.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let mut owners = Owners::default();
        Entry {
            name: self.filename.as_bytes().to_vec(),
            path: PathBuf::from(&self.filename),
            kind: EntryKind::File { size: 0 },
            meta: Meta {
                mode: 0o100644,
                uid,
                gid,
                user: owners.user(uid),
                group: owners.group(gid),
                mtime: now,
                ctime: now,
                inode: 0,
                device: 0,
                links: 1,
                xattrs: Vec::new(),
            },
            xattrs_deferred: false,
        }
    }
}

impl Iterator for StdinSource {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        let reader = self.reader.take()?;
        Some(Event::Stream(self.entry(), reader))
    }
}

impl Source for StdinSource {
    fn paths(&self) -> Vec<String> {
        vec![self.filename.clone()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yields_one_stream_with_its_content() {
        let reader = Box::new(std::io::Cursor::new(b"hello".to_vec()));
        let mut src = StdinSource::new("dump.sql".into(), reader).unwrap();
        assert_eq!(src.paths(), vec!["dump.sql".to_string()]);
        let Some(Event::Stream(entry, mut r)) = src.next() else {
            panic!("expected a stream event");
        };
        assert_eq!(entry.name, b"dump.sql");
        assert_eq!(entry.kind, EntryKind::File { size: 0 });
        assert_eq!(entry.meta.mode, 0o100644);
        // SAFETY: geteuid cannot fail.
        assert_eq!(entry.meta.uid, unsafe { libc::geteuid() });
        assert!(entry.meta.mtime.secs > 1_600_000_000);
        let mut content = Vec::new();
        r.read_to_end(&mut content).unwrap();
        assert_eq!(content, b"hello");
        assert!(src.next().is_none());
    }

    #[test]
    fn rejects_unsafe_names() {
        for bad in ["", ".", "..", "a/b", "/x", "a\0b"] {
            let reader = Box::new(std::io::empty());
            let err = StdinSource::new(bad.into(), reader).err();
            assert_eq!(
                err.map(|e| e.kind()),
                Some(crate::ErrorKind::Usage),
                "{bad:?}"
            );
        }
    }
}
