//! Reading the small files of a first backup ahead of the archiver,
//! several at once.
//!
//! On a cold page cache a tree of many small files is bound by the disk's
//! latency, one file after another: at 100,000 files of 0-8 KiB a first
//! backup took 6.6 s cold against 2.8 s warm. The walk's thread therefore
//! opens, reads and `fstat`s each batch's small files on [`READERS`]
//! threads before handing the batch on, so the disk sees that many reads
//! at once. These are the syscalls the archiver would make itself
//! (archiver/file.rs), moved, not added; it checks their results exactly
//! as it checks its own.
//!
//! Only without a parent snapshot: with one, most files are unchanged and
//! never opened, and which are is known only to the archiver. Hard-linked
//! files are left to the archiver too (a second name is not read again),
//! and so are SQLite companion files ([`companion`]). A file is closed as
//! soon as it is read unless the archiver needs it again
//! ([`KEPT_PER_BATCH`]): queued batches must not hold thousands of
//! descriptors.

use std::fs::{File, Metadata};
use std::path::PathBuf;

use rayon::prelude::*;

use super::open::{open_nofollow, read_small};
use crate::source::{sqlite, Entry, EntryKind, Event};

/// Threads reading at once.
pub const READERS: usize = 4;

/// Files up to this size are read ahead.
const MAX_FILE: u64 = 64 * 1024;

/// Bytes read ahead for one batch of the walk, at most: with the batches
/// queued (walk_ahead.rs) that bounds what waits for the archiver.
const BATCH_BYTES: u64 = 1024 * 1024;

/// A file opened, with what one bounded read and the `fstat` after it gave.
/// The file itself is kept open only when the archiver may read it again
/// (see [`KEPT_PER_BATCH`]); otherwise it was closed after the `fstat`.
pub type Opened = (
    Option<File>,
    std::io::Result<Vec<u8>>,
    std::io::Result<Metadata>,
);

/// Files of one batch kept open for the archiver, at most: one longer than
/// listed (it streams it from where it is) or starting like a SQLite
/// database (whose reader checks the header again). With the batches
/// queued (walk_ahead.rs: 32, one being sent and one being archived) that
/// bounds the descriptors held to 68, far below the usual limit of 1,024;
/// a batch with more such files leaves the rest to the archiver.
const KEPT_PER_BATCH: usize = 2;

/// One file opened, read and `fstat`ed ahead, for the archiver to take
/// instead of doing so itself. A file that could not be opened has none:
/// the archiver tries itself and reports its own error.
pub struct Early {
    pub path: PathBuf,
    pub opened: Opened,
}

/// A SQLite database's companion file: never opened (and so never closed)
/// on these threads, which would drop the archiver's POSIX locks on it
/// while it snapshots the database.
fn companion(name: &[u8]) -> bool {
    [&b"-wal"[..], b"-shm", b"-journal"]
        .iter()
        .any(|end| name.ends_with(end))
}

/// The reading threads.
pub struct ReadAhead {
    pool: rayon::ThreadPool,
    /// The largest file read ahead: the archiver reads files of up to one
    /// chunk whole, larger ones it streams.
    max_file: u64,
}

