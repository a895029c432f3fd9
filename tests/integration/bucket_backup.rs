//! Backing up a bucket (issue 16): round trip, incremental without GETs,
//! the source's own credentials, objects replaced while read.
//! Needs the S3 server (bucket_util.rs).

use crate::bucket_util::TestBucket;

#[test]
fn test_bucket_holds_objects_with_metadata() {
    let b = TestBucket::new("src");
    let etag = b.put("a b/c", b"hello");
    let got = b.get("a b/c").unwrap();
    assert_eq!(got.body, b"hello");
    assert_eq!(got.etag, etag);
    assert_eq!(b.keys(), vec!["a b/c".to_string()]);
    assert!(b.get("missing").is_none());
}

/// The object API: listing with ETags, conditional reads that notice a
/// replaced object, and no fallback to the repository's keys.
#[test]
fn object_api_lists_and_reads_conditionally() {
    use cairn::storage::s3::{Role, S3Bucket, S3Options};
    let b = TestBucket::new("api");
    let etag = b.put("dir/x", b"one");
    b.put("other", b"two");
    let (id, secret) = crate::bucket_util::server_keys();
    let env = move |name: &str| match name {
        "CAIRN_SOURCE_ACCESS_KEY_ID" => Some(id.clone()),
        "CAIRN_SOURCE_SECRET_ACCESS_KEY" => Some(secret.clone()),
        _ => None,
    };
    let src = S3Bucket::open_with_env(
        &b.location("dir"),
        Role::Source,
        &S3Options::default(),
        &env,
    )
    .unwrap();
    let listed = src.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].key.as_str(), listed[0].size), ("x", 3));
    assert_eq!(listed[0].etag, etag);
    let (head, body) = src.block_on(src.get_bytes("x", None, Some(&etag))).unwrap();
    assert_eq!(&body[..], b"one");
    assert_eq!(head.etag, etag);
    b.put("dir/x", b"changed");
    let err = src
        .block_on(src.get_bytes("x", None, Some(&etag)))
        .unwrap_err();
    assert!(err.message.contains("changed since it was listed"), "{err}");
    b.delete("dir/x");
    let err = src.block_on(src.get_bytes("x", None, None)).unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(src.stats().gets, 3);
    assert_eq!(src.stats().lists, 1);
    // The repository's AWS_* keys are not taken for a source.
    let none = |_: &str| None;
    let e = S3Bucket::open_with_env(&b.location(""), Role::Source, &S3Options::default(), &none)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("no credentials for the source bucket"),
        "{e}"
    );
}

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use cairn::format::object::tree_paths;

use crate::bucket_util::Obj;
use crate::util::*;

/// `cairn --json backup LOCATION` with the source's keys; the summary.
fn backup_bucket(env: &Env, b: &TestBucket, prefix: &str, extra: &[&str]) -> serde_json::Value {
    let location = b.location(prefix);
    let mut args = vec!["--json", "backup"];
    args.extend_from_slice(extra);
    args.push(&location);
    let mut cmd = env.cmd(&args);
    let out = b.with_keys(&mut cmd).output().unwrap();
    assert!(
        out.status.success(),
        "backup of {location}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    last_json(&out)
}

/// Where each key's body lands in a directory restore of the bucket's root.
fn restored_paths(target: &Path, keys: &[&str]) -> Vec<(String, PathBuf)> {
    tree_paths(keys.iter().copied())
        .into_iter()
        .map(|(k, p)| {
            let mut path = target.to_path_buf();
            for name in p {
                path.push(std::ffi::OsStr::from_bytes(&name));
            }
            (k.to_string(), path)
        })
        .collect()
}

/// Hostile keys, a 0-byte object and a 100 MiB multipart object survive a
/// backup and a restore to a directory; the metadata is in the snapshot.
#[test]
fn bucket_round_trip_to_a_directory() {
    let env = Env::new();
    let b = TestBucket::new("rt");
    let keys = [
        "plain.txt",
        "with space/and more.txt",
        "ünïcødé/ファイル.bin",
        "100%/a+b=c.txt",
        "/leading-slash",
        "a/../escape",
        "a/./dot",
        "folder/",
        "folder",
        "empty",
    ];
    for (i, k) in keys.iter().enumerate() {
        let body = if *k == "empty" {
            Vec::new()
        } else {
            random_bytes(i as u64, 1000 + i * 37)
        };
        let o = Obj {
            body,
            content_type: Some("application/x-test".into()),
            cache_control: Some("no-cache".into()),
            user: [("origin".to_string(), format!("k{i}"))].into(),
            ..Default::default()
        };
        b.put_obj(k, &o);
    }
    const PART: usize = 5 * 1024 * 1024;
    b.put_multipart("big/object", 20, PART, |n| {
        random_bytes(1000 + n as u64, PART)
    });
    let first = backup_bucket(&env, &b, "", &[]);
    assert_eq!(first["files_new"], 11, "{first}");
    assert_eq!(first["skipped"].as_array().unwrap().len(), 0, "{first}");
    // Every object's metadata, as stored.
    let repo = env.library_repo();
    let snap = repo.find_snapshot("latest", &Default::default()).unwrap();
    assert_eq!(snap.snapshot.paths, vec![b.location("")]);
    let target = env.path("restored");
    let out = env.run(&["restore", "latest", "--target", target.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "restore: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut all: Vec<&str> = keys.to_vec();
    all.push("big/object");
    for (key, path) in restored_paths(&target, &all) {
        let want = b.get(&key).unwrap().body;
        let got = std::fs::read(&path).unwrap_or_else(|e| panic!("{key:?} at {path:?}: {e}"));
        assert!(got == want, "{key:?}: body differs");
        assert!(path.starts_with(&target));
    }
    assert_eq!(
        files_under(&target).len(),
        all.len(),
        "nothing else restored"
    );
}
