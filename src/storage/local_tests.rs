//! Tests for the local directory backend: the shared conformance suite plus
//! what only a filesystem can get wrong (temp files, unsafe keys, races).

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;

use super::*;
use crate::storage::conformance;

fn fresh() -> (tempfile::TempDir, LocalStorage) {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = LocalStorage::create(dir.path().join("repo")).expect("create");
    (dir, storage)
}

#[test]
fn passes_conformance_suite() {
    let (_dir, s) = fresh();
    conformance::run_all(&s);
}

#[test]
fn temp_files_never_listed_and_crash_leftovers_ignored() {
    let (_dir, s) = fresh();
    s.put("packs/ab/ab01", Bytes::from_static(b"x")).unwrap();
    // A crashed writer leaves a temp file next to the objects.
    fs::write(s.root().join("packs/ab/.tmp-deadbeef00000000"), b"partial").unwrap();
    fs::write(s.root().join(".tmp-0123"), b"partial").unwrap();
    let mut keys: Vec<_> = s.list("").unwrap().into_iter().map(|o| o.key).collect();
    keys.sort();
    assert_eq!(keys, vec!["packs/ab/ab01".to_string()]);
    assert!(s.list("packs/ab/.tmp").unwrap().is_empty());
    // And successful puts leave no temp file behind.
    let names: Vec<_> = fs::read_dir(s.root().join("packs/ab"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(TEMP_PREFIX) && n != ".tmp-deadbeef00000000")
        .collect();
    assert!(names.is_empty(), "stray temp files: {names:?}");
}

#[test]
fn temp_files_invisible_during_concurrent_puts() {
    let (_dir, s) = fresh();
    let data = Bytes::from(vec![7u8; 1 << 20]);
    let seen_tmp = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for i in 0..20 {
                s.put(&format!("d/obj{i}"), data.clone()).unwrap();
            }
        });
        for _ in 0..50 {
            for o in s.list("d/").unwrap() {
                if o.key.contains(TEMP_PREFIX) {
                    seen_tmp.fetch_add(1, Ordering::Relaxed);
                }
                // A listed object is always complete.
                assert_eq!(o.size, data.len() as u64, "{}", o.key);
            }
        }
    });
    assert_eq!(seen_tmp.load(Ordering::Relaxed), 0);
}

#[test]
fn unsafe_keys_rejected_as_permanent() {
    let (dir, s) = fresh();
    let bad = [
        "",
        "/abs",
        "a//b",
        "a/",
        "..",
        "../escape",
        "a/../b",
        "a/./b",
        ".",
        "a\\b",
        "a\0b",
        ".tmp-x",
        "a/.tmp-y",
    ];
    for key in bad {
        let err = s.put(key, Bytes::from_static(b"x")).unwrap_err();
        assert_eq!(err.kind, StorageErrorKind::Permanent, "{key:?}");
        assert_eq!(
            s.get(key).unwrap_err().kind,
            StorageErrorKind::Permanent,
            "{key:?}"
        );
        assert_eq!(
            s.delete(key).unwrap_err().kind,
            StorageErrorKind::Permanent,
            "{key:?}"
        );
    }
    assert!(!dir.path().join("escape").exists());
    assert_eq!(s.list("../").unwrap_err().kind, StorageErrorKind::Permanent);
}

#[test]
fn concurrent_put_if_absent_has_one_winner() {
    let (_dir, s) = fresh();
    for round in 0..10 {
        let key = format!("locks/l{round}");
        let wins = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for t in 0..8u8 {
                let (s, key, wins) = (&s, &key, &wins);
                scope.spawn(move || {
                    if s.put_if_absent(key, Bytes::from(vec![t; 64])).unwrap() {
                        wins.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        assert_eq!(wins.load(Ordering::Relaxed), 1, "round {round}");
        let body = s.get(&key).unwrap();
        assert!(body.len() == 64 && body.iter().all(|b| *b == body[0]));
    }
    // The losers cleaned up their temp files.
    let leftovers = fs::read_dir(s.root().join("locks")).unwrap().count();
    assert_eq!(leftovers, 10);
}

#[test]
fn missing_root_is_not_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("unmounted");
    let s = LocalStorage::new(root.clone());
    let err = s
        .put("packs/ab/ab01", Bytes::from_static(b"x"))
        .unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Permanent);
    assert_eq!(
        s.put("config", Bytes::from_static(b"x")).unwrap_err().kind,
        StorageErrorKind::Permanent
    );
    assert!(!root.exists());
    assert!(s.list("").unwrap().is_empty());
    assert_eq!(
        s.get("config").unwrap_err().kind,
        StorageErrorKind::NotFound
    );
}

#[test]
fn directories_are_not_objects() {
    let (_dir, s) = fresh();
    s.put("packs/ab/ab01", Bytes::from_static(b"x")).unwrap();
    assert_eq!(
        s.get("packs/ab").unwrap_err().kind,
        StorageErrorKind::NotFound
    );
    assert_eq!(
        s.get_range("packs", 0, 1).unwrap_err().kind,
        StorageErrorKind::NotFound
    );
}

#[test]
fn permission_denied_is_permanent() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, s) = fresh();
    s.put("ro/a", Bytes::from_static(b"x")).unwrap();
    let ro = s.root().join("ro");
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o500)).unwrap();
    // Root ignores permissions; only check when they are enforced.
    if fs::write(ro.join("probe"), b"").is_err() {
        let err = s.put("ro/b", Bytes::from_static(b"x")).unwrap_err();
        assert_eq!(err.kind, StorageErrorKind::Permanent);
    }
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn ranged_reads_past_end_fail_without_huge_allocations() {
    let (_dir, s) = fresh();
    s.put("o", Bytes::from_static(b"0123456789")).unwrap();
    assert_eq!(s.get_range("o", 10, 0).unwrap(), b"");
    for (off, len) in [(11, 0), (5, 6), (0, u64::MAX), (u64::MAX, 2)] {
        let err = s.get_range("o", off, len).unwrap_err();
        assert_eq!(err.kind, StorageErrorKind::Permanent, "{off}+{len}");
    }
}

