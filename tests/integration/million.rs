//! Per-file costs on trees of many small files (benches/million.sh measures
//! them): which files a backup opens, seen through inotify, the kernel's own
//! record of every open; small files swapped after the walk listed them;
//! and a restore of 20,000 files that gives every directory its metadata.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use cairn::backup::{backup, BackupOptions};
use cairn::source::Event;

use crate::util::*;

/// An inotify instance reporting opens of files in some directories.
struct Opens(i32);

impl Opens {
    fn watch(dirs: &[PathBuf]) -> Opens {
        // SAFETY: plain syscalls on a descriptor this struct owns.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        assert!(fd >= 0, "inotify: {}", std::io::Error::last_os_error());
        for d in dirs {
            let c = CString::new(d.as_os_str().as_bytes()).unwrap();
            let wd = unsafe { libc::inotify_add_watch(fd, c.as_ptr(), libc::IN_OPEN) };
            assert!(wd >= 0, "watch {}", d.display());
        }
        Opens(fd)
    }

    /// How often each file (not directory) was opened since the last call.
    /// Two opens of the same file in a row may be merged into one event.
    fn take(&self) -> HashMap<Vec<u8>, u32> {
        let mut out = HashMap::new();
        let mut buf = vec![0u8; 1 << 16];
        let header = std::mem::size_of::<libc::inotify_event>();
        loop {
            // SAFETY: buf is valid for its length.
            let n = unsafe { libc::read(self.0, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break; // EAGAIN: nothing more queued
            }
            let mut at = 0usize;
            while at < n as usize {
                // SAFETY: the kernel wrote a whole event at `at`.
                let ev: libc::inotify_event =
                    unsafe { std::ptr::read_unaligned(buf[at..].as_ptr().cast()) };
                assert_eq!(ev.mask & libc::IN_Q_OVERFLOW, 0, "inotify queue overflowed");
                let name = &buf[at + header..at + header + ev.len as usize];
                let name: Vec<u8> = name.iter().copied().take_while(|&b| b != 0).collect();
                at += header + ev.len as usize;
                if ev.mask & libc::IN_ISDIR == 0 && !name.is_empty() {
                    *out.entry(name).or_insert(0) += 1;
                }
            }
        }
        out
    }
}

impl Drop for Opens {
    fn drop(&mut self) {
        // SAFETY: the descriptor is ours and closed once.
        unsafe { libc::close(self.0) };
    }
}

/// Two directories of small files (some empty, one of exactly 16 bytes).
fn small_tree(src: &Path) -> Vec<PathBuf> {
    let dirs = vec![src.join("a"), src.join("a/b")];
    for (d, dir) in dirs.iter().enumerate() {
        for i in 0..40u32 {
            let len = (i as usize * 97 + d * 13) % 3000;
            let data: Vec<u8> = (0..len).map(|k| (k as u32 * 31 + i) as u8).collect();
            // Names differ between the directories: events carry only the name.
            write(&dir.join(format!("{}{i:02}", ["x", "y"][d])), &data);
        }
    }
    write(&src.join("a/sixteen"), b"0123456789abcdef");
    dirs
}

/// An unchanged re-backup decides from the parent snapshot's metadata
/// alone: it opens no file at all. A file whose mtime changed is opened,
/// once, and only it.
#[test]
fn unchanged_backup_opens_no_file() {
    let env = Env::new();
    let src = env.path("src");
    let dirs = small_tree(&src);
    let opens = Opens::watch(&dirs);
    let first = env.backup(&[&src], &[]);
    assert_eq!(first["files_new"], 81, "{first}");
    let seen = opens.take();
    assert_eq!(
        seen.len(),
        81,
        "the first backup opens every file: {seen:?}"
    );
    assert!(seen.values().all(|&n| n == 1), "each once: {seen:?}");

    let again = env.backup(&[&src], &[]);
    assert_eq!(again["files_unchanged"], 81, "{again}");
    let seen = opens.take();
    assert!(seen.is_empty(), "an unchanged backup opened {seen:?}");

    let touched = src.join("a/b/y07");
    let t = filetime::FileTime::from_unix_time(1_600_000_000, 0);
    filetime::set_file_mtime(&touched, t).unwrap();
    opens.take(); // setting the time may open it
    let third = env.backup(&[&src], &[]);
    assert_eq!(third["files_changed"], 1, "{third}");
    let seen = opens.take();
    assert_eq!(seen, HashMap::from([(b"y07".to_vec(), 1)]));
}

/// Runs a library backup of `src` whose walk calls `hook` on each file
/// right after listing it (before the archiver opens it).
fn backup_hooked(
    dir: &Path,
    src: &Path,
    hook: impl FnMut(&Event) + Send,
) -> cairn::backup::BackupReport {
    let repo = crate::damage::library_repo(dir);
    let mut source = Hooked {
        inner: fs_source(vec![src.to_path_buf()]),
        hook,
    };
    let progress = cairn::progress::NoProgress;
    backup(&repo, &mut source, &BackupOptions::default(), &progress).unwrap()
}

/// A small file is read with one read of its listed size and checked
/// after the read, not before: one replaced by another file, or by a fifo,
/// after the walk listed it is still skipped, never recorded with the
/// other file's bytes or a hang on the fifo.
#[test]
fn small_file_replaced_after_listing_is_skipped() {
    for fifo in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        write(&src.join("keep"), b"kept as it is");
        write(&src.join("swap"), b"the walk listed this file");
        let other = dir.path().join("other");
        write(&other, b"another file, another inode");
        let report = backup_hooked(dir.path(), &src, |ev| {
            let Event::Leaf(e) = ev else { return };
            if e.name != b"swap" {
                return;
            }
            if fifo {
                std::fs::remove_file(&e.path).unwrap();
                nix_mkfifo(&e.path);
            } else {
                std::fs::rename(&other, &e.path).unwrap();
            }
        });
        let skipped: Vec<String> = report.skipped.iter().map(|(_, why)| why.clone()).collect();
        assert_eq!(
            skipped,
            ["replaced by another file since it was listed"],
            "fifo: {fifo}"
        );
        assert_eq!(report.snapshot.summary.files_new, 1, "fifo: {fifo}");
    }
}

