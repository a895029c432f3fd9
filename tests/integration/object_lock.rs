//! Issue 18, repositories a stolen client cannot destroy: Object Lock on a
//! real SeaweedFS (which implements it: versioned buckets, per-object
//! retention, versioned deletes refused), R2 bucket-lock rules, and the
//! flood warning of `forget`. The refusal of deletes before the retention
//! ends, with a moved clock, is `prune::locked_tests` (a real server's
//! clock cannot be moved).

use std::path::Path;

use crate::util::{init_args, last_json, Env};

/// The SeaweedFS endpoint, or `None` (the test is skipped, loudly).
pub fn s3(test: &str) -> Option<String> {
    match std::env::var("CAIRN_TEST_S3") {
        Ok(e) if !e.is_empty() => Some(e),
        _ => {
            eprintln!("SKIPPED: no S3 server (CAIRN_TEST_S3 unset): {test}");
            None
        }
    }
}

/// A bucket name no other test uses.
pub fn fresh_bucket(kind: &str) -> String {
    format!("cairn-{kind}-{:012x}", rand::random::<u64>() >> 16)
}

/// Creates `bucket` with Object Lock enabled, which cairn itself never does.
pub fn create_lock_bucket(endpoint: &str, bucket: &str) {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation};
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    let var = |n: &str| std::env::var(n).unwrap_or_else(|_| panic!("{n} unset"));
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let creds = Credentials::new(
        var("AWS_ACCESS_KEY_ID"),
        var("AWS_SECRET_ACCESS_KEY"),
        None,
        None,
        "test",
    );
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(creds)
        .http_client(http)
        .force_path_style(true)
        .endpoint_url(endpoint)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .build();
    let client = aws_sdk_s3::Client::from_conf(conf);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(
        client
            .create_bucket()
            .bucket(bucket)
            .object_lock_enabled_for_bucket(true)
            .send(),
    )
    .expect("create a bucket with Object Lock");
}

pub fn env_at(location: String) -> Env {
    let mut env = Env::uninit_local();
    env.location = location;
    env
}

