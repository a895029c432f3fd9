//! The behaviour every [`Storage`] implementation must share, as one suite
//! that panics on the first violation. Unit tests run it for each backend and
//! wrapper; the S3 backend's tests run it against a live bucket.
//!
//! Each check works under its own key prefix (`conformance/<check>/`) and
//! first clears it, so checks do not see each other and a suite that crashed
//! halfway can be run again on the same bucket.

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use bytes::Bytes;

use super::{Storage, StorageErrorKind};

/// Runs every check.
pub fn run_all(s: &dyn Storage) {
    round_trip(s);
    large_object(s);
    overwrite_same_bytes(s);
    get_missing(s);
    get_range(s);
    list_prefix(s);
    delete(s);
    put_if_absent(s);
    odd_keys(s);
    concurrent_puts(s);
    staged(s);
    no_strays_from_finished_writes(s);
}

/// Staged objects: nothing visible before commit, the exact bytes after,
/// and nothing at all when a stage is dropped uncommitted.
pub fn staged(s: &dyn Storage) {
    let prefix = "conformance/staged/";
    for o in s.list(prefix).expect("list") {
        s.delete(&o.key).expect("delete");
    }
    let data = test_data(77, 3 * 1024 * 1024 + 17);
    let mut st = s.stage().expect("stage");
    for piece in data.chunks(100_000) {
        st.write(piece).expect("staged write");
    }
    assert_eq!(st.len(), data.len() as u64);
    assert!(
        s.list(prefix).expect("list").is_empty(),
        "staged data visible before commit"
    );
    let key = format!("{prefix}ab/committed");
    st.commit(&key).expect("commit");
    assert_eq!(s.get(&key).expect("get"), data.as_ref());
    let listed = s.list(prefix).expect("list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].size, data.len() as u64);

    let mut dropped = s.stage().expect("stage");
    dropped.write(b"never committed").expect("write");
    drop(dropped);
    assert_eq!(s.list(prefix).expect("list").len(), 1);
    assert_eq!(
        s.list("")
            .expect("list")
            .iter()
            .filter(|o| o.key.contains("never"))
            .count(),
        0
    );
}

/// Writes that finished (puts, commits) and stages dropped uncommitted
/// leave no leftover that `strays` reports, and what it reports can be
/// removed.
pub fn no_strays_from_finished_writes(s: &dyn Storage) {
    let prefix = fresh_prefix(s, "strays");
    let before = s.strays().expect("strays");
    s.put(&format!("{prefix}ab/put"), test_data(5, 1000))
        .expect("put");
    let mut st = s.stage().expect("stage");
    st.write(b"committed").expect("write");
    st.commit(&format!("{prefix}ab/staged")).expect("commit");
    let mut dropped = s.stage().expect("stage");
    dropped.write(b"never committed").expect("write");
    drop(dropped);
    let after = s.strays().expect("strays");
    assert_eq!(after, before, "finished writes left strays");
    for stray in &after {
        s.remove_stray(stray).expect("remove stray");
    }
}

/// Deterministic pseudo-random bytes, so a mix-up of objects shows.
pub fn test_data(seed: u64, len: usize) -> Bytes {
    let mut data = vec![0u8; len];
    StdRng::seed_from_u64(seed).fill_bytes(&mut data);
    Bytes::from(data)
}

/// A check's private prefix, emptied of anything a previous run left.
fn fresh_prefix(s: &dyn Storage, check: &str) -> String {
    let prefix = format!("conformance/{check}/");
    for obj in s.list(&prefix).expect("list to clear the check's prefix") {
        s.delete(&obj.key).expect("delete a leftover object");
    }
    prefix
}

fn sorted_keys(s: &dyn Storage, prefix: &str) -> Vec<(String, u64)> {
    let mut keys: Vec<_> = s
        .list(prefix)
        .unwrap_or_else(|e| panic!("list {prefix:?}: {e}"))
        .into_iter()
        .map(|o| (o.key, o.size))
        .collect();
    keys.sort();
    keys
}

/// Put then get returns the same bytes, for small, empty and odd sizes.
pub fn round_trip(s: &dyn Storage) {
    let p = fresh_prefix(s, "round_trip");
    for (i, len) in [0usize, 1, 31, 4096, 100_003].into_iter().enumerate() {
        let key = format!("{p}obj{i}");
        let data = test_data(i as u64, len);
        s.put(&key, data.clone())
            .unwrap_or_else(|e| panic!("put {key}: {e}"));
        let got = s.get(&key).unwrap_or_else(|e| panic!("get {key}: {e}"));
        assert!(
            got == data.as_ref(),
            "round trip of {len} bytes changed the data"
        );
    }
}

/// A 20 MiB object (bigger than a pack) survives whole, also by range.
pub fn large_object(s: &dyn Storage) {
    let p = fresh_prefix(s, "large_object");
    let key = format!("{p}big");
    let data = test_data(20, 20 << 20);
    s.put(&key, data.clone()).expect("put 20 MiB");
    assert!(
        s.get(&key).expect("get 20 MiB") == data.as_ref(),
        "20 MiB object changed"
    );
    let range = s
        .get_range(&key, (16 << 20) - 5, 1 << 20)
        .expect("range of 20 MiB");
    assert!(
        range == data[(16 << 20) - 5..(17 << 20) - 5],
        "range of 20 MiB object"
    );
    assert_eq!(sorted_keys(s, &p), vec![(key.clone(), 20 << 20)]);
    s.delete(&key).expect("delete 20 MiB");
}

/// Putting identical bytes again (what a retried upload does) succeeds.
pub fn overwrite_same_bytes(s: &dyn Storage) {
    let p = fresh_prefix(s, "overwrite");
    let key = format!("{p}same");
    let data = test_data(3, 1000);
    s.put(&key, data.clone()).expect("first put");
    s.put(&key, data.clone())
        .expect("second put of the same bytes");
    assert!(s.get(&key).expect("get") == data.as_ref());
    assert_eq!(sorted_keys(s, &p), vec![(key, 1000)]);
}

/// A missing object is NotFound, for whole and ranged reads.
pub fn get_missing(s: &dyn Storage) {
    let p = fresh_prefix(s, "missing");
    let key = format!("{p}nothing-here");
    let err = s.get(&key).expect_err("get of a missing object");
    assert_eq!(err.kind, StorageErrorKind::NotFound, "get missing: {err}");
    let err = s
        .get_range(&key, 0, 1)
        .expect_err("get_range of a missing object");
    assert_eq!(
        err.kind,
        StorageErrorKind::NotFound,
        "get_range missing: {err}"
    );
}

/// Ranges at the start, middle and end; any range past the end is a
/// Permanent error, never a short read.
pub fn get_range(s: &dyn Storage) {
    let p = fresh_prefix(s, "range");
    let key = format!("{p}obj");
    let data = test_data(4, 10_000);
    s.put(&key, data.clone()).expect("put");
    for (offset, len) in [
        (0u64, 1u64),
        (0, 100),
        (4321, 1234),
        (9_000, 1_000),
        (9_999, 1),
        (0, 10_000),
    ] {
        let got = s
            .get_range(&key, offset, len)
            .unwrap_or_else(|e| panic!("range {offset}+{len}: {e}"));
        let want = &data[offset as usize..(offset + len) as usize];
        assert!(
            got == want,
            "range {offset}+{len} returned wrong bytes ({} long)",
            got.len()
        );
    }
    for (offset, len) in [
        (9_999u64, 2u64),
        (5_000, 5_001),
        (10_000, 1),
        (20_000, 10),
        (0, 10_001),
    ] {
        match s.get_range(&key, offset, len) {
            Ok(got) => panic!(
                "range {offset}+{len} past the end returned {} bytes",
                got.len()
            ),
            Err(e) => assert_eq!(
                e.kind,
                StorageErrorKind::Permanent,
                "range {offset}+{len}: {e}"
            ),
        }
    }
}

/// Listing by prefix, across nested fan-out directories, with sizes.
pub fn list_prefix(s: &dyn Storage) {
    let p = fresh_prefix(s, "list");
    let objects = [
        ("packs/ab/ab01", 10),
        ("packs/ab/ab02", 0),
        ("packs/ac/ac01", 7),
        ("packs/cd/cd01", 3),
        ("index/ab01", 5),
        ("config", 1),
    ];
    for (i, (name, len)) in objects.iter().enumerate() {
        s.put(&format!("{p}{name}"), test_data(i as u64, *len))
            .expect("put");
    }
    let expect = |names: &[&str]| -> Vec<(String, u64)> {
        let mut v: Vec<_> = objects
            .iter()
            .filter(|(n, _)| names.contains(n))
            .map(|(n, len)| (format!("{p}{n}"), *len as u64))
            .collect();
        v.sort();
        v
    };
    let all: Vec<&str> = objects.iter().map(|(n, _)| *n).collect();
    assert_eq!(sorted_keys(s, &p), expect(&all));
    assert_eq!(sorted_keys(s, &format!("{p}packs/")), expect(&all[..4]));
    assert_eq!(sorted_keys(s, &format!("{p}packs")), expect(&all[..4]));
    assert_eq!(sorted_keys(s, &format!("{p}packs/a")), expect(&all[..3]));
    assert_eq!(sorted_keys(s, &format!("{p}packs/ab/")), expect(&all[..2]));
    assert_eq!(
        sorted_keys(s, &format!("{p}packs/ab/ab0")),
        expect(&all[..2])
    );
    assert_eq!(
        sorted_keys(s, &format!("{p}packs/ab/ab01")),
        expect(&all[..1])
    );
    assert_eq!(sorted_keys(s, &format!("{p}con")), expect(&["config"]));
    for nothing in [
        "packs/zz",
        "packs/zz/",
        "nothing/",
        "packs/ab/ab03",
        "configx",
    ] {
        assert_eq!(
            sorted_keys(s, &format!("{p}{nothing}")),
            vec![],
            "prefix {nothing:?}"
        );
    }
    let everything = sorted_keys(s, "");
    assert!(
        expect(&all).iter().all(|k| everything.contains(k)),
        "list(\"\") misses objects"
    );
}

/// Delete removes; deleting again, or something never stored, is fine.
pub fn delete(s: &dyn Storage) {
    let p = fresh_prefix(s, "delete");
    let key = format!("{p}doomed");
    s.put(&key, test_data(5, 50)).expect("put");
    s.delete(&key).expect("delete");
    let err = s.get(&key).expect_err("get after delete");
    assert_eq!(
        err.kind,
        StorageErrorKind::NotFound,
        "get after delete: {err}"
    );
    assert_eq!(sorted_keys(s, &p), vec![]);
    s.delete(&key).expect("delete twice");
    s.delete(&format!("{p}never/stored"))
        .expect("delete of a never-stored key");
}

/// The first put_if_absent creates, the second leaves the content alone.
pub fn put_if_absent(s: &dyn Storage) {
    let p = fresh_prefix(s, "put_if_absent");
    let key = format!("{p}locks/l1");
    let first = test_data(6, 64);
    assert!(
        s.put_if_absent(&key, first.clone())
            .expect("first put_if_absent"),
        "first must create"
    );
    let created = s
        .put_if_absent(&key, test_data(7, 64))
        .expect("second put_if_absent");
    assert!(!created, "second put_if_absent must not create");
    assert!(
        s.get(&key).expect("get") == first.as_ref(),
        "put_if_absent overwrote"
    );
    s.delete(&key).expect("delete");
    assert!(
        s.put_if_absent(&key, test_data(8, 3))
            .expect("after delete"),
        "slot is free again"
    );
}

/// Keys with characters that are legal but need care (escaping in URLs,
/// shells, signatures): spaces, unicode, percent signs, dots.
pub fn odd_keys(s: &dyn Storage) {
    let p = fresh_prefix(s, "odd");
    let names = [
        "with space",
        "ünïcødé-日本",
        "percent%20and%2Fslash",
        "plus+equals=comma,semi;at@",
        "tilde~hash#question?",
        "quote'and\"dquote",
        "..dots",
        ".hidden",
        "dir.with.dots/file",
        "UPPER/lower",
    ];
    for (i, name) in names.iter().enumerate() {
        let key = format!("{p}{name}");
        let data = test_data(100 + i as u64, 10 + i);
        s.put(&key, data.clone())
            .unwrap_or_else(|e| panic!("put {key:?}: {e}"));
        let got = s.get(&key).unwrap_or_else(|e| panic!("get {key:?}: {e}"));
        assert!(got == data.as_ref(), "{key:?} changed");
    }
    let listed: Vec<String> = sorted_keys(s, &p).into_iter().map(|(k, _)| k).collect();
    let mut want: Vec<String> = names.iter().map(|n| format!("{p}{n}")).collect();
    want.sort();
    assert_eq!(listed, want);
    let only = sorted_keys(s, &format!("{p}percent%20"));
    assert_eq!(only.len(), 1, "a '%' in a prefix must be literal");
}

/// Several threads putting distinct keys at once all land intact.
pub fn concurrent_puts(s: &dyn Storage) {
    let p = fresh_prefix(s, "concurrent");
    let (threads, per_thread) = (8u64, 8u64);
    std::thread::scope(|scope| {
        for t in 0..threads {
            let p = &p;
            scope.spawn(move || {
                for i in 0..per_thread {
                    let key = format!("{p}packs/{t:02x}/{i:02x}");
                    let len = 1000 + (t * per_thread + i) as usize * 37;
                    s.put(&key, test_data(t * 1000 + i, len))
                        .unwrap_or_else(|e| panic!("put {key}: {e}"));
                }
            });
        }
    });
    let listed = sorted_keys(s, &p);
    assert_eq!(listed.len() as u64, threads * per_thread);
    for t in 0..threads {
        for i in 0..per_thread {
            let key = format!("{p}packs/{t:02x}/{i:02x}");
            let len = 1000 + (t * per_thread + i) as usize * 37;
            let got = s.get(&key).unwrap_or_else(|e| panic!("get {key}: {e}"));
            assert!(
                got == test_data(t * 1000 + i, len).as_ref(),
                "{key} changed"
            );
        }
    }
}
