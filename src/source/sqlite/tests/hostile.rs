//! Hostile inputs: a typed error naming the file or a failed check, never a
//! panic and never a hang.

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use super::*;
use crate::source::sqlite::check_file;

/// What taking and reading a snapshot of `path` gave: `Ok(check passed)`
/// or the error's io kind. Runs on a thread so that a hang fails the test.
fn outcome(path: &Path) -> Result<bool, std::io::ErrorKind> {
    let (tx, rx) = std::sync::mpsc::channel();
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let temp = tempfile::tempdir().unwrap();
        let r = Snapshot::open(&path, CheckLevel::Quick, temp.path()).and_then(|mut snap| {
            let ok = snap.wait_check().ok;
            let mut sink = Vec::new();
            snap.into_reader()
                .read_to_end(&mut sink)
                .map_err(|e| crate::Error::io(&path, e))?;
            Ok(ok)
        });
        let r = r.map_err(|e| {
            let text = e.to_string();
            assert!(
                text.contains(&*path.to_string_lossy()),
                "names the file: {text}"
            );
            match e {
                crate::Error::File { source, .. } | crate::Error::Io { source, .. } => {
                    source.kind()
                }
                other => panic!("untyped error {other:?}"),
            }
        });
        let _ = tx.send(r);
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("snapshot neither hung nor panicked")
}

fn good_db(dir: &Path, name: &str) -> (std::path::PathBuf, Vec<u8>) {
    let path = dir.join(name);
    drop(make_db(&path, false, 2000));
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

/// Deterministic garbage.
fn garbage(len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn header_then_garbage() {
    let (_d, dir) = tempdir();
    let (path, mut bytes) = good_db(&dir, "g.db");
    let len = bytes.len();
    bytes[100..].copy_from_slice(&garbage(len - 100));
    std::fs::write(&path, &bytes).unwrap();
    let r = outcome(&path);
    assert!(
        matches!(r, Ok(false) | Err(std::io::ErrorKind::InvalidData)),
        "{r:?}"
    );
    assert!(!check_file(&path, CheckLevel::Quick).unwrap().ok);
}

#[test]
fn truncated_database() {
    let (_d, dir) = tempdir();
    let (path, bytes) = good_db(&dir, "t.db");
    for cut in [bytes.len() / 2, 4096 + 17, 100, 40] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let r = outcome(&path);
        assert!(
            matches!(r, Ok(false) | Err(std::io::ErrorKind::InvalidData)),
            "cut at {cut}: {r:?}"
        );
        assert!(
            !check_file(&path, CheckLevel::Quick).unwrap().ok,
            "cut at {cut}"
        );
    }
}

#[test]
fn unusable_page_size_or_format_version() {
    let (_d, dir) = tempdir();
    let (path, bytes) = good_db(&dir, "p.db");
    for (at, value) in [
        (16, [0x03, 0xe8]),
        (16, [0, 0]),
        (16, [0, 0x80]),
        (18, [3, 3]),
    ] {
        let mut b = bytes.clone();
        b[at..at + 2].copy_from_slice(&value);
        std::fs::write(&path, &b).unwrap();
        assert_eq!(
            outcome(&path),
            Err(std::io::ErrorKind::InvalidData),
            "{at}: {value:?}"
        );
    }
    // An encrypted database has no plain header at all.
    std::fs::write(&path, garbage(8192)).unwrap();
    assert_eq!(outcome(&path), Err(std::io::ErrorKind::InvalidData));
    std::fs::write(&path, b"").unwrap();
    assert_eq!(outcome(&path), Err(std::io::ErrorKind::InvalidData));
}

#[test]
fn not_a_regular_file() {
    let (_d, dir) = tempdir();
    let sub = dir.join("dir.db");
    std::fs::create_dir(&sub).unwrap();
    assert_eq!(outcome(&sub), Err(std::io::ErrorKind::InvalidInput));
    let fifo = dir.join("fifo.db");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo touches nothing else.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    assert_eq!(outcome(&fifo), Err(std::io::ErrorKind::InvalidInput));
    assert!(check_file(&fifo, CheckLevel::Quick).is_err());
    assert_eq!(
        outcome(&dir.join("absent.db")),
        Err(std::io::ErrorKind::NotFound)
    );
}

#[test]
fn non_utf8_path() {
    let (_d, dir) = tempdir();
    let path = dir.join(OsStr::from_bytes(b"caf\xe9 %3F?#.db"));
    let writer = make_db(&path, true, 300);
    let taken = take(&path, CheckLevel::Quick, &Options::default());
    assert!(taken.check.ok);
    let restored = restore(&taken.bytes, &dir.join("r.db"));
    assert_eq!(count(&restored), 300);
    drop(writer);
    assert!(check_file(&path, CheckLevel::Full).unwrap().ok);
}

/// A header whose database size field (valid: version-valid-for equals the
/// change counter) claims 2^31 pages of a small file.
#[test]
fn header_claims_a_huge_database() {
    let (_d, dir) = tempdir();
    let (path, mut bytes) = good_db(&dir, "huge.db");
    bytes[28..32].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    let counter: [u8; 4] = bytes[24..28].try_into().unwrap();
    bytes[92..96].copy_from_slice(&counter);
    std::fs::write(&path, &bytes).unwrap();
    let r = outcome(&path);
    assert!(
        matches!(r, Ok(false) | Err(std::io::ErrorKind::InvalidData)),
        "{r:?}"
    );
    assert!(!check_file(&path, CheckLevel::Quick).unwrap().ok);
}
