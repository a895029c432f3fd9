//! An Object Lock repository through the append-only proxy, on a real
//! SeaweedFS bucket with Object Lock: `init --object-lock` and a backup
//! through `rest:` store every immutable object with its retention (read
//! back with the S3 API), and an `append` token's DELETE is refused. (A
//! `full` token's plain DELETE on a versioned Object Lock bucket is not
//! refused by S3: it adds a delete marker and the retained version stays
//! until its retention ends; see docs/rest-protocol.md.)

use crate::object_lock::{create_lock_bucket, env_at, fresh_bucket, s3};
use crate::repo_proxy::{ok_json, Proxy, APPEND, FULL};
use crate::util::*;

#[test]
fn object_lock_through_the_proxy_retains_what_clients_store() {
    let Some(endpoint) = s3("object_lock_through_the_proxy_retains_what_clients_store") else {
        return;
    };
    let bucket = fresh_bucket("proxylock");
    create_lock_bucket(&endpoint, &bucket);
    let env = env_at(format!("s3:{endpoint}/{bucket}/repo"));
    let proxy = Proxy::start(&env);
    ok_json(&env, &proxy, FULL, &init_args(&["--object-lock", "2"]));
    let src = env.path("src");
    write(&src.join("a.bin"), &random_bytes(3, 400_000));
    ok_json(&env, &proxy, APPEND, &["backup", src.to_str().unwrap()]);

    let storage = env.storage();
    let now = cairn::time::now().0.secs;
    let objects = env.objects("");
    assert!(objects.iter().any(|(k, _)| k.starts_with("packs/")));
    for (key, _) in &objects {
        let until = storage.retention(key).unwrap();
        let until = until.unwrap_or_else(|| panic!("{key} has no retention"));
        assert!(
            (now + 86_400..=now + 3 * 86_400).contains(&until),
            "{key}: {until}"
        );
    }
    let pack = objects
        .iter()
        .map(|(k, _)| k)
        .find(|k| k.starts_with("packs/"))
        .unwrap();
    let path = format!("o/{pack}");
    let (status, _) = proxy.call("DELETE", &path, Some(APPEND), b"").unwrap();
    assert_eq!(status, 403, "an append token never deletes");
    assert!(storage.retention(pack).unwrap().is_some());
    let out = env.run(&["check", "--read-data"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{stderr}\nproxy log:\n{}",
        proxy.log()
    );
}
