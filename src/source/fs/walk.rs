//! The depth-first walk behind [`super::FsSource`]. It keeps one frame per
//! directory on the current path: either the remaining given-path components
//! (ancestors of what the user asked for) or the remaining sorted names of a
//! real directory. Memory is therefore bounded by the deepest path's
//! listings, never the whole tree. Each entry costs one `lstat` relative to
//! its open directory, each directory one `readdir`; xattrs are left to the
//! consumer (see `Entry::xattrs_deferred`).

use std::ffi::OsStr;
use std::fs::{DirEntry, Metadata};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::{collections::btree_map, vec};

use super::excludes::Excludes;
use super::meta::{read_entry, Owners};
use super::targets::TargetNode;
use crate::source::Event;

/// One open directory on the current path.
enum Frame {
    /// An ancestor of given paths: its children are given paths or ancestors.
    Targets {
        dir: PathBuf,
        children: btree_map::IntoIter<Vec<u8>, TargetNode>,
    },
    /// A directory inside a given path, with its not yet visited entries.
    Dir {
        dir: PathBuf,
        entries: vec::IntoIter<DirEntry>,
        /// The device of the given path this directory belongs to.
        dev: u64,
    },
}

/// The next child of the innermost frame, detached from the stack borrow.
enum Child {
    Target(PathBuf, Vec<u8>, TargetNode),
    Real(PathBuf, DirEntry, u64),
}

/// Iterator state of a filesystem walk.
pub(super) struct Walker {
    stack: Vec<Frame>,
    /// An event to hand out before walking (the root's own failure).
    pending: Option<Event>,
    excludes: Excludes,
    owners: Owners,
    one_file_system: bool,
    keep_db_companions: bool,
}

fn skipped(path: PathBuf, err: &io::Error) -> Event {
    Event::Skipped {
        path,
        error: err.to_string(),
    }
}

/// One `readdir`, sorted by byte-exact name as trees require. The entries
/// keep the directory open, so each child is `lstat`ed relative to it
/// (`DirEntry::metadata` is an `fstatat` on Linux) rather than by walking
/// its whole path again: one open directory per level of the current path.
fn list_dir(path: &Path) -> io::Result<Vec<DirEntry>> {
    let mut entries = std::fs::read_dir(path)?.collect::<io::Result<Vec<_>>>()?;
    entries.sort_unstable_by(|a, b| a.file_name().as_bytes().cmp(b.file_name().as_bytes()));
    Ok(entries)
}

impl Walker {
    /// Starts at the root of `targets`. When `/` itself was given its
    /// children are the snapshot root's children; otherwise the root's
    /// children are the top components of the given paths.
    pub(super) fn new(
        targets: TargetNode,
        excludes: Excludes,
        one_file_system: bool,
        keep_db_companions: bool,
    ) -> Self {
        let mut walker = Walker {
            stack: Vec::new(),
            pending: None,
            excludes,
            owners: Owners::default(),
            one_file_system,
            keep_db_companions,
        };
        let root = PathBuf::from("/");
        if !targets.included {
            walker.stack.push(Frame::Targets {
                dir: root,
                children: targets.children.into_iter(),
            });
            return walker;
        }
        let listed = std::fs::symlink_metadata(&root).and_then(|md| Ok((md, list_dir(&root)?)));
        match listed {
            Ok((md, mut entries)) => {
                walker.drop_db_companions(&root, &mut entries);
                walker.stack.push(Frame::Dir {
                    dir: root,
                    entries: entries.into_iter(),
                    dev: md.dev(),
                })
            }
            Err(e) => walker.pending = Some(skipped(root, &e)),
        }
        walker
    }

    /// An ancestor directory is recreated with its real metadata; a given
    /// path is visited like any entry, on its own device.
    fn visit_target(&mut self, path: PathBuf, name: Vec<u8>, node: TargetNode) -> Option<Event> {
        let md = match std::fs::symlink_metadata(&path) {
            Ok(md) => md,
            Err(e) => return Some(skipped(path, &e)),
        };
        if node.included {
            let dev = md.dev();
            return self.visit(path, name, &md, dev, true);
        }
        // An excluded ancestor takes every given path below it along.
        if self.excludes.excludes_target(&path, true) {
            return None;
        }
        if !md.is_dir() {
            let err = io::Error::from(io::ErrorKind::NotADirectory);
            return Some(skipped(path, &err));
        }
        let entry = match read_entry(path.clone(), name, &md, &mut self.owners) {
            Ok(entry) => entry,
            Err(e) => return Some(skipped(path, &e)),
        };
        self.stack.push(Frame::Targets {
            dir: path,
            children: node.children.into_iter(),
        });
        Some(Event::Enter(entry))
    }