fn nix_mkfifo(p: &Path) {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: c is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
}

/// A small file that grew after it was listed is recorded with what the
/// listing said and reported as changed while read.
#[test]
fn small_file_growing_after_listing_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write(&src.join("log"), b"first line\n");
    let report = backup_hooked(dir.path(), &src, |ev| {
        if let Event::Leaf(e) = ev {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&e.path)
                .unwrap();
            std::io::Write::write_all(&mut f, b"second line\n").unwrap();
        }
    });
    assert_eq!(report.changed_while_read.len(), 1, "{report:?}");
    assert!(report.skipped.is_empty(), "{report:?}");
}

/// 20,000 files in 100 directories two levels deep, each directory with
/// its own mode and mtime: the restore writes the files in parallel and
/// still gives every directory its mode and mtime (applied after its
/// content, deepest first), and every file its bytes, mode and mtime.
#[test]
fn restore_of_20000_files_restores_every_directory() {
    let env = Env::new();
    let src = env.path("src");
    let mut dirs = Vec::new();
    for top in 0..10u32 {
        for sub in 0..10u32 {
            let d = src.join(format!("t{top}/m{sub}"));
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..200u32 {
                let n = top * 2000 + sub * 200 + i;
                let body = format!("file {n}\n").repeat((n % 7) as usize);
                std::fs::write(d.join(format!("f{i:03}")), body).unwrap();
            }
            dirs.push(d);
        }
        dirs.push(src.join(format!("t{top}")));
    }
    // Modes and times last: writing into a directory moves its mtime.
    for (k, d) in dirs.iter().enumerate() {
        let mode = [0o700, 0o750, 0o755, 0o711][k % 4];
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode)).unwrap();
        let t = filetime::FileTime::from_unix_time(1_500_000_000 + k as i64 * 3600, k as u32);
        filetime::set_file_mtime(d, t).unwrap();
    }
    let s = env.backup(&[&src], &[]);
    assert_eq!(s["files_new"], 20_000, "{s}");
    let target = env.path("restore");
    let out = env.json(&["restore", "latest", "--target", target.to_str().unwrap()]);
    assert_eq!(out["files_restored"], 20_000, "{out}");
    let dst = restored(&target, &src);
    for d in &dirs {
        let (a, b) = (
            d.metadata().unwrap(),
            dst.join(d.strip_prefix(&src).unwrap()),
        );
        let b = b.metadata().unwrap();
        assert_eq!(a.mode(), b.mode(), "mode of {}", d.display());
        assert_eq!(
            (a.mtime(), a.mtime_nsec()),
            (b.mtime(), b.mtime_nsec()),
            "mtime of {}",
            d.display()
        );
    }
    assert_same_tree(&src, &dst);
}

/// A small SQLite database renamed over a listed file is skipped like any
/// other replacement, not snapshotted under the listed inode's metadata.
#[test]
fn small_database_replaced_after_listing_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write(&src.join("app.db"), b"the walk listed this file");
    let other = dir.path().join("other.db");
    let db = rusqlite::Connection::open(&other).unwrap();
    db.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (42);")
        .unwrap();
    drop(db);
    let report = backup_hooked(dir.path(), &src, |ev| {
        if let Event::Leaf(e) = ev {
            if e.name == b"app.db" {
                std::fs::rename(&other, &e.path).unwrap();
            }
        }
    });
    let skipped: Vec<String> = report.skipped.iter().map(|(_, why)| why.clone()).collect();
    assert_eq!(skipped, ["replaced by another file since it was listed"]);
}

/// A file whose listed size understates its content (procfs lists 0) is
/// stored whole, not as the empty file its size says.
#[test]
fn a_file_longer_than_its_listed_size_is_stored_whole() {
    let proc_file = Path::new("/proc/version");
    let want = std::fs::read(proc_file).unwrap();
    if std::fs::metadata(proc_file).unwrap().len() != 0 || want.is_empty() {
        return; // not the procfs this test is about
    }
    let env = Env::new();
    env.backup(&[proc_file], &[]);
    let target = env.path("restored");
    env.ok(&["restore", "latest", "--target", target.to_str().unwrap()]);
    let got = std::fs::read(restored(&target, proc_file)).unwrap();
    assert_eq!(got, want);
}