#[test]
fn init_object_lock_on_a_bucket_without_lock_fails_clearly() {
    let Some(endpoint) = s3("init_object_lock_on_a_bucket_without_lock_fails_clearly") else {
        return;
    };
    let env = env_at(format!("s3:{endpoint}/{}/repo", fresh_bucket("nolock")));
    let out = env.run(&init_args(&["--object-lock", "1"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("has no Object Lock enabled"), "{stderr}");
    // Nothing was stored unprotected: no config, no key file.
    assert_eq!(env.objects(""), []);
}

#[test]
fn object_lock_retains_immutable_objects_and_forget_waits() {
    let Some(endpoint) = s3("object_lock_retains_immutable_objects_and_forget_waits") else {
        return;
    };
    let bucket = fresh_bucket("lock");
    create_lock_bucket(&endpoint, &bucket);
    let env = env_at(format!("s3:{endpoint}/{bucket}/repo"));
    env.ok(&init_args(&["--object-lock", "2"]));
    let src = env.path("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("a"), b"first").unwrap();
    env.backup(&[src.as_path()], &[]);
    std::fs::write(src.join("a"), b"second").unwrap();
    env.backup(&[src.as_path()], &[]);

    // Every immutable object has a retention date about two days out.
    let storage = env.storage();
    let now = cairn::time::now().0.secs;
    let objects = env.objects("");
    for (key, _) in &objects {
        let until = storage.retention(key).unwrap();
        let until = until.unwrap_or_else(|| panic!("{key} has no retention"));
        assert!(
            (now + 86_400..=now + 3 * 86_400).contains(&until),
            "{key}: {until}"
        );
    }
    assert!(objects.iter().any(|(k, _)| k.starts_with("packs/")));

    // forget cannot remove the older snapshot yet: it says so, no error.
    let v = env.json(&["forget", "--keep-last", "1"]);
    assert_eq!(v["removed"], 0, "{v}");
    assert_eq!(v["locked"].as_array().unwrap().len(), 1, "{v}");
    assert!(v["locked"][0]["locked_until_unix"].as_i64().unwrap() > now);
    assert_eq!(env.objects("snapshots/").len(), 2);
    let v = env.json(&["prune", "--grace", "0"]);
    assert_eq!(v["packs_deleted"], 0, "{v}");
    env.ok(&["check"]);

    // extend-lock: a dry run counts, a real run extends everything in use.
    let v = env.json(&["repo", "extend-lock", "--min-remaining", "5", "--dry-run"]);
    let checked = v["objects_checked"].as_u64().unwrap();
    assert!(checked >= 6, "{v}");
    assert_eq!(
        (v["objects_extended"].as_u64(), v["writes"].as_u64()),
        (Some(checked), Some(0))
    );
    let before = storage.retention("config").unwrap().unwrap();
    let v = env.json(&["repo", "extend-lock", "--min-remaining", "5"]);
    assert_eq!(v["writes"].as_u64(), Some(checked), "{v}");
    // Nothing left to extend with a small minimum.
    let v = env.json(&["repo", "extend-lock", "--min-remaining", "1"]);
    assert_eq!(v["objects_extended"], 0, "{v}");
    assert!(storage.retention("config").unwrap().unwrap() >= before);
    env.ok(&["check"]);
}

#[test]
fn lock_rules_print_and_check() {
    let env = Env::uninit_local();
    env.ok(&init_args(&["--lock-rules", "30"]));
    // The configured age comes from the repository.
    let out = env.ok(&["repo", "lock-rules"]);
    let rules: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = rules["rules"].as_array().unwrap();
    assert_eq!(list.len(), 7);
    assert!(list
        .iter()
        .all(|r| r["condition"]["maxAgeSeconds"] == 30 * 86_400));
    let file = env.path("rules.json");
    std::fs::write(&file, &out.stdout).unwrap();
    let v = env.json(&["repo", "lock-rules", "--check", file.to_str().unwrap()]);
    assert_eq!(v["ok"], true, "{v}");

    // Shorter rules warn; a rule over the whole bucket locks the lock
    // generations and markers too: an error, exit 1.
    let mut bad = rules.clone();
    bad["rules"][1]["condition"]["maxAgeSeconds"] = 86_400.into();
    bad["rules"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "id": "everything", "enabled": true, "prefix": "",
            "condition": {"type": "Age", "maxAgeSeconds": 60}
        }));
    std::fs::write(&file, bad.to_string()).unwrap();
    let out = env.run(&[
        "--json",
        "repo",
        "lock-rules",
        "--check",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v = last_json(&out);
    let findings = v["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["severity"] == "error" && f["prefix"] == "locks/"),
        "{v}"
    );
    assert!(
        findings
            .iter()
            .any(|f| f["severity"] == "warning" && f["prefix"] == "packs/"),
        "{v}"
    );
}

#[test]
fn forget_warns_of_a_flood_of_snapshots() {
    let env = Env::new_local();
    let src = env.path("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), b"data").unwrap();
    let backup_at = |secs_ago: i64| {
        let t = chrono::Utc::now() - chrono::Duration::seconds(secs_ago);
        env.backup(&[Path::new(&src)], &["--time", &t.to_rfc3339()]);
    };
    // Every other day for three weeks before the last week: usual.
    for d in 0..10 {
        backup_at((8 + 2 * d) * 86_400);
    }
    let v = env.json(&["forget", "--keep-last", "3", "--dry-run"]);
    assert_eq!(v["flood_warnings"], serde_json::json!([]), "{v}");
    // Then twelve in the last hour.
    for m in 0..12 {
        backup_at(m * 60);
    }
    let out = env.run(&["--json", "forget", "--keep-last", "3", "--dry-run"]);
    let v = last_json(&out);
    let w = v["flood_warnings"].as_array().unwrap();
    assert_eq!(w.len(), 1, "{v}");
    assert_eq!(
        (w[0]["window"].as_str(), w[0]["count"].as_u64()),
        (Some("day"), Some(12))
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--keep-within"), "{stderr}");
}
