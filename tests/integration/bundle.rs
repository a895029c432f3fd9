//! `cairn export` / `cairn import`: bundles move snapshots between
//! repositories byte-exact, deduplicate, and are verified before anything
//! is recorded.

use std::path::Path;
use std::process::Output;

use crate::util::*;

const BUNDLE_PASSWORD: &str = "bundle secret";

fn with_bundle_pw(env: &Env, args: &[&str]) -> Output {
    env.cmd(args)
        .env("CAIRN_BUNDLE_PASSWORD", BUNDLE_PASSWORD)
        .output()
        .expect("run cairn")
}

fn ok(env: &Env, args: &[&str]) -> serde_json::Value {
    let out = with_bundle_pw(env, args);
    assert!(
        out.status.success(),
        "cairn {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    last_json(&out)
}

fn export(env: &Env, to: &Path, snaps: &[&str]) -> serde_json::Value {
    let mut args = vec!["--json", "export", "--to", to.to_str().unwrap()];
    args.extend_from_slice(&[
        "--kdf-memory-mib",
        "1",
        "--kdf-iterations",
        "1",
        "--insecure-kdf",
    ]);
    args.extend_from_slice(snaps);
    ok(env, &args)
}

/// Every object in a repository, for "nothing was recorded" checks.
/// The repository's data objects (the maintenance lock, which an import
/// takes and releases, left out).
fn objects(env: &Env) -> Vec<std::path::PathBuf> {
    let locks = env.repo.join("locks");
    let mut v: Vec<_> = files_under(&env.repo)
        .into_iter()
        .filter(|p| !p.starts_with(&locks))
        .collect();
    v.sort();
    v
}

#[test]
fn export_import_restore_and_dedup() {
    let src_env = Env::new();
    let src = src_env.path("src");
    make_rich_tree(&src);
    src_env.backup(&[&src], &["--tag", "one"]);
    write(&src.join("added-later.txt"), b"second snapshot only\n");
    src_env.backup(&[&src], &[]);
    let bundle = src_env.path("two.cairn");
    let first = src_env.json(&["snapshots"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let e = export(&src_env, &bundle, &[&first, "latest"]);
    assert_eq!(e["snapshots"], 2);
    assert!(!src_env.path("two.cairn.partial").exists());

    // Into a fresh repository with its own keys: ids are recomputed.
    let dst = Env::new();
    let i = ok(&dst, &["--json", "import", bundle.to_str().unwrap()]);
    assert_eq!(i["snapshots_added"], 2);
    assert_eq!(i["ids_rewritten"], true);
    assert_eq!(i["blobs_known"], 0);
    let snaps = dst.json(&["snapshots"]);
    assert_eq!(snaps.as_array().unwrap().len(), 2);
    assert_eq!(snaps[0]["tags"][0], "one");
    let target = dst.path("restored");
    dst.restore_verified(&target);
    assert_same_tree(&src, &restored(&target, &src));
    dst.ok(&["check", "--read-data"]);

    // Again into the same place: everything is already there.
    let before = objects(&dst);
    let i = ok(&dst, &["--json", "import", bundle.to_str().unwrap()]);
    assert_eq!(i["snapshots_added"], 0);
    assert_eq!(i["snapshots_present"], 2);
    assert_eq!(i["write"]["blobs_added"], 0);
    assert_eq!(objects(&dst), before);

    // Into the repository it came from: same ids, all deduplicated.
    let before = objects(&src_env);
    let i = ok(&src_env, &["--json", "import", bundle.to_str().unwrap()]);
    assert_eq!(i["ids_rewritten"], false);
    assert_eq!(i["snapshots_present"], 2);
    assert_eq!(i["write"]["blobs_added"], 0);
    assert_eq!(
        i["blobs_known"].as_u64().unwrap(),
        e["data_blobs"].as_u64().unwrap() + e["tree_blobs"].as_u64().unwrap()
    );
    assert_eq!(objects(&src_env), before);
}

#[test]
fn damaged_bundle_or_wrong_password_records_nothing() {
    let src_env = Env::new();
    let src = src_env.path("src");
    write(&src.join("a.txt"), &text_bytes(1, 200_000));
    write(&src.join("b.bin"), &random_bytes(2, 300_000));
    src_env.backup(&[&src], &[]);
    let bundle = src_env.path("b.cairn");
    export(&src_env, &bundle, &["latest"]);
    let good = std::fs::read(&bundle).unwrap();

    let dst = Env::new();
    let before = objects(&dst);
    let len = good.len();
    // Header, first blob, middle blob, the manifest, the trailer.
    for at in [20, 60, len / 2, len - 40, len - 3] {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        let path = dst.path("bad.cairn");
        std::fs::write(&path, &bad).unwrap();
        let out = with_bundle_pw(&dst, &["import", path.to_str().unwrap()]);
        assert!(!out.status.success(), "flip at {at} of {len} was accepted");
        assert_eq!(objects(&dst), before, "flip at {at} recorded something");
    }
    // Truncated.
    let path = dst.path("short.cairn");
    std::fs::write(&path, &good[..len - 100]).unwrap();
    assert!(!with_bundle_pw(&dst, &["import", path.to_str().unwrap()])
        .status
        .success());
    // Wrong password.
    let out = dst
        .cmd(&["import", bundle.to_str().unwrap()])
        .env("CAIRN_BUNDLE_PASSWORD", "not it")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(12),
        "a wrong password is not damage"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("wrong bundle password"), "{err}");
    assert!(
        err.contains(bundle.to_str().unwrap()),
        "names the bundle: {err}"
    );
    assert_eq!(objects(&dst), before);
    // No password at all is a usage error.
    let out = dst.run(&["import", bundle.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    // The good bundle still imports.
    ok(&dst, &["import", bundle.to_str().unwrap()]);
    assert_eq!(dst.json(&["snapshots"]).as_array().unwrap().len(), 1);
}

#[test]
fn a_file_that_is_not_a_bundle_is_a_usage_error() {
    let env = Env::new();
    let before = objects(&env);
    for (name, bytes) in [
        (
            "text.txt",
            &b"just some text, long enough to have a header\n"[..],
        ),
        ("tiny", &b"CAIRN"[..]),
        ("empty", &b""[..]),
    ] {
        let path = env.path(name);
        std::fs::write(&path, bytes).unwrap();
        let out = with_bundle_pw(&env, &["import", path.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains("not a cairn bundle"), "{name}: {err}");
        assert!(err.contains(path.to_str().unwrap()), "{name}: {err}");
    }
    assert_eq!(objects(&env), before);
}

#[test]
fn export_refuses_to_replace_a_file_without_force() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a.txt"), b"exported\n");
    env.backup(&[&src], &[]);
    let to = env.path("exists.cairn");
    std::fs::write(&to, b"precious").unwrap();
    let mut args = vec!["export", "--to", to.to_str().unwrap(), "latest"];
    args.extend_from_slice(&[
        "--kdf-memory-mib",
        "1",
        "--kdf-iterations",
        "1",
        "--insecure-kdf",
    ]);
    let out = with_bundle_pw(&env, &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(&to).unwrap(), b"precious");
    args.push("--force");
    ok(&env, &args);
    assert!(std::fs::read(&to).unwrap().starts_with(b"CAIRNBDL"));
}

#[test]
fn export_refuses_a_weak_bundle_kdf_without_insecure_kdf() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a.txt"), b"exported\n");
    env.backup(&[&src], &[]);
    let to = env.path("weak.cairn");
    let args = [
        "export",
        "--to",
        to.to_str().unwrap(),
        "--kdf-memory-mib",
        "1",
        "latest",
    ];
    let out = with_bundle_pw(&env, &args);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--insecure-kdf"));
    assert!(!to.exists());
}
