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
