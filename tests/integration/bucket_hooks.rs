//! A bucket backup lists its bucket while the repository opens, except
//! when a before-hook runs: the hook may change the bucket (flush a
//! service's uploads), so the listing must come after it. Needs the S3
//! server (bucket_util.rs) and curl (its SigV4 signing writes the object).

use crate::bucket_util::TestBucket;
use crate::util::*;

#[test]
fn bucket_listing_waits_for_the_before_hook() {
    let env = Env::new();
    let b = TestBucket::new("hook");
    b.put("before", b"there before the backup");
    // The hook uploads one more object with the source's keys (from the
    // environment cairn passes on, not from the command line it logs).
    let url = format!("{}/{}/written-by-hook", b.endpoint, b.name);
    let hook = format!(
        "echo 'from the hook' > \"$CAIRN_TEST_HOOK_FILE\" && curl -sf --aws-sigv4 aws:amz:us-east-1:s3 \
         --user \"$CAIRN_SOURCE_ACCESS_KEY_ID:$CAIRN_SOURCE_SECRET_ACCESS_KEY\" \
         -T \"$CAIRN_TEST_HOOK_FILE\" {url}"
    );
    let body = env.dir.path().join("hook-body");
    let location = b.location("");
    let mut cmd = env.cmd(&["--json", "backup", "--hook-before", &hook, &location]);
    let out = b
        .with_keys(&mut cmd)
        .env("CAIRN_TEST_HOOK_FILE", &body)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = last_json(&out);
    assert!(b.get("written-by-hook").is_some(), "the hook ran");
    assert_eq!(
        summary["files_new"], 2,
        "the object the hook wrote is in the snapshot: {summary}"
    );
    // Without a hook the listing overlaps the open; the result is the same.
    let out = b
        .with_keys(&mut env.cmd(&["--json", "backup", &location]))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(last_json(&out)["files_unchanged"], 2);
}
