//! Location parsing offline; the backend itself against a live server when
//! `CAIRN_TEST_S3` names one (scripts/test starts SeaweedFS for this).

use std::collections::HashMap;

use super::config::{Secrets, Service};
use super::*;
use crate::storage::{conformance, StorageErrorKind};

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

fn parse(s: &str) -> Result<S3Location, String> {
    S3Location::parse(
        s,
        &env_of(&[("R2_ACCOUNT_ID", "acc1"), ("R2_BUCKET", "envbucket")]),
    )
}

#[test]
fn parses_every_location_form() {
    let l = parse("s3:https://s3.example.com:9000/bkt/some/prefix/").unwrap();
    assert_eq!(
        l.service,
        Service::Endpoint("https://s3.example.com:9000".into())
    );
    assert_eq!(
        (l.bucket.as_str(), l.prefix.as_str()),
        ("bkt", "some/prefix/")
    );
    assert_eq!(
        l.to_string(),
        "s3:https://s3.example.com:9000/bkt/some/prefix"
    );

    let l = parse("s3:http://127.0.0.1:8333/b").unwrap();
    assert_eq!((l.bucket.as_str(), l.prefix.as_str()), ("b", ""));
    assert!(
        l.path_style(&S3Options::default()),
        "IP endpoints use path style"
    );

    let l = parse("s3:my-bucket/backups").unwrap();
    assert_eq!(l.service, Service::Aws);
    assert_eq!(l.endpoint(), None);
    assert_eq!(l.prefix, "backups/");
    assert!(!l.path_style(&S3Options::default()));

    let l = parse("r2:0123abcd/bkt/p").unwrap();
    assert_eq!(
        l.service,
        Service::R2 {
            account: "0123abcd".into()
        }
    );
    assert_eq!(
        l.endpoint().unwrap(),
        "https://0123abcd.r2.cloudflarestorage.com"
    );
    assert_eq!(
        l.region(
            &S3Options::default(),
            &env_of(&[("AWS_REGION", "eu-west-1")])
        ),
        "auto"
    );
    assert_eq!(l.prefix, "p/");

    let l = parse("r2:").unwrap();
    assert_eq!((l.bucket.as_str(), l.prefix.as_str()), ("envbucket", ""));
    assert_eq!(
        l.service,
        Service::R2 {
            account: "acc1".into()
        }
    );
    let l = parse("r2:/host1/daily").unwrap();
    assert_eq!(
        (l.bucket.as_str(), l.prefix.as_str()),
        ("envbucket", "host1/daily/")
    );
}

#[test]
fn rejects_bad_locations_with_reasons() {
    for bad in [
        "s3:",
        "s3:https://",
        "s3:https://host",
        "s3:ftp://host/b",
        "s3:b/a//c",
        "s3:b/../c",
        "s3:bad bucket/x",
        "r2:onlyaccount",
        "r2:bad.account/b",
        "s3:https://user@host/b",
    ] {
        assert!(parse(bad).is_err(), "{bad} parsed");
    }
    let no_env = env_of(&[]);
    let err = S3Location::parse("r2:", &no_env).unwrap_err();
    assert!(err.contains("R2_ACCOUNT_ID"), "{err}");
}

#[test]
fn region_and_path_style_follow_options_then_env() {
    let l = parse("s3:https://minio.lan:9000/b").unwrap();
    let opts = S3Options {
        region: Some("eu-central-1".into()),
        path_style: Some(true),
        ..S3Options::default()
    };
    assert_eq!(
        l.region(&opts, &env_of(&[("AWS_REGION", "x")])),
        "eu-central-1"
    );
    assert!(l.path_style(&opts));
    assert!(
        !l.path_style(&S3Options::default()),
        "DNS endpoints default to virtual hosts"
    );
    let d = S3Options::default();
    assert_eq!(
        l.region(&d, &env_of(&[("AWS_DEFAULT_REGION", "ap-south-1")])),
        "ap-south-1"
    );
    assert_eq!(l.region(&d, &env_of(&[])), "us-east-1");
    assert!(parse("s3:http://localhost:1/b").unwrap().path_style(&d));
    assert!(parse("s3:http://[::1]:9/b").unwrap().path_style(&d));
}

#[test]
fn credentials_prefer_r2_variables_for_r2_and_never_debug_print() {
    let env = env_of(&[
        ("AWS_ACCESS_KEY_ID", "aws-id"),
        ("AWS_SECRET_ACCESS_KEY", "aws-secret-value"),
        ("R2_ACCESS_KEY_ID", "r2-id"),
        ("R2_SECRET_ACCESS_KEY", "r2-secret-value"),
    ]);
    let r2 = parse("r2:acc/b").unwrap();
    let s = Secrets::from_env(&r2, &env).unwrap();
    assert_eq!(s.access_key_id, "r2-id");
    let aws = parse("s3:b").unwrap();
    let s = Secrets::from_env(&aws, &env).unwrap();
    assert_eq!(s.access_key_id, "aws-id");
    assert!(!format!("{s:?}").contains("secret-value"));
    assert_eq!(s.scrub("x aws-secret-value y"), "x [redacted] y");
    let err = Secrets::from_env(&aws, &env_of(&[])).unwrap_err();
    assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
}

