//! A storage backend in a local directory (a disk, a NAS mount, a USB drive).
//!
//! Keys map to relative paths under the root. Objects are written to a
//! temporary file next to their final name, synced, and renamed into place, so
//! a crash never leaves a partial object under a real key; temp files start
//! with [`TEMP_PREFIX`] and are invisible to `list`. Directories below the
//! root are created on demand, but the root itself never is (outside
//! [`LocalStorage::create`]): if a removable drive is unmounted we must fail,
//! not quietly start a new repository on the mount point.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::{ObjectInfo, Staged, Storage, StorageError, StorageErrorKind, StorageResult, Stray};

/// Name prefix of in-flight (or crash-leftover) temporary files.
pub const TEMP_PREFIX: &str = ".tmp-";

/// A [`Storage`] rooted at a local directory.
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: PathBuf,
}

impl LocalStorage {
    /// Uses an existing directory; nothing is checked until the first call,
    /// so opening a missing repository reports "not found" from a real read.
    pub fn new(root: PathBuf) -> Self {
        LocalStorage { root }
    }

    /// Creates the root directory (and its parents) if needed, durably.
    pub fn create(root: PathBuf) -> StorageResult<Self> {
        let loc = root.display().to_string();
        fs::create_dir_all(&root).map_err(|e| io_error("create", &loc, e))?;
        if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent).map_err(|e| io_error("create", &loc, e))?;
        }
        Ok(LocalStorage { root })
    }

    /// The directory this storage lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, op: &'static str, key: &str) -> StorageResult<PathBuf> {
        check_key(op, key)?;
        Ok(self.root.join(key))
    }

    /// Writes `data` to a fresh synced temp file in the key's directory,
    /// creating missing directories below the root. Returns the temp path.
    fn write_temp(
        &self,
        op: &'static str,
        key: &str,
        dir: &Path,
        data: &[u8],
    ) -> StorageResult<PathBuf> {
        let (tmp, mut file) = match create_temp(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.create_parents(op, key)?;
                create_temp(dir)
            }
            other => other,
        }
        .map_err(|e| io_error(op, key, e))?;
        let written = file.write_all(data).and_then(|()| file.sync_data());
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(io_error(op, key, e));
        }
        Ok(tmp)
    }

    /// Creates the directories of `key` one level at a time (never the root)
    /// and syncs each parent so the new entries survive a crash.
    fn create_parents(&self, op: &'static str, key: &str) -> StorageResult<()> {
        let Some((dirs, _)) = key.rsplit_once('/') else {
            return Err(root_missing(op, key, &self.root));
        };
        let mut path = self.root.clone();
        for part in dirs.split('/') {
            let parent = path.clone();
            path.push(part);
            match fs::create_dir(&path) {
                Ok(()) => sync_dir(&parent).map_err(|e| io_error(op, key, e))?,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(root_missing(op, key, &self.root))
                }
                Err(e) => return Err(io_error(op, key, e)),
            }
        }
        Ok(())
    }
}

impl Storage for LocalStorage {
    fn put(&self, key: &str, data: Bytes) -> StorageResult<()> {
        let path = self.path_of("put", key)?;
        let dir = parent_dir(&path);
        let tmp = self.write_temp("put", key, dir, &data)?;
        if let Err(e) = fs::rename(&tmp, &path) {
            let _ = fs::remove_file(&tmp);
            return Err(io_error("put", key, e));
        }
        sync_dir(dir).map_err(|e| io_error("put", key, e))
    }

