//! Restoring into a bucket (issue 16) on the test S3 server: keys and
//! metadata, selection, overwrite protection, `--verify`, the target's
//! credentials. Directory snapshots here; bucket snapshots (round trip
//! bucket → repository → bucket) in `bucket_roundtrip.rs`.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::bucket_util::*;
use crate::util::*;

/// `cairn restore SPEC --target LOCATION ARGS…` with the target's keys.
pub fn restore_into(env: &Env, b: &TestBucket, spec: &str, target: &str, args: &[&str]) -> Output {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    restore_text(env, b, spec, target, &all)
}

/// [`restore_into`] without `--json`: problems on stderr as text.
pub fn restore_text(env: &Env, b: &TestBucket, spec: &str, target: &str, args: &[&str]) -> Output {
    let mut all = vec!["restore", spec, "--target", target];
    all.extend_from_slice(args);
    let mut cmd = env.cmd(&all);
    b.with_keys(&mut cmd);
    cmd.output().expect("run cairn")
}

fn summary(out: &Output) -> Value {
    last_json(out)
}

fn tree(env: &Env) -> std::path::PathBuf {
    let src = env.path("src");
    write(&src.join("docs/a.txt"), b"a text");
    write(&src.join("docs/b.md"), b"b markdown");
    write(&src.join("images/p.jpg"), &random_bytes(1, 3000));
    write(&src.join("images/2024/q.jpg"), &random_bytes(2, 5000));
    write(&src.join("thumbs/t.jpg"), b"thumb");
    write(&src.join("empty"), b"");
    src
}

fn spec(src: &Path) -> String {
    format!("latest:{}", src.display())
}

