//! Bucket snapshots restored into a bucket: the round trip bucket →
//! repository → fresh bucket keeps every key, body, Content-Type,
//! Cache-Control and user metadata (hostile keys, a 0-byte object, a
//! 100 MiB multipart object); selection by prefix, glob and LastModified;
//! and keys that are no path refused on a restore to a directory.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::bucket_restore::restore_into;
use crate::bucket_util::*;
use crate::util::*;

fn backup(env: &Env, b: &TestBucket, prefix: &str) -> Value {
    let loc = b.location(prefix);
    let mut cmd = env.cmd(&["--json", "backup", &loc]);
    b.with_keys(&mut cmd);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "backup: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    last_json(&out)
}

fn obj(i: usize, body: Vec<u8>) -> Obj {
    Obj {
        body,
        content_type: Some(format!("application/x-test-{i}")),
        cache_control: Some(format!("max-age={i}")),
        user: BTreeMap::from([
            ("origin".to_string(), format!("k{i}")),
            ("second".to_string(), "two words".to_string()),
        ]),
        ..Default::default()
    }
}

/// The keys below `prefix` of `b`, without it.
fn keys_below(b: &TestBucket, prefix: &str) -> Vec<String> {
    b.keys()
        .into_iter()
        .filter_map(|k| k.strip_prefix(prefix).map(str::to_string))
        .collect()
}