impl ReadAhead {
    /// Reads files up to [`MAX_FILE`] or `chunk_max`, whichever is less.
    /// `None` when the threads cannot be had (the archiver then reads).
    pub fn new(chunk_max: u64) -> Option<ReadAhead> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(READERS)
            .thread_name(|i| format!("cairn-read-{i}"))
            .build()
            .ok()?;
        let max_file = MAX_FILE.min(chunk_max);
        Some(ReadAhead { pool, max_file })
    }

    /// For each event of `batch`, its file read ahead, if it is one to read.
    pub fn read(&self, batch: &[Event]) -> Vec<Option<Early>> {
        let mut room = BATCH_BYTES;
        let mut jobs: Vec<(usize, &Entry, u64)> = Vec::new();
        for (i, ev) in batch.iter().enumerate() {
            let Event::Leaf(e) = ev else { continue };
            match e.kind {
                EntryKind::File { size }
                    if size <= self.max_file.min(room)
                        && e.meta.links <= 1
                        && !companion(&e.name) =>
                {
                    room -= size;
                    jobs.push((i, e, size));
                }
                _ => {}
            }
        }
        let read: Vec<(usize, Early)> = self.pool.install(|| {
            jobs.par_iter()
                .filter_map(|&(i, e, size)| {
                    let file = open_nofollow(e).ok()?;
                    let data = read_small(&file, size);
                    let meta = file.metadata();
                    let again = data
                        .as_ref()
                        .is_ok_and(|d| d.len() as u64 > size || sqlite::has_header(d));
                    let opened = (again.then_some(file), data, meta);
                    let path = e.path.clone();
                    Some((i, Early { path, opened }))
                })
                .collect()
        });
        let mut out: Vec<Option<Early>> = batch.iter().map(|_| None).collect();
        let mut kept = 0;
        for (i, early) in read {
            if early.opened.0.is_some() {
                kept += 1;
                if kept > KEPT_PER_BATCH {
                    continue;
                }
            }
            out[i] = Some(early);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::fs::{FsOptions, FsSource};

    /// The events of a walk of `dir`.
    fn walk(dir: &std::path::Path) -> Vec<Event> {
        let opts = FsOptions {
            paths: vec![dir.to_path_buf()],
            ..FsOptions::default()
        };
        FsSource::new(opts).unwrap().collect()
    }

    fn name(ev: &Event) -> String {
        match ev {
            Event::Enter(e) | Event::Leaf(e) => String::from_utf8_lossy(&e.name).into_owned(),
            _ => String::new(),
        }
    }

    #[test]
    fn small_lone_files_are_read_with_the_archivers_own_calls() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a"), b"alpha").unwrap();
        std::fs::write(d.join("empty"), b"").unwrap();
        std::fs::write(d.join("big"), vec![7u8; MAX_FILE as usize + 1]).unwrap();
        std::fs::write(d.join("linked"), b"two names").unwrap();
        std::fs::hard_link(d.join("linked"), d.join("linked2")).unwrap();
        std::os::unix::fs::symlink("a", d.join("sym")).unwrap();
        let events = walk(d);
        let early = reader().read(&events);
        assert_eq!(early.len(), events.len());
        let mut read = Vec::new();
        for (ev, early) in events.iter().zip(early) {
            let Some(early) = early else { continue };
            let Event::Leaf(e) = ev else {
                panic!("read ahead for {}", name(ev))
            };
            assert_eq!(early.path, e.path);
            let (file, data, meta) = early.opened;
            assert!(file.is_none(), "closed once read");
            let meta = meta.unwrap();
            assert_eq!(data.unwrap(), std::fs::read(&e.path).unwrap());
            use std::os::unix::fs::MetadataExt;
            assert_eq!(meta.ino(), e.meta.inode);
            read.push(name(ev));
        }
        // Not the large file, not the hard-linked ones, not the symlink.
        assert_eq!(read, ["a", "empty"]);
    }

    #[test]
    fn a_batch_reads_at_most_its_byte_budget_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let per = 60 * 1024;
        let files = BATCH_BYTES as usize / per + 3;
        for i in 0..files {
            std::fs::write(dir.path().join(format!("f{i:03}")), vec![1u8; per]).unwrap();
        }
        let events = walk(dir.path());
        let early = reader().read(&events);
        let bytes: usize = early
            .iter()
            .flatten()
            .map(|e| e.opened.1.as_ref().unwrap().len())
            .sum();
        assert_eq!(bytes, BATCH_BYTES as usize / per * per);
    }

    #[test]
    fn a_file_gone_since_the_walk_is_the_archivers_to_report() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("gone"), b"x").unwrap();
        std::fs::write(dir.path().join("here"), b"y").unwrap();
        let events = walk(dir.path());
        std::fs::remove_file(dir.path().join("gone")).unwrap();
        let early = reader().read(&events);
        let read = names(&early);
        assert_eq!(read, ["here"]);
    }

    #[test]
    fn sqlite_companions_are_left_to_the_archiver() {
        // Closing a descriptor of a database's `-shm` or `-wal` on another
        // thread would drop the archiver's locks on it mid-snapshot.
        let dir = tempfile::tempdir().unwrap();
        for name in ["x.db-shm", "x.db-wal", "x.db-journal", "x.db-walrus"] {
            std::fs::write(dir.path().join(name), b"z").unwrap();
        }
        let opts = FsOptions {
            paths: vec![dir.path().to_path_buf()],
            keep_db_companions: true,
            ..FsOptions::default()
        };
        let events: Vec<Event> = FsSource::new(opts).unwrap().collect();
        let early = reader().read(&events);
        let read = names(&early);
        assert_eq!(read, ["x.db-walrus"]);
    }

    #[test]
    fn files_larger_than_a_chunk_are_not_read_ahead() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), vec![0u8; 2048]).unwrap();
        std::fs::write(dir.path().join("b"), vec![0u8; 1024]).unwrap();
        let events = walk(dir.path());
        let early = ReadAhead::new(1024).unwrap().read(&events);
        let read = names(&early);
        assert_eq!(read, ["b"]);
    }

    /// The names of the files read ahead.
    fn names(early: &[Option<Early>]) -> Vec<String> {
        let name = |e: &Early| e.path.file_name().unwrap().to_string_lossy().into_owned();
        early.iter().flatten().map(name).collect()
    }

    /// Read-ahead as a repository with 8 MiB chunks has it.
    fn reader() -> ReadAhead {
        ReadAhead::new(8 << 20).unwrap()
    }

    #[test]
    fn few_files_are_kept_open_per_batch() {
        // Files that start like SQLite databases stay open for the
        // archiver: at most two a batch, the rest are the archiver's.
        let dir = tempfile::tempdir().unwrap();
        let mut db = b"SQLite format 3\0".to_vec();
        db.resize(512, 0);
        for i in 0..5 {
            std::fs::write(dir.path().join(format!("db{i}")), &db).unwrap();
        }
        let events = walk(dir.path());
        let early: Vec<Early> = reader().read(&events).into_iter().flatten().collect();
        assert_eq!(early.len(), KEPT_PER_BATCH);
        assert!(early.iter().all(|e| e.opened.0.is_some()));
    }
}
