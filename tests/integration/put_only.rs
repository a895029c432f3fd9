//! Put-only keys (format-spec/18-put-only.md): a client holding one backs
//! up, deduplicates and skips unchanged files from its own caches, and is
//! refused (exit 13) everything that reads or deletes; the full key opens
//! all it wrote.

use std::path::Path;
use std::process::Output;

use crate::util::*;

const PUT: &str = "put-only password";
const EXIT_PUT_ONLY: i32 = 13;

/// `cairn ARGS` with the put-only key's password.
fn put(env: &Env, args: &[&str]) -> Output {
    let mut c = env.cmd(args);
    c.env("CAIRN_PASSWORD", PUT);
    c.output().expect("run cairn")
}

fn put_json(env: &Env, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = put(env, &all);
    assert!(
        out.status.success(),
        "cairn {args:?} with the put-only key: {:?}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    last_json(&out)
}

fn put_backup(env: &Env, src: &Path) -> serde_json::Value {
    put_json(env, &["backup", src.to_str().unwrap()])
}

/// Adds a put-only key (opened with the full key) and returns its id.
fn add_put_only_key(env: &Env) -> String {
    let mut c = env.cmd(&[
        "--json",
        "key",
        "add",
        "--put-only",
        "--kdf-memory-mib",
        "1",
        "--kdf-iterations",
        "1",
        "--insecure-kdf",
    ]);
    c.env("CAIRN_NEW_PASSWORD", PUT);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = last_json(&out);
    assert_eq!(v["kind"], "put-only", "{v}");
    v["id"].as_str().unwrap().to_string()
}

fn make_source(src: &Path) {
    for i in 0..40u64 {
        write(
            &src.join(format!("d{}/t{i}.txt", i % 4)),
            &text_bytes(i, 3000 + i as usize * 50),
        );
    }
    write(&src.join("big.bin"), &random_bytes(7, 3 << 20));
}

#[test]
fn put_only_client_backs_up_twice_reads_nothing_and_the_full_key_restores() {
    let env = Env::new();
    let src = env.path("src");
    make_source(&src);
    let id = add_put_only_key(&env);
    let listed = env.json(&["key", "list"]);
    let kinds: Vec<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["id"].as_str().unwrap() == id, k["kind"].clone()))
        .collect();
    assert!(kinds.contains(&(true, "put-only".into())), "{listed}");
    assert!(kinds.contains(&(false, "full".into())), "{listed}");

    let first = put_backup(&env, &src);
    assert_eq!(first["files_new"], 41, "{first}");
    let packs = env.pack_count();
    assert!(packs > 0);
    // The second backup finds its parent in its own files cache: nothing
    // is read, nothing is stored but (perhaps) the ancestors' trees.
    let second = put_backup(&env, &src);
    assert_eq!(second["parent"], first["snapshot_id"], "{second}");
    assert_eq!(second["files_unchanged"], 41, "{second}");
    assert_eq!(second["bytes_read"], 0, "{second}");
    assert_eq!(second["data_blobs_added"], 0, "{second}");
    assert!(
        second["bytes_added"].as_u64().unwrap() < 64 * 1024,
        "{second}"
    );

    // Everything that reads or deletes: exit 13 with a clear message,
    // never a decryption error.
    let target = env.path("nope");
    let snap = first["snapshot_id"].as_str().unwrap();
    let dump_arg = format!("{snap}:{}/big.bin", src.display());
    let refused: &[&[&str]] = &[
        &["snapshots"],
        &["ls", "latest"],
        &["restore", "latest", "--target", target.to_str().unwrap()],
        &["dump", &dump_arg],
        &["cat", "snapshot", snap],
        &["cat", "config"],
        &["forget", "--keep-last", "1"],
        &["prune"],
        &["check"],
        &["find", "t1.txt"],
        &["stats"],
        &["key", "list"],
        &["backup", "--parent", snap, src.to_str().unwrap()],
    ];
    for args in refused {
        let out = put(&env, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(EXIT_PUT_ONLY), "{args:?}: {err}");
        assert!(err.contains("put-only"), "{args:?}: {err}");
        assert!(!err.contains("authentication"), "{args:?}: {err}");
    }
    assert!(!target.exists());

    // The full key opens both snapshots, byte-exact, and checks every byte.
    let snaps = env.json(&["snapshots"]);
    assert_eq!(snaps.as_array().unwrap().len(), 2, "{snaps}");
    for s in [&first, &second] {
        let to = env.path(&format!("r-{}", &s["snapshot_id"].as_str().unwrap()[..8]));
        env.ok(&[
            "restore",
            s["snapshot_id"].as_str().unwrap(),
            "--target",
            to.to_str().unwrap(),
        ]);
        assert_same_tree(&src, &restored(&to, &src));
    }
    env.ok(&["check", "--read-data"]);

    // A full-key backup reading everything deduplicates against them.
    let full = env.backup(&[&src], &["--force"]);
    assert_eq!(
        full["files_new"].as_u64().unwrap() + full["files_changed"].as_u64().unwrap(),
        41,
        "{full}"
    );
    assert_eq!(full["data_blobs_added"], 0, "{full}");

    // The full key forgets and prunes what the put-only key wrote; the
    // put-only client carries on, and everything still checks.
    env.ok(&["forget", "--keep-last", "1"]);
    env.ok(&["prune"]);
    put_backup(&env, &src);
    env.ok(&["check", "--read-data"]);
}