#[test]
fn bucket_round_trip_into_a_fresh_bucket() {
    let env = Env::new();
    let src = TestBucket::new("rt-src");
    let keys = [
        "plain.txt",
        "with space/and more.txt",
        "ünïcødé/ファイル.bin",
        "100%/a+b=c.txt",
        "%2F/x",
        "%",
        "empty",
    ];
    for (i, k) in keys.iter().enumerate() {
        let body = if *k == "empty" {
            Vec::new()
        } else {
            random_bytes(i as u64, 1000 + i * 37)
        };
        src.put_obj(k, &obj(i, body));
    }
    const PART: usize = 5 * 1024 * 1024;
    src.put_multipart("big/object", 20, PART, |n| {
        random_bytes(1000 + n as u64, PART)
    });
    backup(&env, &src, "");

    let dst = TestBucket::new("rt-dst");
    let out = restore_into(&env, &dst, "latest", &dst.location("copy"), &["--verify"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = last_json(&out);
    assert_eq!(s["objects_uploaded"], keys.len() + 1, "{s}");
    assert_eq!(s["objects_verified"], keys.len() + 1, "{s}");
    assert!(
        s["requests"]["puts"].as_u64().unwrap() > keys.len() as u64 + 1,
        "parts: {s}"
    );
    let mut want: Vec<String> = src.keys();
    want.sort();
    assert_eq!(keys_below(&dst, "copy/"), want);
    for k in &want {
        let (a, b) = (src.get(k).unwrap(), dst.get(&format!("copy/{k}")).unwrap());
        assert!(a.body == b.body, "{k:?}: body differs");
        assert_eq!(a.content_type, b.content_type, "{k:?}");
        assert_eq!(a.cache_control, b.cache_control, "{k:?}");
        assert_eq!(a.user, b.user, "{k:?}");
    }
    assert_eq!(dst.get("copy/empty").unwrap().body.len(), 0);

    // if-changed compares the metadata too: same bytes under another
    // Content-Type, or with other user metadata, are restored again.
    let mut retyped = dst.get("copy/plain.txt").unwrap();
    retyped.content_type = Some("text/x-stale".into());
    dst.put_obj("copy/plain.txt", &retyped);
    let mut remeta = dst.get("copy/%").unwrap();
    remeta.user.insert("origin".into(), "tampered".into());
    dst.put_obj("copy/%", &remeta);
    let copy = dst.location("copy");
    let if_changed = ["--overwrite", "if-changed"];
    let out = restore_into(
        &env,
        &dst,
        "latest",
        &copy,
        &[&if_changed[..], &["--dry-run"]].concat(),
    );
    let s = last_json(&out);
    assert_eq!(s["objects_uploaded"], 2, "{s}");
    let out = restore_into(&env, &dst, "latest", &copy, &if_changed);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = last_json(&out);
    assert_eq!(
        (
            s["objects_uploaded"].as_u64(),
            s["objects_unchanged"].as_u64()
        ),
        (Some(2), Some(keys.len() as u64 - 1)),
        "{s}"
    );
    for k in ["plain.txt", "%"] {
        let (a, b) = (src.get(k).unwrap(), dst.get(&format!("copy/{k}")).unwrap());
        assert_eq!((a.content_type, a.user), (b.content_type, b.user), "{k:?}");
    }

    // SNAP:prefix: keys relative to that prefix, below the target's.
    let out = restore_into(&env, &dst, "latest:ünïcødé", &dst.location("sub"), &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(keys_below(&dst, "sub/"), ["ファイル.bin"]);
    // An escaped tree name (`%2F` is stored as `%%252F`) still gives the key.
    let out = restore_into(&env, &dst, "latest:%%252F", &dst.location("esc"), &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(keys_below(&dst, "esc/"), ["x"]);
}

#[test]
fn bucket_snapshot_selection_by_glob_prefix_and_time() {
    let env = Env::new();
    let src = TestBucket::new("sel-src");
    let keys = [
        "images/a.jpg",
        "images/2024/b.jpg",
        "images/c.png",
        "docs/d.jpg",
        "docs/e.txt",
        "top.jpg",
    ];
    for (i, k) in keys.iter().enumerate() {
        // Two groups of LastModified times, over a second apart (S3 keeps
        // seconds), so both time filters below select something.
        if i == 4 {
            std::thread::sleep(std::time::Duration::from_millis(2100));
        }
        src.put_obj(k, &obj(i, random_bytes(i as u64, 100)));
    }
    backup(&env, &src, "");
    // Statistics of a bucket snapshot: its largest prefixes (100 bytes an object).
    let stats = &env.json(&["stats", "latest"])[0];
    assert_eq!(stats["files"], 6);
    assert_eq!(stats["logical_bytes"], 600);
    let prefixes: Vec<(&str, u64)> = stats["largest_prefixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["path"].as_str().unwrap(),
                p["logical_bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        prefixes,
        [("/images/", 300), ("/docs/", 200), ("/images/2024/", 100)]
    );
    let dst = TestBucket::new("sel-dst");
    let pick = |name: &str, args: &[&str]| {
        let out = restore_into(&env, &dst, "latest", &dst.location(name), args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        keys_below(&dst, &format!("{name}/"))
    };
    assert_eq!(
        pick("i", &["--include", "images/**"]),
        ["images/2024/b.jpg", "images/a.jpg", "images/c.png"]
    );
    assert_eq!(
        pick("j", &["--include", "*.jpg"]),
        ["docs/d.jpg", "images/2024/b.jpg", "images/a.jpg", "top.jpg"]
    );
    assert_eq!(
        pick("k", &["--include", "*.jpg", "--exclude", "images/2024"]),
        ["docs/d.jpg", "images/a.jpg", "top.jpg"]
    );
    // LastModified: the snapshot's mtimes, as `ls` shows them.
    let out = env.ok(&["--json", "ls", "latest"]);
    let mut times: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "file")
        .map(|v| {
            let p = v["path"]
                .as_str()
                .unwrap()
                .trim_start_matches('/')
                .to_string();
            (v["mtime"].as_str().unwrap().to_string(), p)
        })
        .collect();
    times.sort();
    // The oldest time of the second group.
    let newest = times
        .iter()
        .filter(|t| t.1 == "docs/e.txt" || t.1 == "top.jpg")
        .map(|t| t.0.clone())
        .min()
        .unwrap();
    let mut newer: Vec<String> = times
        .iter()
        .filter(|t| t.0 >= newest)
        .map(|t| t.1.clone())
        .collect();
    let mut older: Vec<String> = times
        .iter()
        .filter(|t| t.0 < newest)
        .map(|t| t.1.clone())
        .collect();
    newer.sort();
    older.sort();
    assert_eq!(newer, ["docs/e.txt", "top.jpg"], "{times:?}");
    assert_eq!(older.len(), 4, "{times:?}");
    assert_eq!(pick("n", &["--newer-than", &newest]), newer);
    let got = restore_into(
        &env,
        &dst,
        "latest",
        &dst.location("o"),
        &["--older-than", &newest],
    );
    assert_eq!(got.status.code(), Some(0));
    assert_eq!(keys_below(&dst, "o/"), older);
}

/// One server's bucket backed up, restored into a bucket on another server
/// with keys of its own; the first server's keys are refused there, and
/// the error names the target.
#[test]
fn restore_into_a_bucket_on_another_server() {
    let env = Env::new();
    let src = TestBucket::new("two-src");
    src.put_obj("a/one.txt", &obj(1, b"one".to_vec()));
    src.put_obj("two.txt", &obj(2, b"two".to_vec()));
    backup(&env, &src, "");
    let second = crate::bucket_util::SecondServer::start();
    let far = TestBucket::new_on("two-far", &second.endpoint, second.keys.clone());
    let out = restore_into(&env, &far, "latest", &far.location("r"), &["--verify"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(keys_below(&far, "r/"), ["a/one.txt", "two.txt"]);
    assert_eq!(far.get("r/two.txt").unwrap().user, obj(2, vec![]).user);
    let location = far.location("s");
    let (id, secret) = server_keys();
    let out = env
        .cmd(&["restore", "latest", "--target", &location])
        .env("CAIRN_TARGET_ACCESS_KEY_ID", &id)
        .env("CAIRN_TARGET_SECRET_ACCESS_KEY", &secret)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("target bucket {location}")), "{err}");
    assert!(!err.contains(&secret), "{err}");
    assert!(keys_below(&far, "s/").is_empty());
}

mod crafted {
    //! A bucket snapshot as the source records keys some stores accept
    //! (S3 takes `..` segments, a leading `/`, `//`; SeaweedFS normalises
    //! them away, so the snapshot is written with the library here).

    use cairn::format::index::BlobKind;
    use cairn::format::object::{join_path, key_to_path, ObjectMeta};
    use cairn::format::snapshot::{Snapshot, Summary};
    use cairn::format::tree::{Meta, Node, NodeKind, Tree};
    use cairn::ids::{ChunkId, TreeId};
    use cairn::repo::{BlobWriter, Repository};

    use crate::util::*;

    fn tree(w: &BlobWriter<'_>, repo: &Repository, mut nodes: Vec<Node>) -> TreeId {
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        let bytes = Tree { nodes }.encode();
        let id = TreeId(repo.keys().blob_id(&bytes));
        w.add_if_new(BlobKind::Tree, id.into(), &bytes).unwrap();
        id
    }

    fn dir(name: &[u8], subtree: TreeId) -> Node {
        Node {
            name: name.to_vec(),
            kind: NodeKind::Dir { subtree },
            meta: Meta {
                mode: 0o40755,
                ..Default::default()
            },
        }
    }

    /// The object `key` as a file node named by its last tree name.
    fn object(w: &BlobWriter<'_>, repo: &Repository, key: &str) -> Node {
        let body = format!("body of {key}");
        let id = ChunkId(repo.keys().blob_id(body.as_bytes()));
        w.add_if_new(BlobKind::Data, id.into(), body.as_bytes())
            .unwrap();
        let path = key_to_path(key);
        let m = ObjectMeta {
            key: key.to_string(),
            etag: "\"e\"".into(),
            ..Default::default()
        };
        Node {
            name: path.last().unwrap().clone(),
            kind: NodeKind::File {
                size: body.len() as u64,
                content: vec![id],
            },
            meta: m.to_meta(&join_path(&path)),
        }
    }

    #[test]
    fn keys_that_are_no_path_are_refused_on_a_restore_to_a_directory() {
        let env = Env::uninit();
        let repo = env.library_repo();
        let w = BlobWriter::new(&repo);
        let leading = tree(&w, &repo, vec![object(&w, &repo, "/leading")]);
        let dotdot = tree(&w, &repo, vec![object(&w, &repo, "../escape")]);
        let empty = tree(&w, &repo, vec![object(&w, &repo, "a//b")]);
        let a = tree(&w, &repo, vec![dir(b"%", empty)]);
        let root_nodes = vec![
            dir(b"%", leading),
            dir(b"%..", dotdot),
            dir(b"a", a),
            object(&w, &repo, "ok.txt"),
            object(&w, &repo, "%odd"),
        ];
        let root = tree(&w, &repo, root_nodes);
        w.finish().unwrap();
        let (time, off) = cairn::time::now();
        repo.save_snapshot(&Snapshot {
            time,
            utc_offset_secs: off,
            host: "h".into(),
            username: "u".into(),
            tags: vec![],
            paths: vec!["s3:http://127.0.0.1:9/bucket".into()],
            excludes: vec![],
            parent: None,
            tree: root,
            original: None,
            program: "test".into(),
            summary: Summary::default(),
        })
        .unwrap();
        drop(repo);
        let t = env.path("deep/target");
        let out = env.run(&["restore", "latest", "--target", t.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        for key in ["\"/leading\"", "\"../escape\"", "\"a//b\""] {
            assert!(stderr.contains(key), "{key} not reported: {stderr}");
        }
        let mut got: Vec<String> = files_under(&env.path("deep"))
            .iter()
            .map(|p| p.strip_prefix(&t).unwrap().to_string_lossy().into_owned())
            .collect();
        got.sort();
        assert_eq!(
            got,
            ["%%25odd", "ok.txt"],
            "the rest is restored, nothing else"
        );
        assert_eq!(std::fs::read(t.join("ok.txt")).unwrap(), b"body of ok.txt");

        // Into a bucket under a prefix: `copy/` + `../escape` would be
        // resolved to `escape` at the bucket's root by a store that
        // normalises paths, so it is refused and reported too.
        let b = crate::bucket_util::TestBucket::new("restore-dots");
        let mut cmd = env.cmd(&["restore", "latest", "--target", &b.location("copy")]);
        b.with_keys(&mut cmd);
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert!(stderr.contains("\"../escape\""), "not reported: {stderr}");
        let keys = b.keys();
        assert!(keys.contains(&"copy/ok.txt".to_string()), "{keys:?}");
        assert!(keys.iter().all(|k| k.starts_with("copy/")), "{keys:?}");
    }
}
