//! The FUSE filesystem: answers the kernel's requests from the virtual
//! layout, the snapshots' trees and the chunk cache. Read-only; every
//! request that would change something is refused by fuser's defaults.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use fuser::{
    AccessFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, LockOwner, OpenAccMode, OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyLseek, ReplyOpen, ReplyStatfs, ReplyXattr, Request,
};

use crate::error::Error;
use crate::format::tree::{Node, NodeKind, Tree};
use crate::ids::TreeId;
use crate::mount::attr;
use crate::mount::cache::Lru;
use crate::mount::file::{FileReader, Shared};
use crate::mount::inode::{Entry, Inodes, Kind};
use crate::mount::layout::{virtual_meta, Layout, View, LATEST};

/// How long the kernel may cache names and attributes of backed-up entries:
/// they never change.
const TTL_TREE: Duration = Duration::from_secs(300);
/// The virtual directories change when snapshots come and go.
const TTL_VIRTUAL: Duration = Duration::from_secs(1);
/// Decoded trees kept, by encoded-size estimate in bytes.
const TREE_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// The filesystem behind a mount.
pub struct CairnFs {
    pub(super) shared: Arc<Shared>,
    pub(super) layout: Layout,
    pub(super) inodes: Mutex<Inodes>,
    pub(super) trees: Mutex<Lru<TreeId, Arc<Tree>>>,
    pub(super) files: Mutex<HashMap<u64, Arc<FileReader>>>,
    pub(super) next_fh: AtomicU64,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here leaves its map consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The errno a failed repository read turns into, logged once here because
/// the kernel only passes the number on.
pub(super) fn errno(what: &str, e: &Error) -> Errno {
    tracing::warn!("mount: {what}: {e}");
    Errno::EIO
}

impl CairnFs {
    pub fn new(shared: Arc<Shared>, layout: Layout) -> Self {
        CairnFs {
            shared,
            layout,
            inodes: Mutex::new(Inodes::new()),
            trees: Mutex::new(Lru::new(TREE_CACHE_BYTES)),
            files: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
        }
    }

    fn entry(&self, ino: INodeNo) -> Result<Entry, Errno> {
        lock(&self.inodes).get(ino.0).cloned().ok_or(Errno::ENOENT)
    }

    pub(super) fn view(&self) -> Arc<View> {
        self.layout.view()
    }

    fn attr(&self, ino: u64, kind: &Kind) -> Result<FileAttr, Errno> {
        match kind {
            Kind::Node(n) => Ok(attr::node_attr(ino, n)),
            Kind::Virtual(_) => {
                let meta = virtual_meta(self.view().newest.unwrap_or_default());
                Ok(attr::meta_attr(ino, FileType::Directory, 0, 0, &meta))
            }
            Kind::Latest(target) => {
                let meta = virtual_meta(self.view().newest.unwrap_or_default());
                Ok(attr::symlink_attr(ino, target.len(), &meta))
            }
        }
    }

