//! Opening a changed regular file's content for the archiver: its raw bytes,
//! or, for a SQLite database, a consistent snapshot of it with what the
//! archiver records about it (16-database.md). The archiver only learns "a
//! stream cut at fixed page-aligned lengths, plus a database record"; every
//! SQLite call stays in [`super::sqlite`].

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::format::database::{DbCheck, WalStamp};
use crate::format::tree::Timestamp;
use crate::source::sqlite::{self, CheckLevel};

/// Which files to take as databases, and how to verify them.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    /// Recognise SQLite databases by their 16-byte header (`--no-sqlite`
    /// turns this off: databases are then stored as their raw bytes).
    pub recognise: bool,
    /// Files named as databases (`--sqlite PATH`) by (device, inode): taken
    /// as databases even when recognition is off.
    pub named: Vec<(u64, u64)>,
    pub check: CheckLevel,
    /// Where the fallback copy goes when the streaming path is unavailable.
    pub temp_dir: PathBuf,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        DatabaseOptions {
            recognise: true,
            named: Vec::new(),
            check: CheckLevel::Quick,
            temp_dir: std::env::temp_dir(),
        }
    }
}

impl DatabaseOptions {
    /// The (device, inode) of each file named as a database (`backup
    /// --sqlite`, a plan's `sqlite`), after checking that each one is a
    /// database: a usage error naming `what` and the file otherwise.
    pub fn name_files(what: &str, paths: &[PathBuf]) -> crate::Result<Vec<(u64, u64)>> {
        use std::os::unix::fs::MetadataExt;
        let mut named = Vec::new();
        for path in paths {
            if !is_database(path) {
                return Err(Error::Usage(format!(
                    "{what} {}: not a SQLite database (no \"SQLite format 3\" header, or not a \
                     readable regular file)",
                    path.display()
                )));
            }
            let m = std::fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?;
            named.push((m.dev(), m.ino()));
        }
        Ok(named)
    }

    /// Should this file be opened as a database if its header says so?
    pub fn wants(&self, device: u64, inode: u64) -> bool {
        self.recognise || self.named.contains(&(device, inode))
    }
}

/// A database snapshot ready to be read, with its record.
pub struct Database {
    /// The snapshot's bytes, exactly `size` of them, while its read
    /// transaction is held.
    pub reader: Box<dyn Read + Send>,
    pub page_size: u32,
    pub size: u64,
    /// The check, running beside the stream on the same database state:
    /// [`Database::finish`] waits for it once the stream is read.
    pub check: sqlite::PendingCheck,
    /// The `-wal` companion as it was just before the snapshot was taken
    /// (a commit after it makes the next backup read the database again).
    pub wal: Option<WalStamp>,
    /// The streaming path was not available: a temporary copy was read.
    pub fallback: bool,
    /// Our own descriptor of the database file, kept open until the
    /// snapshot is dropped: SQLite's locks are POSIX `fcntl` locks, which
    /// the process loses on *every* descriptor of the file when any one of
    /// them is closed. Closing this one mid-snapshot would let writers
    /// commit under the read transaction (a torn snapshot in rollback
    /// mode). Drop it after `reader`.
    pub held_open: File,
}

/// What to read for a changed regular file.
pub enum Content {
    /// The file's own bytes. `not_snapshotted` says why a database could
    /// not be snapshotted, so its raw bytes are stored instead.
    Plain {
        file: File,
        not_snapshotted: Option<Error>,
    },
    Database(Database),
}

/// Opens the content of `file` (already opened safely at `path`): a
/// snapshot when `wanted` and its header is a SQLite database's, its raw
/// bytes otherwise. Only the first 16 bytes are read to decide, with
/// `pread`, so the file's position stays at 0.
pub fn open(path: &Path, file: File, wanted: bool, opts: &DatabaseOptions) -> Content {
    if !wanted || !starts_with_header(&file) {
        return Content::Plain {
            file,
            not_snapshotted: None,
        };
    }
    let wal = sqlite::wal_stamp(path).map(stamp);
    match sqlite::Snapshot::open(path, opts.check, &opts.temp_dir) {
        Ok(snap) => {
            let (page_size, size, fallback) = (snap.page_size(), snap.size(), snap.used_fallback());
            let (reader, check) = snap.into_parts();
            Content::Database(Database {
                page_size,
                size,
                check,
                wal,
                fallback,
                reader,
                held_open: file,
            })
        }
        Err(e) => Content::Plain {
            file,
            not_snapshotted: Some(e),
        },
    }
}

