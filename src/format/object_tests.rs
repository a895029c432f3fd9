use super::*;
use crate::format::tree::{is_safe_name, NodeKind};

fn sample() -> ObjectMeta {
    ObjectMeta {
        key: "photos/a b.jpg".into(),
        etag: "\"0123abcd-2\"".into(),
        last_modified: Timestamp {
            secs: 1_700_000_000,
            nanos: 0,
        },
        content_type: Some("image/jpeg".into()),
        cache_control: Some("max-age=60".into()),
        user: [("owner".to_string(), "ann".to_string())].into(),
        ..Default::default()
    }
}

#[test]
fn xattr_encoding_is_golden() {
    let m = sample();
    let xattrs = m.to_xattrs(b"photos/a b.jpg");
    let pairs: Vec<(String, String)> = xattrs
        .iter()
        .map(|x| {
            (
                String::from_utf8(x.name.clone()).unwrap(),
                String::from_utf8(x.value.clone()).unwrap(),
            )
        })
        .collect();
    let want = [
        ("cairn.s3.cache-control", "max-age=60"),
        ("cairn.s3.content-type", "image/jpeg"),
        ("cairn.s3.etag", "\"0123abcd-2\""),
        ("cairn.s3.meta.owner", "ann"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(pairs, want, "sorted, no key xattr when the path spells it");
    // The key is kept when the path does not spell it.
    let escaped = m.to_xattrs(b"photos/%a b.jpg");
    assert!(escaped
        .iter()
        .any(|x| x.name == b"cairn.s3.key" && x.value == b"photos/a b.jpg"));
}

#[test]
fn metadata_round_trips_through_a_node() {
    let m = sample();
    for path in [&b"photos/a b.jpg"[..], b"%/x%"] {
        let node = Node {
            name: b"x".to_vec(),
            kind: NodeKind::File {
                size: 3,
                content: vec![],
            },
            meta: m.to_meta(path),
        };
        assert!(is_object(&node));
        assert_eq!(node.meta.mode, OBJECT_MODE);
        assert_eq!(node.meta.ctime, m.last_modified);
        assert_eq!(ObjectMeta::from_node(path, &node), Some(m.clone()));
    }
    let plain = Node {
        name: b"x".to_vec(),
        kind: NodeKind::File {
            size: 0,
            content: vec![],
        },
        meta: Meta::default(),
    };
    assert!(!is_object(&plain));
    assert_eq!(ObjectMeta::from_node(b"x", &plain), None);
}

#[test]
fn escaping_is_golden_and_safe() {
    let cases: [(&str, &[u8]); 8] = [
        ("plain", b"plain"),
        ("", b"%"),
        (".", b"%."),
        ("..", b"%.."),
        ("%41", b"%%2541"),
        ("a%", b"a%"),
        ("nul\0x", b"%nul%00x"),
        ("ünï cødé +", "ünï cødé +".as_bytes()),
    ];
    for (seg, want) in cases {
        let got = segment_name(seg);
        assert_eq!(got, want, "{seg:?}");
        assert!(is_safe_name(&got), "{seg:?}");
    }
    assert_eq!(beside_dir_name("a"), b"%a%");
    assert_eq!(beside_dir_name(""), b"%%");
    assert_eq!(beside_dir_name("%x"), b"%%25x%");
    assert_eq!(
        key_to_path("/a//b/"),
        vec![
            b"%".to_vec(),
            b"a".to_vec(),
            b"%".to_vec(),
            b"b".to_vec(),
            b"%".to_vec(),
        ]
    );
}

#[test]
fn tree_paths_are_unique_and_rename_objects_beside_directories() {
    let keys = [
        "a", "a/b", "a/", "a//c", "%a%", "%a", "x/../y", "x/./y", "x/y", "/lead", "lead", "..",
        ".", "", "%", "%%", "%25",
    ];
    let paths = tree_paths(keys.iter().copied());
    let by_key: std::collections::HashMap<&str, Vec<Vec<u8>>> = paths.iter().cloned().collect();
    assert_eq!(by_key["a"], vec![b"%a%".to_vec()]);
    // The folder marker "a/" is beside the directory of "a//c".
    assert_eq!(by_key["a/"], vec![b"a".to_vec(), b"%%".to_vec()]);
    assert_eq!(
        by_key["a//c"],
        vec![b"a".to_vec(), b"%".to_vec(), b"c".to_vec()]
    );
    // "" (an object at the prefix itself) is "%", and so is the directory
    // of "/lead": the object moves aside.
    assert_eq!(by_key[""], vec![b"%%".to_vec()]);
    let mut seen = std::collections::HashSet::new();
    for (key, path) in &paths {
        assert!(path.iter().all(|n| is_safe_name(n)), "{key:?}");
        assert!(seen.insert(path.clone()), "two keys share {path:?}");
    }
    // No object's path is a directory of another's.
    for (_, p) in &paths {
        for (_, q) in &paths {
            assert!(
                !(q.len() > p.len() && q.starts_with(p)),
                "{p:?} inside {q:?}"
            );
        }
    }
}