    fn node(&self, ino: INodeNo) -> Result<Arc<Node>, Errno> {
        match self.entry(ino)?.kind {
            Kind::Node(n) => Ok(n),
            _ => Err(Errno::NO_XATTR),
        }
    }
}

/// Sends an extended attribute value or list the way the kernel asks:
/// its size when `size` is 0, the bytes when they fit, ERANGE otherwise.
fn reply_xattr(reply: ReplyXattr, size: u32, data: &[u8]) {
    if size == 0 {
        reply.size(data.len() as u32);
    } else if data.len() <= size as usize {
        reply.data(data);
    } else {
        reply.error(Errno::ERANGE);
    }
}

impl Filesystem for CairnFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let result = (|| {
            let p = self.entry(parent)?;
            let kind = self.child(&p, name.as_bytes())?.ok_or(Errno::ENOENT)?;
            let ttl = match (&p.kind, &kind) {
                (_, Kind::Virtual(_) | Kind::Latest(_)) | (Kind::Virtual(_), _) => TTL_VIRTUAL,
                _ => TTL_TREE,
            };
            let ino = lock(&self.inodes).lookup(parent.0, name.as_bytes(), kind.clone());
            Ok((ttl, self.attr(ino, &kind)?))
        })();
        match result {
            Ok((ttl, a)) => reply.entry(&ttl, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        lock(&self.inodes).forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let result = self.entry(ino).and_then(|e| {
            let ttl = match e.kind {
                Kind::Node(_) => TTL_TREE,
                _ => TTL_VIRTUAL,
            };
            Ok((ttl, self.attr(ino.0, &e.kind)?))
        });
        match result {
            Ok((ttl, a)) => reply.attr(&ttl, &a),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let result = self.entry(ino).and_then(|e| match &e.kind {
            Kind::Node(n) => match &n.kind {
                NodeKind::Symlink { target } => Ok(target.clone()),
                _ => Err(Errno::EINVAL),
            },
            // Resolved again: the newest snapshot may have changed.
            Kind::Latest(old) => {
                let parent = self.entry(INodeNo(e.parent))?;
                Ok(match self.child(&parent, LATEST.as_bytes())? {
                    Some(Kind::Latest(t)) => t,
                    _ => old.clone(),
                })
            }
            Kind::Virtual(_) => Err(Errno::EINVAL),
        });
        match result {
            Ok(t) => reply.data(&t),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let result = (|| {
            if flags.acc_mode() != OpenAccMode::O_RDONLY {
                return Err(Errno::EROFS);
            }
            let node = match self.entry(ino)?.kind {
                Kind::Node(n) => n,
                _ => return Err(Errno::EISDIR),
            };
            let Some((size, content)) = node.kind.file_content() else {
                return Err(Errno::EINVAL);
            };
            let reader = FileReader::open(&self.shared.repo, size, content)
                .map_err(|e| errno("opening a file", &e))?;
            let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
            lock(&self.files).insert(fh, Arc::new(reader));
            Ok(fh)
        })();
        match result {
            // Content never changes: the page cache may outlive this open.
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::FOPEN_KEEP_CACHE),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let Some(reader) = lock(&self.files).get(&fh.0).cloned() else {
            return reply.error(Errno::EBADF);
        };
        match reader.read(&self.shared, offset, size) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(errno("reading a file", &e)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        lock(&self.files).remove(&fh.0);
        reply.ok();
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        match self
            .entry(ino)
            .and_then(|e| self.fill_dir(ino.0, &e, offset, &mut reply))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn access(&self, _req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        match self.entry(ino) {
            Err(e) => reply.error(e),
            Ok(_) if mask.contains(AccessFlags::W_OK) => reply.error(Errno::EROFS),
            // Permission bits are shown as backed up, not enforced: the
            // mount is private to whoever mounted it unless --allow-other.
            Ok(_) => reply.ok(),
        }
    }

    /// SEEK_DATA and SEEK_HOLE: the whole file is data (holes were not
    /// recorded), the one hole is at the end.
    fn lseek(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: i64,
        whence: i32,
        reply: ReplyLseek,
    ) {
        let Some(reader) = lock(&self.files).get(&fh.0).cloned() else {
            return reply.error(Errno::EBADF);
        };
        let size = reader.size() as i64;
        match whence {
            _ if offset < 0 => reply.error(Errno::EINVAL),
            _ if offset >= size => reply.error(Errno::ENXIO),
            libc::SEEK_DATA => reply.offset(offset),
            libc::SEEK_HOLE => reply.offset(size),
            _ => reply.error(Errno::EINVAL),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        reply.statfs(0, 0, 0, 0, 0, 4096, 255, 4096);
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let node = match self.node(ino) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        match node.meta.xattrs.iter().find(|x| x.name == name.as_bytes()) {
            Some(x) => reply_xattr(reply, size, &x.value),
            None => reply.error(Errno::NO_XATTR),
        }
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let mut names = Vec::new();
        if let Ok(node) = self.node(ino) {
            for x in &node.meta.xattrs {
                names.extend_from_slice(&x.name);
                names.push(0);
            }
        }
        reply_xattr(reply, size, &names);
    }
}
