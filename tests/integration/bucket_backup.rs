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

use cairn::format::object::{tree_paths, ObjectMeta};

use crate::bucket_util::Obj;
use crate::util::*;

/// `cairn --json backup LOCATION` with the source's keys; the summary.
fn backup_bucket(env: &Env, b: &TestBucket, prefix: &str, extra: &[&str]) -> serde_json::Value {
    crate::bucket_util::backup_location(env, b, &b.location(prefix), extra)
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
    let wanted = [
        "plain.txt",
        "with space/and more.txt",
        "ünïcødé/ファイル.bin",
        "100%/a+b=c.txt",
        "%2F/x",
        "/leading-slash",
        "empty",
        "a/../escape",
        "a/./dot",
        "..",
        "folder/",
        "folder",
        "x//y",
    ];
    // The first seven every S3 store takes; the rest only where the
    // server accepts them (SeaweedFS refuses `.`/`..` segments).
    let mut keys = Vec::new();
    for (i, k) in wanted.iter().enumerate() {
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
        match b.try_put_obj(k, &o) {
            Ok(_) => keys.push(*k),
            Err(e) if i >= 7 => eprintln!(
                "the server refused {k:?}: {}",
                e.chars().take(200).collect::<String>()
            ),
            Err(e) => panic!("put {k:?}: {e}"),
        }
    }
    eprintln!("keys stored: {keys:?}");
    const PART: usize = 5 * 1024 * 1024;
    let big_etag = b.put_multipart("big/object", 20, PART, |n| {
        random_bytes(1000 + n as u64, PART)
    });
    let keys = b.keys();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let first = backup_bucket(&env, &b, "", &[]);
    assert_eq!(first["files_new"], keys.len(), "{first}");
    assert_eq!(first["skipped"].as_array().unwrap().len(), 0, "{first}");
    // Every object's metadata, as stored.
    let repo = env.open_repo();
    let snap = repo.find_snapshot("latest", &Default::default()).unwrap();
    assert_eq!(snap.snapshot.paths, vec![b.location("")]);
    let root = repo.load_tree(&snap.snapshot.tree).unwrap();
    let node = root.nodes.iter().find(|n| n.name == b"plain.txt").unwrap();
    let m = ObjectMeta::from_node(b"plain.txt", node).unwrap();
    assert_eq!(m.content_type.as_deref(), Some("application/x-test"));
    assert_eq!(m.cache_control.as_deref(), Some("no-cache"));
    assert_eq!(m.user.get("origin").map(String::as_str), Some("k0"));
    assert_eq!(m.etag, b.get("plain.txt").unwrap().etag);
    let big = root.nodes.iter().find(|n| n.name == b"big").unwrap();
    let cairn::format::tree::NodeKind::Dir { subtree } = big.kind else {
        panic!("big/ is a directory")
    };
    let big = &repo.load_tree(&subtree).unwrap().nodes[0];
    let m = ObjectMeta::from_node(b"big/object", big).unwrap();
    assert_eq!(m.etag, big_etag, "a multipart ETag, kept as is");
    let target = env.path("restored");
    let out = env.run(&["restore", "latest", "--target", target.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Keys that are no path below the target (an empty, `.` or `..`
    // segment, a leading `/`) may be refused on a restore to a directory:
    // then each is named and the exit code is 3; plain keys always restore.
    let (odd, plain): (Vec<&str>, Vec<&str>) = keys.iter().partition(|k| !is_plain_path(k));
    assert!(plain.contains(&"big/object"), "{keys:?}");
    let restored = match out.status.code() {
        Some(0) => keys.clone(),
        Some(3) => {
            for k in &odd {
                assert!(stderr.contains(k), "{k:?} refused but not named: {stderr}");
            }
            plain.clone()
        }
        _ => panic!("restore: {stderr}"),
    };
    // S3 metadata is not set as xattrs on the restored files (it would fail).
    assert!(!stderr.contains("xattr"), "{stderr}");
    for (key, path) in restored_paths(&target, &keys) {
        if !restored.contains(&key.as_str()) {
            continue;
        }
        let want = b.get(&key).unwrap().body;
        let got = std::fs::read(&path).unwrap_or_else(|e| panic!("{key:?} at {path:?}: {e}"));
        assert!(got == want, "{key:?}: body differs");
        assert!(path.starts_with(&target));
    }
    assert_eq!(
        files_under(&target).len(),
        restored.len(),
        "nothing else restored"
    );
}

/// Is `key` a relative path as it stands (no empty, `.` or `..` segment)?
fn is_plain_path(key: &str) -> bool {
    key.split('/')
        .all(|s| !s.is_empty() && s != "." && s != "..")
}

/// 2,000 objects; then 3 changed, 1 added, 1 deleted: the second backup
/// GETs exactly the 4 new bodies, and `diff` shows exactly the 5 changes.
#[test]
fn bucket_incremental_reads_only_what_changed() {
    let env = Env::new();
    let b = TestBucket::new("inc");
    let objects: Vec<(String, Vec<u8>)> = (0..2000)
        .map(|i| {
            (
                format!("d{}/obj-{i:04}", i % 7),
                text_bytes(i, 64 + (i as usize % 300)),
            )
        })
        .collect();
    b.put_many(objects);
    let first = backup_bucket(&env, &b, "", &[]);
    assert_eq!(first["files_new"], 2000, "{first}");
    assert_eq!(first["source"]["gets"], 2000, "{first}");
    let unchanged = backup_bucket(&env, &b, "", &[]);
    assert_eq!(unchanged["files_unchanged"], 2000, "{unchanged}");
    assert_eq!(
        unchanged["source"]["gets"], 0,
        "an unchanged bucket costs no GET: {unchanged}"
    );
    assert_eq!(
        unchanged["source"]["lists"], 2,
        "one LIST per 1,000 keys: {unchanged}"
    );
    for i in [3u64, 500, 1999] {
        let key = format!("d{}/obj-{i:04}", i % 7);
        b.put(&key, format!("changed {i}").as_bytes());
    }
    b.put("d0/new", b"a new object");
    b.delete("d1/obj-0001");
    let second = backup_bucket(&env, &b, "", &[]);
    assert_eq!(second["source"]["gets"], 4, "{second}");
    assert_eq!(second["files_new"], 1, "{second}");
    assert_eq!(second["files_changed"], 3, "{second}");
    assert_eq!(second["files_unchanged"], 1996, "{second}");
    let first_id = first["snapshot_id"].as_str().unwrap();
    let second_id = second["snapshot_id"].as_str().unwrap();
    let out = env.ok(&["--json", "diff", first_id, second_id]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["message_type"] == "change")
        .collect();
    let mut changes: Vec<(String, String)> = lines
        .iter()
        .map(|v| {
            (
                v["change"].as_str().unwrap().into(),
                v["path"].as_str().unwrap().into(),
            )
        })
        .collect();
    changes.sort();
    let want: Vec<(String, String)> = [
        ("added", "/d0/new"),
        ("modified", "/d3/obj-0003"),
        ("modified", "/d3/obj-0500"),
        ("modified", "/d4/obj-1999"),
        ("removed", "/d1/obj-0001"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(changes, want);
}

/// The source's keys refused (a wrong secret for the source while the
/// repository is fine): an error naming the source bucket, exit 1, and
/// the secret never printed; and no fallback to the repository's keys.
#[test]
fn bucket_source_credentials_are_its_own() {
    let env = Env::new();
    let b = TestBucket::new("cred");
    b.put("x", b"x");
    let location = b.location("");
    let mut cmd = env.cmd(&["backup", &location]);
    b.with_keys(&mut cmd)
        .env("CAIRN_SOURCE_SECRET_ACCESS_KEY", "wrong-source-secret-1234");
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("source bucket {location}")), "{err}");
    assert!(!err.contains("wrong-source-secret"), "{err}");
    let mut cmd = env.cmd(&["backup", &location]);
    cmd.env_remove("CAIRN_SOURCE_ACCESS_KEY_ID")
        .env_remove("CAIRN_SOURCE_SECRET_ACCESS_KEY");
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no credentials for the source bucket"),
        "{err}"
    );
    // One bucket per backup, alone.
    let out = env.run(&["backup", &location, "/tmp"]);
    assert_eq!(out.status.code(), Some(2));
}

/// An object replaced between the listing and its read is reported by
/// key and left out (exit 3 on the command line); the rest is stored.
#[test]
fn bucket_object_replaced_after_listing_is_skipped() {
    use cairn::backup::{backup, BackupOptions};
    use cairn::source::bucket::{BucketSource, Selection};
    use cairn::storage::s3::{Role, S3Bucket, S3Options, Secrets};
    let env = Env::uninit();
    let b = TestBucket::new("race");
    b.put("keep", b"kept");
    b.put("swap", b"before");
    b.put("gone", b"vanishes");
    let (id, secret) = crate::bucket_util::server_keys();
    let opts = S3Options {
        credentials: Some(Secrets {
            access_key_id: id,
            secret_access_key: secret.into(),
            session_token: None,
            source: "test",
        }),
        ..S3Options::default()
    };
    let bucket = std::sync::Arc::new(S3Bucket::open(&b.location(""), Role::Source, &opts).unwrap());
    let mut src = BucketSource::open(bucket, &Selection::default()).unwrap();
    // Listed; now changed behind the backup's back.
    b.put("swap", b"after, and longer");
    b.delete("gone");
    let repo = env.library_repo();
    let report = backup(
        &repo,
        &mut src,
        &BackupOptions::default(),
        &cairn::progress::NoProgress,
    )
    .unwrap();
    let mut skipped: Vec<String> = report
        .skipped
        .iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    skipped.sort();
    assert_eq!(skipped, vec!["gone", "swap"], "{:?}", report.skipped);
    // 412 where the server honours If-Match; the listed size catches a
    // server that does not.
    let swap = &report
        .skipped
        .iter()
        .find(|(p, _)| p.ends_with("swap"))
        .unwrap()
        .1;
    assert!(
        swap.contains("changed since it was listed") || swap.contains("longer than"),
        "{swap}"
    );
    assert!(!report.is_complete());
    let root = repo.load_tree(&report.snapshot.tree).unwrap();
    let names: Vec<&[u8]> = root.nodes.iter().map(|n| n.name.as_slice()).collect();
    assert_eq!(names, vec![&b"keep"[..]]);
}

/// `--dry-run` reports from the listing and the parent alone: no GET.
#[test]
fn bucket_dry_run_counts_without_reading() {
    let env = Env::new();
    let b = TestBucket::new("dry");
    for i in 0..5 {
        b.put(&format!("k{i}"), &vec![b'x'; 100 + i]);
    }
    backup_bucket(&env, &b, "", &[]);
    b.put("k0", b"changed");
    b.put("new", b"new!");
    let plan = backup_bucket(&env, &b, "", &["--dry-run"]);
    let p = &plan["bucket"];
    assert_eq!(
        (
            &p["objects_new"],
            &p["objects_changed"],
            &p["objects_unchanged"]
        ),
        (&1.into(), &1.into(), &4.into()),
        "{plan}"
    );
    assert_eq!(p["bytes_to_download"], 11, "{plan}");
    assert_eq!(p["requests"]["class_b"], 2, "{plan}");
    assert!(p["estimated_cost_usd"].as_f64().unwrap() > 0.0);
    assert_eq!(
        env.json(&["snapshots"]).as_array().unwrap().len(),
        1,
        "nothing saved"
    );
}

/// Two servers with different keys: the repository on the first (or a
/// directory), the source bucket on the second, each with its own keys;
/// the first server's keys given for the source are refused, naming it.
#[test]
fn bucket_on_another_server_with_other_keys() {
    let second = crate::bucket_util::SecondServer::start();
    let env = Env::new();
    let b = TestBucket::new_on("far", &second.endpoint, second.keys.clone());
    b.put("a/one", b"one");
    b.put("two", b"two");
    let summary = backup_bucket(&env, &b, "", &[]);
    assert_eq!(summary["files_new"], 2, "{summary}");
    let location = b.location("");
    let (id, secret) = crate::bucket_util::server_keys();
    let out = env
        .cmd(&["backup", &location])
        .env("CAIRN_SOURCE_ACCESS_KEY_ID", &id)
        .env("CAIRN_SOURCE_SECRET_ACCESS_KEY", &secret)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("source bucket {location}")), "{err}");
    assert!(!err.contains(&secret), "{err}");
}

/// A selection that keeps nothing saves nothing (exit 3), as for an empty
/// directory, unless --allow-empty; --include and --older-than select.
#[test]
fn bucket_selection_that_keeps_nothing_saves_nothing() {
    let env = Env::new();
    let b = TestBucket::new("sel");
    b.put("images/a.jpg", b"a");
    b.put("docs/b.txt", b"b");
    b.put("c.jpg", b"c");
    let location = b.location("");
    let mut cmd = env.cmd(&["backup", "--include", "*.png", &location]);
    let out = b.with_keys(&mut cmd).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.json(&["snapshots"]).as_array().unwrap().len(), 0);
    let picked = backup_bucket(
        &env,
        &b,
        "",
        &["--include", "*.jpg", "--exclude", "images/**"],
    );
    assert_eq!(picked["files_new"], 1, "{picked}");
    let old = backup_bucket(
        &env,
        &b,
        "",
        &["--older-than", "2000-01-01", "--allow-empty"],
    );
    assert_eq!(old["files_new"], 0, "{old}");
}