#[test]
fn io_errors_are_classified_for_retry() {
    let kind = |k: io::ErrorKind| io_error("put", "k", io::Error::from(k)).kind;
    assert_eq!(kind(io::ErrorKind::NotFound), StorageErrorKind::NotFound);
    assert_eq!(
        kind(io::ErrorKind::PermissionDenied),
        StorageErrorKind::Permanent
    );
    assert_eq!(
        kind(io::ErrorKind::StorageFull),
        StorageErrorKind::Permanent
    );
    assert_eq!(
        kind(io::ErrorKind::ReadOnlyFilesystem),
        StorageErrorKind::Permanent
    );
    assert_eq!(
        kind(io::ErrorKind::Interrupted),
        StorageErrorKind::Transient
    );
    assert_eq!(kind(io::ErrorKind::TimedOut), StorageErrorKind::Transient);
    assert_eq!(
        io_error("get", "k", io::Error::from_raw_os_error(libc::EIO)).kind,
        StorageErrorKind::Transient
    );
}

#[test]
fn dropped_stage_leaves_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let s = LocalStorage::create(dir.path().join("r")).unwrap();
    let mut st = s.stage().unwrap();
    st.write(b"partial pack").unwrap();
    drop(st);
    let left: Vec<_> = std::fs::read_dir(dir.path().join("r"))
        .unwrap()
        .flatten()
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_full_disk_while_staging_names_the_temporary_file() {
    let (_dir, s) = fresh();
    let tmp = s.root().join(".tmp-full-disk-test");
    fs::write(&tmp, b"").unwrap();
    // /dev/full fails every write with ENOSPC, as a full disk does.
    let full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let mut st = LocalStaged {
        storage: &s,
        tmp: tmp.clone(),
        file: Some(io::BufWriter::with_capacity(16, full)),
        len: 0,
    };
    let err = st.write(&[7u8; 64]).unwrap_err().to_string();
    assert!(err.contains(".tmp-full-disk-test"), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    drop(st);
    assert!(!tmp.exists(), "the temporary file is removed");
}

#[test]
fn strays_lists_and_removes_only_temporary_files() {
    let (_dir, s) = fresh();
    s.put("packs/ab/ab01", Bytes::from_static(b"x")).unwrap();
    fs::write(s.root().join("packs/ab/.tmp-deadbeef00000000"), b"partial").unwrap();
    fs::write(s.root().join(".tmp-0123"), b"partial pack").unwrap();
    let mut strays = s.strays().unwrap();
    strays.sort_by(|a, b| a.name.cmp(&b.name));
    let named: Vec<_> = strays.iter().map(|t| (t.name.as_str(), t.size)).collect();
    assert_eq!(
        named,
        vec![(".tmp-0123", 12), ("packs/ab/.tmp-deadbeef00000000", 7)]
    );
    let now = std::time::SystemTime::now();
    let day = std::time::Duration::from_secs(86_400);
    assert!(!strays[0].older_than(day, now));
    assert!(strays[0].older_than(day, now + 2 * day));
    for bad in [
        "packs/ab/ab01",
        "../.tmp-0123",
        "packs/../.tmp-0123",
        "/.tmp-0123",
    ] {
        let fake = Stray {
            name: bad.into(),
            ..strays[0].clone()
        };
        assert!(s.remove_stray(&fake).is_err(), "{bad} was accepted");
    }
    for t in &strays {
        s.remove_stray(t).unwrap();
        s.remove_stray(t).unwrap(); // already gone: fine
    }
    assert!(s.strays().unwrap().is_empty());
    assert_eq!(s.get("packs/ab/ab01").unwrap(), b"x");
}