    fn put_if_absent(&self, key: &str, data: Bytes) -> StorageResult<bool> {
        let path = self.path_of("put_if_absent", key)?;
        let dir = parent_dir(&path);
        let tmp = self.write_temp("put_if_absent", key, dir, &data)?;
        // link(2) fails if the target exists, atomically even across
        // processes and hosts sharing an NFS mount; rename would overwrite.
        let linked = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                sync_dir(dir).map_err(|e| io_error("put_if_absent", key, e))?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(io_error("put_if_absent", key, e)),
        }
    }

    fn get(&self, key: &str) -> StorageResult<Vec<u8>> {
        let path = self.path_of("get", key)?;
        let (mut file, size) = open_object("get", key, &path)?;
        let cap = usize::try_from(size).unwrap_or(0);
        let mut buf = Vec::with_capacity(cap);
        file.read_to_end(&mut buf)
            .map_err(|e| io_error("get", key, e))?;
        Ok(buf)
    }

    fn get_range(&self, key: &str, offset: u64, len: u64) -> StorageResult<Vec<u8>> {
        let path = self.path_of("get_range", key)?;
        let (file, size) = open_object("get_range", key, &path)?;
        let end = offset.checked_add(len);
        if end.is_none_or(|end| end > size) {
            return Err(past_end("get_range", key, offset, len, size));
        }
        let len =
            usize::try_from(len).map_err(|_| past_end("get_range", key, offset, len, size))?;
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, offset)
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => {
                    past_end("get_range", key, offset, len as u64, size)
                }
                _ => io_error("get_range", key, e),
            })?;
        Ok(buf)
    }

    fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectInfo>> {
        // Walk only below the directory part of the prefix; the rest of the
        // prefix filters names.
        let dir_part = prefix.rsplit_once('/').map_or("", |(dir, _)| dir);
        let mut start = self.root.clone();
        if !dir_part.is_empty() {
            check_key("list", dir_part)?;
            start.push(dir_part);
        }
        let mut out = Vec::new();
        let base = if dir_part.is_empty() {
            String::new()
        } else {
            format!("{dir_part}/")
        };
        walk(&start, &base, prefix, &mut out).map_err(|e| io_error("list", prefix, e))?;
        Ok(out)
    }

    fn delete(&self, key: &str) -> StorageResult<()> {
        let path = self.path_of("delete", key)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("delete", key, e)),
        }
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn as_dyn(&self) -> &dyn Storage {
        self
    }

    /// A temporary file in the repository, fsynced and renamed into place
    /// on commit: packs never pass through memory as a whole.
    fn stage(&self) -> StorageResult<Box<dyn Staged + '_>> {
        let (tmp, file) = create_temp(&self.root).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => root_missing("stage", "", &self.root),
            _ => io_error(
                "stage",
                &format!("a temporary file in {}", self.root.display()),
                e,
            ),
        })?;
        Ok(Box::new(LocalStaged {
            storage: self,
            tmp,
            file: Some(io::BufWriter::with_capacity(256 * 1024, file)),
            len: 0,
        }))
    }

    /// Temporary files anywhere below the root: staged packs sit in the
    /// root, single puts next to their final name.
    fn strays(&self) -> StorageResult<Vec<Stray>> {
        super::stray::local_strays(&self.root)
    }

    fn remove_stray(&self, stray: &Stray) -> StorageResult<()> {
        super::stray::remove_local_stray(&self.root, &stray.name)
    }
}

/// Rejects keys that could escape the root, alias another key, or hide as a
/// temp file. Shared with `memory` so engine tests catch keys this backend
/// would refuse.
/// A pack being written to a temporary file in the repository root.
struct LocalStaged<'s> {
    storage: &'s LocalStorage,
    tmp: PathBuf,
    /// `None` once committed.
    file: Option<io::BufWriter<File>>,
    len: u64,
}

impl Staged for LocalStaged<'_> {
    fn write(&mut self, data: &[u8]) -> StorageResult<()> {
        let file = self
            .file
            .as_mut()
            .expect("a committed stage is consumed, never written again");
        file.write_all(data)
            .map_err(|e| io_error("write", &staged_name(&self.tmp), e))?;
        self.len += data.len() as u64;
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn commit(mut self: Box<Self>, key: &str) -> StorageResult<()> {
        let path = self.storage.path_of("put", key)?;
        let file = self
            .file
            .take()
            .expect("a stage is committed once")
            .into_inner()
            .map_err(|e| io_error("put", key, e.into_error()))?;
        file.sync_data().map_err(|e| io_error("put", key, e))?;
        drop(file);
        let dir = parent_dir(&path);
        let renamed = match fs::rename(&self.tmp, &path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.storage.create_parents("put", key)?;
                fs::rename(&self.tmp, &path)
            }
            other => other,
        };
        renamed.map_err(|e| io_error("put", key, e))?;
        // Renamed: nothing left for Drop to remove.
        self.tmp = PathBuf::new();
        sync_dir(dir).map_err(|e| io_error("put", key, e))
    }
}

/// How an error names a staged object: the temporary file it is written to
/// (its key is only known at commit).
fn staged_name(tmp: &Path) -> String {
    format!("{} (a new object being stored)", tmp.display())
}