/// Is the file at `path` a SQLite database by its header? (For `--sqlite`
/// and for the walk's companion rule; never follows a symlink or blocks on
/// a fifo.) It opens and closes the file, which drops any SQLite lock this
/// process holds on it: never call it on a database being snapshotted.
pub fn is_database(path: &Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .ok()
        .filter(|f| f.metadata().is_ok_and(|m| m.is_file()))
        .is_some_and(|f| starts_with_header(&f))
}

/// The `-wal` stamp now, in the tree's terms (change detection).
pub fn wal_stamp(path: &Path) -> Option<WalStamp> {
    sqlite::wal_stamp(path).map(stamp)
}

fn starts_with_header(file: &File) -> bool {
    let mut first = [0u8; 16];
    let mut n = 0;
    while n < first.len() {
        match file.read_at(&mut first[n..], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    sqlite::has_header(&first[..n])
}

fn stamp(w: sqlite::WalStamp) -> WalStamp {
    let ts = |(secs, nanos)| Timestamp { secs, nanos };
    WalStamp {
        size: w.size,
        mtime: ts(w.mtime),
        ctime: ts(w.ctime),
        inode: w.inode,
    }
}

impl Database {
    /// Ends the snapshot once its stream is read (or given up): the read
    /// transaction first, then the check's result (its own connection
    /// holds the same state until it ends), and only then our descriptor
    /// of the file (closing it drops every SQLite lock of this process on
    /// the file, the check's included).
    pub fn finish(self) -> DbCheck {
        drop(self.reader);
        let check = db_check(&self.check.wait());
        drop(self.held_open);
        check
    }
}

fn db_check(c: &sqlite::CheckResult) -> DbCheck {
    DbCheck {
        level: match c.level {
            CheckLevel::None => 0,
            CheckLevel::Quick => 1,
            CheckLevel::Full => 2,
        },
        ok: c.ok,
        report: c.report.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_database_reads_the_header_and_never_blocks_or_follows() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("CREATE TABLE t(a)").unwrap();
        drop(c);
        assert!(is_database(&db));
        let text = dir.path().join("t.txt");
        std::fs::write(&text, b"SQLite format 2\0 and more").unwrap();
        assert!(!is_database(&text));
        std::fs::write(&text, b"SQLite").unwrap();
        assert!(!is_database(&text), "a short file is no database");
        // A fifo with no writer would block a plain open forever.
        let fifo = dir.path().join("fifo");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo(3) on a NUL-terminated path in our temp dir.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        assert!(!is_database(&fifo));
        let link = dir.path().join("link.db");
        std::os::unix::fs::symlink(&db, &link).unwrap();
        assert!(!is_database(&link), "a symlink is not followed");
        assert!(!is_database(dir.path()), "a directory");
        assert!(!is_database(&dir.path().join("missing")));
    }

    #[test]
    fn open_gives_plain_content_for_non_databases_and_when_not_wanted() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("CREATE TABLE t(a); INSERT INTO t VALUES (1);")
            .unwrap();
        drop(c);
        let opts = DatabaseOptions::default();
        let open_it = |wanted| open(&db, File::open(&db).unwrap(), wanted, &opts);
        assert!(matches!(
            open_it(false),
            Content::Plain {
                not_snapshotted: None,
                ..
            }
        ));
        let Content::Database(d) = open_it(true) else {
            panic!("a database")
        };
        assert_eq!(d.size, std::fs::metadata(&db).unwrap().len());
        assert!(d.wal.is_none() && !d.fallback);
        let check = d.finish();
        assert_eq!((check.level, check.ok), (1, true));
        // Garbage after a valid header: no snapshot, the raw file instead.
        let bad = dir.path().join("bad.db");
        let mut bytes = b"SQLite format 3\0".to_vec();
        bytes.extend_from_slice(&[0xee; 200]);
        std::fs::write(&bad, &bytes).unwrap();
        let got = open(&bad, File::open(&bad).unwrap(), true, &opts);
        assert!(matches!(
            got,
            Content::Plain {
                not_snapshotted: Some(_),
                ..
            }
        ));
    }
}
