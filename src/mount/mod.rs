//! Browsing a repository as a read-only FUSE filesystem.
//!
//! The top levels are virtual ([`layout`]): `snapshots/`, `ids/`, `hosts/`
//! and `tags/`, each with a `latest` symlink, re-listed as snapshots come
//! and go. Below a snapshot's name is its tree, with the modes, owners and
//! times that were backed up. Reads are random access ([`file`]): a read
//! fetches only the chunks that cover it, through a cache of decrypted
//! chunks bounded by bytes ([`cache`]), and sequential readers get the next
//! chunks fetched ahead of them in the background. Everything goes through
//! the repository's reader, so a mount works on any storage backend.
//!
//! ```no_run
//! # fn main() -> cairn::Result<()> {
//! use std::sync::Arc;
//! use cairn::mount::{mount, MountOptions};
//! use cairn::repo::{OpenOptions, Repository};
//!
//! let storage = cairn::storage::open_location("/backup", false)?;
//! let repo = Arc::new(Repository::open(storage, b"secret", OpenOptions::default())?);
//! let mounted = mount(repo, "/mnt/backup".as_ref(), &MountOptions::default())?;
//! // ... browse /mnt/backup/snapshots/latest ...
//! mounted.unmount()?;
//! # Ok(())
//! # }
//! ```

mod attr;
pub mod cache;
mod dir;
pub mod file;
mod fs;
pub mod inode;
pub mod layout;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fuser::{BackgroundSession, MountOption, SessionACL};

use crate::error::{Error, Result};
use crate::repo::Repository;

pub use crate::units::parse_size;

/// How a repository is mounted.
#[derive(Debug, Clone)]
pub struct MountOptions {
    /// Decrypted chunks kept in memory, in bytes.
    pub cache_size: u64,
    /// How far ahead of a sequential reader to fetch, in bytes; 0 turns
    /// read-ahead off.
    pub readahead: u64,
    /// Threads fetching ahead of readers.
    pub readahead_threads: usize,
    /// Threads answering the kernel's requests.
    pub threads: usize,
    /// How often, at most, the snapshot list is re-read.
    pub refresh: Duration,
    /// Let other users (and root) see the mount; needs `user_allow_other`
    /// in /etc/fuse.conf unless mounting as root.
    pub allow_other: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            cache_size: 256 * 1024 * 1024,
            readahead: 16 * 1024 * 1024,
            readahead_threads: 2,
            threads: 4,
            refresh: Duration::from_secs(3),
            allow_other: false,
        }
    }
}

/// A mounted repository. Dropping it unmounts.
pub struct Mounted {
    session: Option<BackgroundSession>,
    mountpoint: PathBuf,
}

impl Mounted {
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Has the filesystem stopped (unmounted from outside, e.g. with
    /// `fusermount3 -u`)?
    pub fn is_finished(&self) -> bool {
        self.session.as_ref().is_none_or(|s| s.guard.is_finished())
    }

    /// Unmounts and waits for the request threads to finish.
    pub fn unmount(mut self) -> Result<()> {
        self.unmount_inner()
    }

    fn unmount_inner(&mut self) -> Result<()> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        // Dropping the rest of the session unmounts (umount(2) as root,
        // `fusermount3 -u` otherwise); the request threads then see the end.
        let guard = {
            let session = session;
            let BackgroundSession { guard, .. } = session;
            guard
        };
        if !wait_finished(&guard) {
            // Busy: a file or directory in the mount is still open. Detach
            // it lazily so the mount point is free; open files keep working
            // until closed or until this process exits.
            let lazy = std::process::Command::new("fusermount3")
                .args(["-u", "-z"])
                .arg(&self.mountpoint)
                .status();
            if !matches!(lazy, Ok(s) if s.success()) {
                return Err(Error::io(
                    &self.mountpoint,
                    std::io::Error::other("cannot unmount: the mount is busy"),
                ));
            }
            tracing::warn!("{} was busy: detached lazily", self.mountpoint.display());
            if !wait_finished(&guard) {
                return Ok(());
            }
        }
        match guard.join() {
            Ok(r) => r.map_err(|e| Error::io(&self.mountpoint, e)),
            Err(_) => Err(Error::Internal(
                "the mount's request thread panicked".into(),
            )),
        }
    }
}

/// Gives the request threads a moment to notice an unmount.
fn wait_finished<T>(guard: &std::thread::JoinHandle<T>) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while !guard.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    guard.is_finished()
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Err(e) = self.unmount_inner() {
            tracing::warn!("unmounting {}: {e}", self.mountpoint.display());
        }
    }
}

/// Mounts `repo` read-only at `mountpoint` and serves it from background
/// threads until the returned handle is unmounted or dropped.
pub fn mount(repo: Arc<Repository>, mountpoint: &Path, opts: &MountOptions) -> Result<Mounted> {
    let meta = std::fs::metadata(mountpoint).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Usage(format!(
            "mount point {} does not exist",
            mountpoint.display()
        )),
        _ => Error::io(mountpoint, e),
    })?;
    if !meta.is_dir() {
        return Err(Error::Usage(format!(
            "{} is not a directory",
            mountpoint.display()
        )));
    }
    let pool = if opts.readahead > 0 && opts.readahead_threads > 0 {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(opts.readahead_threads)
            .thread_name(|i| format!("cairn-readahead-{i}"))
            .build()
            .map_err(|e| Error::Internal(format!("read-ahead threads: {e}")))?;
        Some(pool)
    } else {
        None
    };
    let shared = Arc::new(file::Shared {
        repo: repo.clone(),
        cache: Arc::new(cache::ChunkCache::new(opts.cache_size)),
        pool,
        // A window larger than a quarter of the cache would evict itself.
        readahead: opts.readahead.min(opts.cache_size / 4),
    });
    let layout = layout::Layout::new(repo, opts.refresh);
    let fs = fs::CairnFs::new(shared, layout);
    let mut config = fuser::Config::default();
    config.mount_options = vec![
        MountOption::RO,
        MountOption::FSName("cairn".into()),
        MountOption::Subtype("cairn".into()),
        MountOption::NoDev,
        MountOption::NoSuid,
    ];
    if opts.allow_other {
        config.acl = SessionACL::All;
    }
    config.n_threads = Some(opts.threads.max(1));
    let session = fuser::spawn_mount(fs, mountpoint, &config).map_err(|e| {
        let hint = format!("cannot mount: {e} (needs /dev/fuse and fusermount3)");
        Error::io(mountpoint, std::io::Error::new(e.kind(), hint))
    })?;
    Ok(Mounted {
        session: Some(session),
        mountpoint: mountpoint.to_path_buf(),
    })
}