/// The live server, or `None` after saying loudly that the test is skipped.
pub(crate) fn live_endpoint(test: &str) -> Option<String> {
    match std::env::var("CAIRN_TEST_S3") {
        Ok(e) if !e.is_empty() => Some(e),
        _ => {
            eprintln!("SKIPPED: no S3 server (CAIRN_TEST_S3 unset): {test}");
            None
        }
    }
}

fn unique(name: &str) -> String {
    format!("cairn-{name}-{:016x}", rand::random::<u64>())
}

/// A fresh prefix in one shared bucket (SeaweedFS gives every bucket its
/// own volumes, so tests do not make a bucket each).
fn open_live(endpoint: &str, prefix: &str, opts: &S3Options) -> S3Storage {
    S3Storage::open(&format!("s3:{endpoint}/cairn-unit/{prefix}"), opts, true)
        .unwrap_or_else(|e| panic!("open {endpoint}/cairn-unit/{prefix}: {e}"))
}

#[test]
fn live_conformance() {
    let Some(endpoint) = live_endpoint("live_conformance") else {
        return;
    };
    let s = open_live(&endpoint, &unique("conf"), &S3Options::default());
    conformance::run_all(&s);
}

#[test]
fn payload_signing_defaults_to_plain_http_only() {
    let d = S3Options::default();
    assert!(parse("s3:http://127.0.0.1:8333/b")
        .unwrap()
        .sign_payload(&d));
    assert!(!parse("s3:https://minio.lan/b").unwrap().sign_payload(&d));
    assert!(!parse("s3:my-bucket").unwrap().sign_payload(&d));
    assert!(!parse("r2:0123abcd/bkt").unwrap().sign_payload(&d));
    let forced = S3Options {
        sign_payload: Some(true),
        ..S3Options::default()
    };
    assert!(parse("r2:0123abcd/bkt").unwrap().sign_payload(&forced));
}

/// Unsigned bodies (the default over TLS), PUTs and parts, on the live server.
#[test]
fn live_conformance_with_multipart_uploads_and_unsigned_bodies() {
    let Some(endpoint) = live_endpoint("live_conformance_with_multipart_uploads") else {
        return;
    };
    let opts = S3Options {
        multipart_threshold: 6 << 20,
        part_size: 5 << 20,
        connections: 3,
        sign_payload: Some(false),
        ..S3Options::default()
    };
    let s = open_live(&endpoint, &unique("multi"), &opts);
    conformance::large_object(&s);
    conformance::staged(&s);
    // A staged pack larger than the threshold, committed in the background.
    let data = conformance::test_data(9, 13 << 20);
    let mut st = s.stage().unwrap();
    st.write(&data).unwrap();
    let before = s.wire().snapshot();
    st.commit_background("packs/big").unwrap().wait().unwrap();
    // Create, three 5 MiB parts, complete: five class A requests.
    let after = s.wire().snapshot();
    assert_eq!(after.class_a - before.class_a, 5, "{before:?} {after:?}");
    assert!(s.get("packs/big").unwrap() == data.as_ref());
}

#[test]
fn live_missing_bucket_and_bad_credentials_fail_fast_and_clearly() {
    let Some(endpoint) = live_endpoint("live_missing_bucket_and_bad_credentials") else {
        return;
    };
    let bucket = unique("nobucket");
    let s = S3Storage::open(
        &format!("s3:{endpoint}/{bucket}"),
        &S3Options::default(),
        false,
    )
    .unwrap();
    assert!(!s.bucket_exists().unwrap());
    let err = s.get("config").unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Permanent, "{err}");
    assert!(err.message.contains("does not exist"), "{err}");

    let real = std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_default();
    let secret = "wrong-secret-do-not-print-4711";
    let env = env_of(&[
        ("AWS_ACCESS_KEY_ID", &real),
        ("AWS_SECRET_ACCESS_KEY", secret),
    ]);
    let s = S3Storage::open_with_env(
        &format!("s3:{endpoint}/{bucket}"),
        &S3Options::default(),
        false,
        &env,
    )
    .unwrap();
    let err = s.list("").unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Permanent, "{err}");
    assert!(err.message.contains("credentials"), "{err}");
    assert!(!err.to_string().contains(secret), "{err}");
    assert!(!format!("{err:?}").contains(secret));
}
