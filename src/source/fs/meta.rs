//! Turns one `lstat` result into an [`Entry`]: the tree node's [`Meta`]
//! (owner names resolved once per id, xattrs sorted) and the [`EntryKind`].
//! Nothing here follows symlinks or reads file contents.

use std::collections::HashMap;
use std::fs::Metadata;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::format::tree::{Meta, Timestamp, Xattr};
use crate::source::{Entry, EntryKind};

/// Caches uid/gid → name lookups: NSS lookups can hit the network (LDAP),
/// and a tree usually has only a handful of distinct owners.
#[derive(Debug, Default)]
pub(crate) struct Owners {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl Owners {
    /// The user name for `uid`, or an empty string when it does not resolve.
    pub(crate) fn user(&mut self, uid: u32) -> String {
        self.users
            .entry(uid)
            .or_insert_with(|| lookup_user(uid))
            .clone()
    }

    /// The group name for `gid`, or an empty string when it does not resolve.
    pub(crate) fn group(&mut self, gid: u32) -> String {
        self.groups
            .entry(gid)
            .or_insert_with(|| lookup_group(gid))
            .clone()
    }
}

fn lookup_user(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(u)) => u.name,
        _ => String::new(),
    }
}

fn lookup_group(gid: u32) -> String {
    match nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid)) {
        Ok(Some(g)) => g.name,
        _ => String::new(),
    }
}

fn timestamp(secs: i64, nanos: i64) -> Timestamp {
    Timestamp {
        secs,
        nanos: u32::try_from(nanos).unwrap_or(0),
    }
}

/// Extended attributes of `path` itself (not a symlink's target), sorted by
/// name. A filesystem without xattr support, or one that refuses to list
/// them, yields an empty list: xattrs are best effort and never fail an entry.
pub(crate) fn xattrs(path: &Path) -> Vec<Xattr> {
    let Ok(names) = xattr::list(path) else {
        return Vec::new();
    };
    let mut out: Vec<Xattr> = names
        .filter_map(|name| {
            let value = xattr::get(path, &name).ok().flatten()?;
            Some(Xattr {
                name: name.as_bytes().to_vec(),
                value,
            })
        })
        .collect();
    out.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The tree-node metadata for an entry already `lstat`ed as `md`, xattrs
/// not yet read (see [`crate::source::Entry::xattrs_deferred`]).
pub(crate) fn read_meta(md: &Metadata, owners: &mut Owners) -> Meta {
    Meta {
        mode: md.mode(),
        uid: md.uid(),
        gid: md.gid(),
        user: owners.user(md.uid()),
        group: owners.group(md.gid()),
        mtime: timestamp(md.mtime(), md.mtime_nsec()),
        ctime: timestamp(md.ctime(), md.ctime_nsec()),
        inode: md.ino(),
        device: md.dev(),
        links: md.nlink(),
        xattrs: Vec::new(),
    }
}

/// What the entry is. Fails only when a symlink's target cannot be read.
pub(crate) fn entry_kind(path: &Path, md: &Metadata) -> io::Result<EntryKind> {
    let ft = md.file_type();
    Ok(if ft.is_dir() {
        EntryKind::Dir
    } else if ft.is_symlink() {
        let target = std::fs::read_link(path)?;
        EntryKind::Symlink {
            target: target.into_os_string().into_encoded_bytes(),
        }
    } else if ft.is_block_device() {
        EntryKind::BlockDevice { rdev: md.rdev() }
    } else if ft.is_char_device() {
        EntryKind::CharDevice { rdev: md.rdev() }
    } else if ft.is_fifo() {
        EntryKind::Fifo
    } else if ft.is_socket() {
        EntryKind::Socket
    } else {
        EntryKind::File { size: md.size() }
    })
}

/// An entry for `path`, named `name` in its parent, its xattrs deferred.
pub(crate) fn read_entry(
    path: PathBuf,
    name: Vec<u8>,
    md: &Metadata,
    owners: &mut Owners,
) -> io::Result<Entry> {
    let kind = entry_kind(&path, md)?;
    let meta = read_meta(md, owners);
    Ok(Entry {
        name,
        path,
        kind,
        meta,
        xattrs_deferred: true,
    })
}
