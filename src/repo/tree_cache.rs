//! The persistent tree cache: blocks of tree packs kept on local disk, so a
//! second `find`, `ls` or `diff` over the same snapshots costs no request.
//!
//! What it keeps are the *sealed* bytes of the aligned blocks read from
//! tree packs (`tree_blocks`), exactly as stored: the disk gains nothing an
//! attacker could read that the repository does not already hold, and every
//! blob taken from a block is still opened and id-checked by `open_blob`,
//! so a damaged file is noticed, dropped and read again from the repository
//! (`tree_fetch`). Blocks, not single blobs: a block is what one request
//! brings, and one file per block keeps the file count in the hundreds
//! (thousands for repositories of many small tree packs).
//!
//! Packs are immutable and named by their content, so an entry never goes
//! stale; a pruned pack's blocks just age out. Files are bounded by bytes
//! and the least recently used go first (a hit refreshes the file's mtime).
//! Each file is written under a temporary name and renamed into place, so
//! processes sharing the cache directory never see half a block. Every
//! failure to write (a read-only or full disk) is silent: it is a cache.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::ids::PackId;

/// Bytes kept by default: a few hundred thousand directories' trees.
pub const DEFAULT_LIMIT: u64 = 256 * 1024 * 1024;
/// A temporary file older than this belongs to a process that died.
const STALE_TEMP: Duration = Duration::from_secs(3600);

/// The block files under a repository's local cache directory.
pub struct TreeCache {
    dir: PathBuf,
    limit: u64,
}

impl TreeCache {
    /// The cache in `local_dir/trees`, created if needed; `None` when it
    /// neither exists nor can be made (reads then go to the repository).
    pub fn open(local_dir: &Path, limit: u64) -> Option<TreeCache> {
        let dir = local_dir.join("trees");
        if std::fs::create_dir_all(&dir).is_err() && !dir.is_dir() {
            return None;
        }
        // A directory that takes no file (read-only, full) is no cache: the
        // walkers would read ahead for a disk that keeps nothing.
        let probe = dir.join(format!(".tmp-{}-probe", std::process::id()));
        std::fs::write(&probe, b"").ok()?;
        let _ = std::fs::remove_file(&probe);
        Some(TreeCache { dir, limit })
    }

    fn path(&self, pack: &PackId, start: u64) -> PathBuf {
        self.dir.join(format!("{pack}-{start:x}"))
    }

    /// The kept block of `pack` starting at `start`, if one covers at least
    /// `len` bytes. Refreshes its age.
    pub fn get(&self, pack: &PackId, start: u64, len: u64) -> Option<Vec<u8>> {
        let path = self.path(pack, start);
        let bytes = std::fs::read(&path).ok()?;
        if (bytes.len() as u64) < len {
            return None;
        }
        if let Ok(f) = std::fs::File::options().write(true).open(&path) {
            let _ = f.set_modified(SystemTime::now());
        }
        Some(bytes)
    }

    /// Whether a block of `pack` at `start` covering `len` bytes is kept.
    pub fn has(&self, pack: &PackId, start: u64, len: u64) -> bool {
        std::fs::metadata(self.path(pack, start)).is_ok_and(|m| m.len() >= len)
    }

    /// Keeps a block read from the repository, then trims to the bound.
    pub fn put(&self, pack: &PackId, start: u64, bytes: &[u8]) {
        if write_file(&self.path(pack, start), bytes).is_ok() {
            self.trim();
        }
    }

    /// Drops a block found damaged.
    pub fn remove(&self, pack: &PackId, start: u64) {
        let _ = std::fs::remove_file(self.path(pack, start));
    }

    /// Deletes the least recently used blocks until the rest fit the bound.
    fn trim(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let now = SystemTime::now();
        let mut files = Vec::new();
        let mut total = 0;
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            let age = meta.modified().unwrap_or(now);
            if is_temp(&e.file_name().to_string_lossy()) {
                if now.duration_since(age).unwrap_or_default() > STALE_TEMP {
                    let _ = std::fs::remove_file(e.path());
                }
                continue;
            }
            total += meta.len();
            files.push((age, meta.len(), e.path()));
        }
        if total <= self.limit {
            return;
        }
        files.sort();
        for (_, len, path) in files {
            if total <= self.limit {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }
}

/// Writes a file of a local cache under a temporary name in its directory
/// and renames it into place, so processes sharing the cache never see half
/// a file. The temporary file is removed on failure.
pub(super) fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".tmp-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Whether a cache directory's entry is a file [`write_file`] is writing.
pub(super) fn is_temp(name: &str) -> bool {
    name.starts_with(".tmp-")
}

/// Whether an entry that [`is_temp`] was left by a process that died.
pub(super) fn is_stale_temp(meta: &std::fs::Metadata) -> bool {
    meta.modified()
        .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > STALE_TEMP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_come_back_and_the_oldest_go_over_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TreeCache::open(dir.path(), 250).unwrap();
        let (a, b) = (PackId([1; 32]), PackId([2; 32]));
        cache.put(&a, 0, &[7; 100]);
        assert_eq!(cache.get(&a, 0, 100), Some(vec![7; 100]));
        assert_eq!(cache.get(&a, 0, 101), None, "shorter than asked");
        assert_eq!(cache.get(&a, 4096, 10), None);
        // Make `a` clearly the oldest, then go over the bound.
        let old = SystemTime::now() - Duration::from_secs(60);
        let f = std::fs::File::options()
            .write(true)
            .open(cache.path(&a, 0))
            .unwrap();
        f.set_modified(old).unwrap();
        cache.put(&b, 0, &[8; 100]);
        cache.put(&b, 4096, &[9; 100]);
        assert!(!cache.has(&a, 0, 1), "least recently used went first");
        assert!(cache.has(&b, 0, 100) && cache.has(&b, 4096, 100));
        cache.remove(&b, 0);
        assert_eq!(cache.get(&b, 0, 1), None);
    }

    #[test]
    fn an_unwritable_place_is_no_cache() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(TreeCache::open(&file, DEFAULT_LIMIT).is_none());
    }
}
