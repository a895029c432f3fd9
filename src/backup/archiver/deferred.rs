//! Files whose content is opened only when needed ([`Event::Deferred`]): a
//! bucket's objects, where opening is a GET. Unchanged since the parent
//! (size, times, inode and xattrs, the ETag among them) means recorded
//! again from the parent without opening; otherwise opened and streamed.
//!
//! [`Event::Deferred`]: crate::source::Event::Deferred

use super::{node, Archiver};
use crate::error::{Error, Result};
use crate::format::tree::NodeKind;
use crate::progress::FileOutcome;
use crate::source::{Entry, EntryKind, OpenFn};

impl Archiver<'_, '_> {
    pub(super) fn deferred(&mut self, mut e: Entry, open: OpenFn) -> Result<()> {
        let EntryKind::File { size } = e.kind else {
            return Err(Error::Internal("a deferred entry that is no file".into()));
        };
        self.progress.item(&e.path);
        if let Some(kind) = self
            .parent
            .unchanged_deferred(&e.name, &e.meta, size)
            .cloned()
        {
            let (_, content) = kind.file_content().unwrap_or_default();
            if self.all_known(content)? {
                self.summary.files_unchanged += 1;
                self.summary.total_bytes += size;
                self.progress.file(&e.path, FileOutcome::Unmodified, size);
                self.push(node(e.name, e.meta, kind));
                return Ok(());
            }
        }
        let is_new = !self.parent.has(&e.name);
        let mut reader = match open(&mut e.meta) {
            Ok(r) => r,
            Err(err) => {
                self.skip(e.path, crate::source::skippable(err)?.to_string());
                return Ok(());
            }
        };
        let (read, content) = match self.stream_content(&mut reader) {
            Ok(r) => r,
            Err(Error::Io { source, .. }) => {
                self.skip(e.path, crate::source::skippable(source)?.to_string());
                return Ok(());
            }
            Err(other) => return Err(other),
        };
        self.summary.files_new += u64::from(is_new);
        self.summary.files_changed += u64::from(!is_new);
        self.summary.total_bytes += read;
        self.progress.file(&e.path, FileOutcome::read(is_new), read);
        self.push(node(
            e.name,
            e.meta,
            NodeKind::File {
                size: read,
                content,
            },
        ));
        Ok(())
    }
}