#[test]
fn put_only_client_stores_again_what_a_lost_pack_held() {
    let env = Env::new();
    let src = env.path("src");
    make_source(&src);
    add_put_only_key(&env);
    put_backup(&env, &src);
    // The repository loses every pack (a full-key prune, a disaster): the
    // client's caches still list their blobs, but must not trust them.
    let storage = env.storage();
    for (key, _) in env.objects("packs/") {
        storage.delete(&key).unwrap();
    }
    for (key, _) in env.objects("index/") {
        storage.delete(&key).unwrap();
    }
    for (key, _) in env.objects("snapshots/") {
        storage.delete(&key).unwrap();
    }
    let out = put(&env, &["--json", "backup", src.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Found before the backup relied on them, not by the check at its end
    // (which would read the whole source a second time).
    assert!(!stderr.contains("deleted while it ran"), "{stderr}");
    let again = last_json(&out);
    assert_eq!(again["files_unchanged"], 0, "{again}");
    assert!(again["data_blobs_added"].as_u64().unwrap() > 0, "{again}");
    env.ok(&["check", "--read-data"]);
    let to = env.path("restore");
    env.ok(&["restore", "latest", "--target", to.to_str().unwrap()]);
    assert_same_tree(&src, &restored(&to, &src));
}

/// W1 of format-spec/12-prune.md for a client that cannot read the
/// condemnation records: it learns them from `condemned/` and never
/// deduplicates against a condemned pack (a later prune may delete it
/// while such a backup runs).
#[test]
fn put_only_client_never_relies_on_a_condemned_pack() {
    let env = Env::new();
    let src = env.path("src");
    make_source(&src);
    add_put_only_key(&env);
    put_backup(&env, &src);
    // Its snapshot goes (as a full-key forget deletes it) and the full key
    // prunes: the client's packs are condemned, kept for the grace period.
    let storage = env.storage();
    for (key, _) in env.objects("snapshots/") {
        storage.delete(&key).unwrap();
    }
    let pruned = env.json(&["prune"]);
    assert!(pruned["packs_condemned"].as_u64().unwrap() > 0, "{pruned}");
    let names = env.objects("condemned/");
    assert_eq!(
        names.len() as u64,
        pruned["packs_condemned"].as_u64().unwrap(),
        "{names:?}"
    );
    // The put-only backup stores its data again rather than rely on them.
    let again = put_backup(&env, &src);
    assert!(again["data_blobs_added"].as_u64().unwrap() > 0, "{again}");
    // So the next prune restores none of them to life, and with the grace
    // period over deletes them all, names included; the snapshot is whole.
    let later = env
        .cmd(&["--json", "prune"])
        .env("CAIRN_TEST_PRUNE_CLOCK_OFFSET", "172800")
        .output()
        .unwrap();
    assert!(
        later.status.success(),
        "{}",
        String::from_utf8_lossy(&later.stderr)
    );
    let later = last_json(&later);
    assert_eq!(later["packs_restored"], 0, "{later}");
    assert_eq!(later["packs_deleted"], pruned["packs_condemned"], "{later}");
    assert!(env.objects("condemned/").is_empty());
    env.ok(&["check", "--read-data"]);
    let to = env.path("restore");
    env.ok(&["restore", "latest", "--target", to.to_str().unwrap()]);
    assert_same_tree(&src, &restored(&to, &src));
}

#[test]
fn put_only_key_cannot_manage_keys_and_the_full_key_still_can() {
    let env = Env::new();
    let id = add_put_only_key(&env);
    for args in [
        &["key", "add"][..],
        &["key", "passwd"],
        &["key", "remove", &id[..12]],
    ] {
        let mut c = env.cmd(args);
        c.env("CAIRN_PASSWORD", PUT).env("CAIRN_NEW_PASSWORD", "x");
        let out = c.output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(EXIT_PUT_ONLY),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The full key removes the put-only key; its password opens nothing then.
    env.ok(&["key", "remove", &id[..12]]);
    let out = put(&env, &["snapshots"]);
    assert_eq!(out.status.code(), Some(12));
}