#[test]
fn directory_snapshot_into_a_bucket_with_filters() {
    let env = Env::new();
    let src = tree(&env);
    env.backup(&[&src], &[]);
    let b = TestBucket::new("restore-filters");

    // Everything, below a prefix of the target: keys are the paths below SNAP:path.
    let out = restore_into(&env, &b, &spec(&src), &b.location("all"), &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = summary(&out);
    assert_eq!(s["objects_uploaded"], 6, "{s}");
    assert_eq!(s["objects_skipped"], 0);
    assert_eq!(
        b.keys(),
        [
            "all/docs/a.txt",
            "all/docs/b.md",
            "all/empty",
            "all/images/2024/q.jpg",
            "all/images/p.jpg",
            "all/thumbs/t.jpg"
        ]
    );
    assert_eq!(
        b.get("all/images/2024/q.jpg").unwrap().body,
        random_bytes(2, 5000)
    );
    assert_eq!(b.get("all/empty").unwrap().body, b"");

    // --include by extension, and a prefix from the snapshot path.
    let out = restore_into(
        &env,
        &b,
        &format!("{}/images", spec(&src)),
        &b.location("img"),
        &["--include", "*.jpg"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img: Vec<String> = b
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("img/"))
        .collect();
    assert_eq!(img, ["img/2024/q.jpg", "img/p.jpg"]);

    // --exclude wins; the root of the bucket as target.
    let out = restore_into(
        &env,
        &b,
        &spec(&src),
        &b.location(""),
        &["--include", "*.jpg", "--exclude", "thumbs"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root: Vec<String> = b
        .keys()
        .into_iter()
        .filter(|k| !k.starts_with("all/") && !k.starts_with("img/"))
        .collect();
    assert_eq!(root, ["images/2024/q.jpg", "images/p.jpg"]);
}

#[test]
fn existing_objects_are_never_replaced_by_default() {
    let env = Env::new();
    let src = tree(&env);
    env.backup(&[&src], &[]);
    let b = TestBucket::new("restore-protect");
    let theirs = b.put("t/docs/a.txt", b"someone else's bytes");

    // A dry run says what would happen and writes nothing.
    let out = restore_into(&env, &b, &spec(&src), &b.location("t"), &["--dry-run"]);
    let s = summary(&out);
    assert_eq!(
        (
            s["objects_skipped"].as_u64(),
            s["objects_uploaded"].as_u64()
        ),
        (Some(1), Some(5)),
        "{s}"
    );
    assert_eq!(s["dry_run"], true);
    assert_eq!(b.keys().len(), 1, "a dry run wrote");

    let out = restore_into(&env, &b, &spec(&src), &b.location("t"), &[]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "a kept object makes it incomplete"
    );
    let s = summary(&out);
    assert_eq!(s["objects_skipped"], 1, "{s}");
    assert_eq!(s["skipped"], serde_json::json!(["docs/a.txt"]));
    assert_eq!(s["objects_uploaded"], 5);
    assert_eq!(s["create_only_writes"], true);
    let kept = b.get("t/docs/a.txt").unwrap();
    assert_eq!(kept.body, b"someone else's bytes");
    assert_eq!(kept.etag, theirs);

    // A second run changes nothing: every object is there already, and
    // each is named.
    let out = restore_text(&env, &b, &spec(&src), &b.location("t"), &[]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not overwritten (exists; use --overwrite): docs/a.txt"),
        "{stderr}"
    );
    assert!(
        stderr.contains("not overwritten (exists; use --overwrite): images/p.jpg"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("0 objects uploaded (0 B), 6 left as they were"),
        "{stdout}"
    );
    assert_eq!(b.get("t/docs/a.txt").unwrap().body, b"someone else's bytes");

    // if-changed replaces only what differs.
    let out = restore_into(
        &env,
        &b,
        &spec(&src),
        &b.location("t"),
        &["--overwrite", "if-changed"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = summary(&out);
    assert_eq!(s["objects_uploaded"], 1, "{s}");
    assert_eq!(s["objects_unchanged"], 5, "{s}");
    assert_eq!(b.get("t/docs/a.txt").unwrap().body, b"a text");

    // always rewrites everything.
    let out = restore_into(
        &env,
        &b,
        &spec(&src),
        &b.location("t"),
        &["--overwrite", "always"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(summary(&out)["objects_uploaded"], 6);
}

#[test]
fn verify_catches_an_object_changed_behind_the_restore() {
    let env = Env::new();
    let src = tree(&env);
    env.backup(&[&src], &[]);
    let b = TestBucket::new("restore-verify");
    let out = restore_into(&env, &b, &spec(&src), &b.location("v"), &["--verify"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = summary(&out);
    assert_eq!(s["verified"], true);
    assert_eq!(s["objects_verified"], 6, "{s}");

    // Someone replaces one object with other bytes of the same size; a
    // verify of the restored bucket (the objects exist, so none is
    // written) names exactly that key.
    let mut other = random_bytes(2, 5000);
    other[4000] ^= 1;
    b.put("v/images/2024/q.jpg", &other);
    let out = restore_into(&env, &b, &spec(&src), &b.location("v"), &["--verify"]);
    assert_eq!(out.status.code(), Some(3));
    let s = summary(&out);
    assert_eq!(s["objects_uploaded"], 0, "{s}");
    let failures = s["verify_failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{s}");
    assert_eq!(failures[0]["key"], "images/2024/q.jpg");
    let out = restore_text(&env, &b, &spec(&src), &b.location("v"), &["--verify"]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("verify failed: images/2024/q.jpg"),
        "{stderr}"
    );
}

#[test]
fn refused_target_credentials_name_the_target() {
    let env = Env::new();
    let src = tree(&env);
    env.backup(&[&src], &[]);
    let b = TestBucket::new("restore-creds");
    let target = b.location("x");
    let args = ["restore", "latest", "--target", &target];
    let out = env
        .cmd(&args)
        .env("CAIRN_TARGET_ACCESS_KEY_ID", "nobody")
        .env("CAIRN_TARGET_SECRET_ACCESS_KEY", "wrong-secret-value")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A storage failure (exit 1) that names the target bucket, the refusal
    // and the variables to check; never the secret.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("cairn: target bucket s3:"), "{stderr}");
    assert!(stderr.contains("HTTP 403 (access denied"), "{stderr}");
    assert!(
        stderr.contains("CAIRN_TARGET_SECRET_ACCESS_KEY"),
        "{stderr}"
    );
    assert!(stderr.contains(&b.name), "{stderr}");
    assert!(!stderr.contains("wrong-secret-value"), "{stderr}");
    assert!(b.keys().is_empty());
    // No keys at all: a usage error saying which variables to set.
    let out = env
        .cmd(&args)
        .env_remove("CAIRN_TARGET_ACCESS_KEY_ID")
        .env_remove("CAIRN_TARGET_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CAIRN_TARGET_ACCESS_KEY_ID"), "{stderr}");
    // Key files instead of the environment.
    let (id, secret) = server_keys();
    let (idf, secf) = (env.path("target-id"), env.path("target-secret"));
    std::fs::write(&idf, format!("{id}\n")).unwrap();
    std::fs::write(&secf, format!("{secret}\n")).unwrap();
    let spec = spec(&src);
    let out = env
        .cmd(&["restore", &spec, "--target", &target])
        .args(["--target-access-key-id-file", idf.to_str().unwrap()])
        .args(["--target-secret-access-key-file", secf.to_str().unwrap()])
        .env_remove("CAIRN_TARGET_ACCESS_KEY_ID")
        .env_remove("CAIRN_TARGET_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(b.keys().len(), 6);
}

/// An existing object over the single-PUT size is kept under the default
/// (`never`) and reported: the multipart path protects it too.
#[test]
fn an_existing_large_object_is_kept_by_default() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("big.bin"), &random_bytes(7, 17 * 1024 * 1024));
    env.backup(&[&src], &[]);
    let b = TestBucket::new("restore-big");
    let theirs = b.put("t/big.bin", b"someone else's large object");
    let out = restore_into(&env, &b, &spec(&src), &b.location("t"), &[]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = summary(&out);
    assert_eq!(s["skipped"], serde_json::json!(["big.bin"]), "{s}");
    assert_eq!(s["objects_uploaded"], 0, "{s}");
    let kept = b.get("t/big.bin").unwrap();
    assert_eq!(kept.body, b"someone else's large object");
    assert_eq!(kept.etag, theirs);
}

/// A create-only CompleteMultipartUpload keeps an object created while the
/// parts were sent (the race between a restore's HEAD and its complete).
#[test]
fn a_create_only_multipart_complete_keeps_an_object_created_meanwhile() {
    use cairn::storage::s3::{ObjectHeaders, PutOutcome, Role, S3Bucket, S3Options};
    let b = TestBucket::new("restore-race");
    let (id, secret) = b.keys.clone();
    let env = move |k: &str| match k {
        "CAIRN_TARGET_ACCESS_KEY_ID" => Some(id.clone()),
        "CAIRN_TARGET_SECRET_ACCESS_KEY" => Some(secret.clone()),
        _ => None,
    };
    let target =
        S3Bucket::open_with_env(&b.location("t"), Role::Target, &S3Options::default(), &env)
            .unwrap();
    let mut mp = target
        .block_on(target.start_multipart("k", &ObjectHeaders::default()))
        .unwrap();
    target
        .block_on(mp.part(&target, vec![1u8; 5 * 1024 * 1024].into()))
        .unwrap();
    let theirs = b.put("t/k", b"created after the HEAD");
    let out = target.block_on(mp.complete(&target, true)).unwrap();
    assert!(
        matches!(out, PutOutcome::Exists | PutOutcome::Unsupported),
        "{out:?}"
    );
    let kept = b.get("t/k").unwrap();
    assert_eq!(kept.body, b"created after the HEAD");
    assert_eq!(kept.etag, theirs);
}