impl Drop for LocalStaged<'_> {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

pub(crate) fn check_key(op: &'static str, key: &str) -> StorageResult<()> {
    let bad = |why: &str| {
        Err(StorageError::new(
            StorageErrorKind::Permanent,
            op,
            key,
            format!("unsafe key: {why}"),
        ))
    };
    if key.is_empty() {
        return bad("empty");
    }
    if key.contains('\\') || key.contains('\0') {
        return bad("backslash or NUL");
    }
    for part in key.split('/') {
        match part {
            "" => return bad("absolute or empty component"),
            "." | ".." => return bad("dot component"),
            p if p.starts_with(TEMP_PREFIX) => return bad("reserved temp-file name"),
            _ => {}
        }
    }
    Ok(())
}

/// Recursively collects regular files under `dir` whose key starts with
/// `prefix`. `base` is the key of `dir` with a trailing slash (or empty).
fn walk(dir: &Path, base: &str, prefix: &str, out: &mut Vec<ObjectInfo>) -> io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        // A missing (or since deleted) directory simply holds no objects.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(())
        }
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            tracing::warn!(dir = %dir.display(), "skipping a file name that is not UTF-8");
            continue;
        };
        if name.starts_with(TEMP_PREFIX) {
            continue;
        }
        let key = format!("{base}{name}");
        // Prune subtrees that cannot contain a match.
        if !(key.starts_with(prefix) || prefix.starts_with(&key)) {
            continue;
        }
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            walk(&entry.path(), &format!("{key}/"), prefix, out)?;
            continue;
        }
        if !key.starts_with(prefix) {
            continue;
        }
        // Follows symlinks; a file deleted meanwhile is just not listed.
        match fs::metadata(entry.path()) {
            Ok(meta) if meta.is_file() => out.push(ObjectInfo {
                key,
                size: meta.len(),
                modified: meta.modified().ok().and_then(unix_secs),
            }),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Opens an object for reading; a directory is "no such object", as it
/// would be in a bucket.
fn open_object(op: &'static str, key: &str, path: &Path) -> StorageResult<(File, u64)> {
    let file = File::open(path).map_err(|e| io_error(op, key, e))?;
    let meta = file.metadata().map_err(|e| io_error(op, key, e))?;
    if !meta.is_file() {
        return Err(StorageError::new(
            StorageErrorKind::NotFound,
            op,
            key,
            "not a regular file",
        ));
    }
    Ok((file, meta.len()))
}

fn create_temp(dir: &Path) -> io::Result<(PathBuf, File)> {
    loop {
        let path = dir.join(format!("{TEMP_PREFIX}{:016x}", rand::random::<u64>()));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .expect("a path joined from root and a checked key has a parent")
}

/// Makes directory entries (renames, links, new files) durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn root_missing(op: &'static str, key: &str, root: &Path) -> StorageError {
    let msg = format!(
        "storage root {} does not exist (unmounted?)",
        root.display()
    );
    StorageError::new(StorageErrorKind::Permanent, op, key, msg)
}

fn past_end(op: &'static str, key: &str, offset: u64, len: u64, size: u64) -> StorageError {
    let msg = format!("range {offset}+{len} passes the end of a {size}-byte object");
    StorageError::new(StorageErrorKind::Permanent, op, key, msg)
}

/// Classifies an I/O error: only failures that may clear up by themselves
/// are worth retrying.
fn io_error(op: &'static str, key: &str, e: io::Error) -> StorageError {
    use io::ErrorKind as K;
    let kind = match e.kind() {
        K::NotFound => StorageErrorKind::NotFound,
        K::PermissionDenied
        | K::ReadOnlyFilesystem
        | K::NotADirectory
        | K::IsADirectory
        | K::InvalidInput
        | K::InvalidData
        | K::InvalidFilename
        | K::StorageFull
        | K::QuotaExceeded
        | K::FileTooLarge
        | K::Unsupported
        | K::TooManyLinks
        | K::CrossesDevices
        | K::AlreadyExists
        | K::DirectoryNotEmpty => StorageErrorKind::Permanent,
        _ => StorageErrorKind::Transient,
    };
    StorageError::new(kind, op, key, e)
}

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;

/// A file time as Unix seconds, if it is after 1970.
fn unix_secs(t: std::time::SystemTime) -> Option<i64> {
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(d.as_secs()).ok()
}