    /// Leaves out the `-wal`, `-shm` and `-journal` companions of SQLite
    /// databases in one directory listing. Only such names' siblings are
    /// opened (16 bytes read), so an unchanged re-backup does not open every
    /// file; and they are opened now, before any entry of the directory is
    /// handed on: closing a descriptor of a database drops the SQLite locks
    /// this process holds on it, so this must not happen while the
    /// consumer snapshots it.
    fn drop_db_companions(&self, dir: &Path, entries: &mut Vec<DirEntry>) {
        if self.keep_db_companions {
            return;
        }
        let mut last: Option<(Vec<u8>, bool)> = None;
        entries.retain(|entry| {
            let name = entry.file_name();
            let Some(base) = crate::source::sqlite::companion_of(name.as_bytes()) else {
                return true;
            };
            let is_db = match &last {
                Some((b, is)) if b == base => *is,
                _ => {
                    let is =
                        crate::source::content::is_database(&dir.join(OsStr::from_bytes(base)));
                    last = Some((base.to_vec(), is));
                    is
                }
            };
            !is_db
        });
    }

    /// Emits the event for one `lstat`ed entry, or nothing when excluded.
    /// A directory is listed before its `Enter`, so one that cannot be
    /// listed becomes `Skipped` and one holding a marker vanishes entirely.
    fn visit(
        &mut self,
        path: PathBuf,
        name: Vec<u8>,
        md: &Metadata,
        dev: u64,
        is_target: bool,
    ) -> Option<Event> {
        let is_dir = md.is_dir();
        let excluded = if is_target {
            self.excludes.excludes_target(&path, is_dir)
        } else {
            self.excludes.excludes(&path, is_dir)
        };
        if excluded {
            return None;
        }
        let names = if !is_dir {
            None
        } else if self.one_file_system && md.dev() != dev {
            // A mount point: recorded, empty, like restic.
            Some(Vec::new())
        } else {
            match list_dir(&path) {
                Ok(entries) if self.excludes.has_marker(&entries) => return None,
                Ok(mut entries) => {
                    self.drop_db_companions(&path, &mut entries);
                    Some(entries)
                }
                Err(e) => return Some(skipped(path, &e)),
            }
        };
        let entry = match read_entry(path.clone(), name, md, &mut self.owners) {
            Ok(entry) => entry,
            Err(e) => return Some(skipped(path, &e)),
        };
        match names {
            None => Some(Event::Leaf(entry)),
            Some(entries) => {
                self.stack.push(Frame::Dir {
                    dir: path,
                    entries: entries.into_iter(),
                    dev,
                });
                Some(Event::Enter(entry))
            }
        }
    }
}

impl Iterator for Walker {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        if let Some(event) = self.pending.take() {
            return Some(event);
        }
        loop {
            let child = match self.stack.last_mut()? {
                Frame::Targets { dir, children } => children.next().map(|(name, node)| {
                    Child::Target(dir.join(OsStr::from_bytes(&name)), name, node)
                }),
                Frame::Dir { dir, entries, dev } => entries
                    .next()
                    .map(|entry| Child::Real(dir.join(entry.file_name()), entry, *dev)),
            };
            let event = match child {
                None => {
                    self.stack.pop();
                    // The root frame has no Enter, so it gets no Leave.
                    return if self.stack.is_empty() {
                        None
                    } else {
                        Some(Event::Leave)
                    };
                }
                Some(Child::Target(path, name, node)) => self.visit_target(path, name, node),
                Some(Child::Real(path, entry, dev)) => match entry.metadata() {
                    Ok(md) => self.visit(path, entry.file_name().into_vec(), &md, dev, false),
                    Err(e) => Some(skipped(path, &e)),
                },
            };
            if event.is_some() {
                return event;
            }
        }
    }
}
