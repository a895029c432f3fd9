//! A put-only key deduplicates against the whole repository through the id
//! lists (format-spec/18-put-only.md, "Id lists"): a put-only backup of
//! what a full key already stored adds almost nothing, repositories without
//! put-only keys get no id lists, prune deletes them with their index files,
//! `check` names broken ones, and rows learned from them are never trusted
//! for a pack that is condemned or gone.

use std::path::Path;
use std::process::Output;

use bytes::Bytes;
use cairn::format::id_list::IdList;
use cairn::ids::{content_hash, IdListId};
use cairn::repo::{OpenOptions, Repository};

use crate::util::*;

const PUT: &str = "put-only password";

/// `cairn ARGS` with password `pw` and cache directory `cache`.
fn as_key(env: &Env, pw: &str, cache: &Path, args: &[&str]) -> Output {
    let mut c = env.cmd(args);
    c.env("CAIRN_PASSWORD", pw).env("CAIRN_CACHE_DIR", cache);
    c.output().expect("run cairn")
}

/// A backup with the put-only key of password `pw`; its JSON summary.
fn put_backup(env: &Env, pw: &str, cache: &Path, src: &Path) -> serde_json::Value {
    let out = as_key(env, pw, cache, &["--json", "backup", src.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "put-only backup: {stderr}");
    // Gone packs are dropped before the backup relies on them, not found
    // by the check before its snapshot (which reads the source again).
    assert!(!stderr.contains("deleted while it ran"), "{stderr}");
    last_json(&out)
}

/// Adds a put-only key for `pw` with the full key; its JSON answer.
fn add_put_only(env: &Env, pw: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["--json", "key", "add", "--put-only"];
    args.extend_from_slice(extra);
    args.extend([
        "--kdf-memory-mib",
        "1",
        "--kdf-iterations",
        "1",
        "--insecure-kdf",
    ]);
    let mut c = env.cmd(&args);
    c.env("CAIRN_NEW_PASSWORD", pw);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    last_json(&out)
}

fn pack_bytes(env: &Env) -> u64 {
    env.objects("packs/").iter().map(|(_, s)| s).sum()
}

fn make_source(src: &Path) {
    for i in 0..30u64 {
        write(
            &src.join(format!("d{}/t{i}.txt", i % 3)),
            &text_bytes(i, 4000 + i as usize * 70),
        );
    }
    write(&src.join("big.bin"), &random_bytes(11, 4 << 20));
}

/// The id lists and index files stored: every list names a stored index
/// file and every index file has exactly one list.
fn assert_lists_mirror_the_index(env: &Env) {
    let repo = full_repo(env);
    let index = repo.index_ids().unwrap();
    let mut named: Vec<_> = repo
        .id_lists()
        .unwrap()
        .into_iter()
        .map(|(_, l)| l.unwrap().index)
        .collect();
    named.sort();
    assert_eq!(named, index, "one id list per index file");
}

fn full_repo(env: &Env) -> Repository {
    let opts = OpenOptions {
        cache_dir: Some(env.path("lib-cache")),
        ..Default::default()
    };
    Repository::open(env.storage(), PASSWORD.as_bytes(), opts).unwrap()
}

#[test]
fn put_only_backup_deduplicates_against_what_a_full_key_stored() {
    let env = Env::new();
    let src = env.path("src");
    make_source(&src);
    env.backup(&[&src], &[]);
    // No put-only key: no id list, no extra PUT per backup.
    assert!(env.objects("ids/").is_empty());
    let first = pack_bytes(&env);
    // Adding the key writes the lists of the index files stored before it.
    let added = add_put_only(&env, PUT, &[]);
    assert_eq!(
        added["id_lists_written"].as_u64(),
        Some(env.objects("index/").len() as u64),
        "{added}"
    );
    assert_lists_mirror_the_index(&env);
    let again = add_put_only(&env, "second put-only", &[]);
    assert_eq!(again["id_lists_written"], 0, "idempotent: {again}");

    let put = put_backup(&env, PUT, &env.path("cache-put"), &src);
    let growth = pack_bytes(&env) - first;
    assert!(
        growth * 20 < first,
        "the put-only backup stored {growth} of {first} bytes again: {put}"
    );
    assert_eq!(put["data_blobs_added"], 0, "{put}");
    // The full key restores the put-only snapshot (the newest) byte-exact.
    let to = env.path("restore");
    env.ok(&["restore", "latest", "--target", to.to_str().unwrap()]);
    assert_same_tree(&src, &restored(&to, &src));

    // Another put-only client, its own key and a fresh cache: the same.
    let before = pack_bytes(&env);
    put_backup(&env, "second put-only", &env.path("cache-second"), &src);
    let growth = pack_bytes(&env) - before;
    assert!(growth * 20 < first, "second client stored {growth} again");
    assert_lists_mirror_the_index(&env);
    env.ok(&["check"]);

    // Without the dedup key the client only knows its own uploads.
    let own = add_put_only(&env, "own only", &["--own-dedup-only"]);
    assert!(own.get("id_lists_written").is_none(), "{own}");
    let before = pack_bytes(&env);
    put_backup(&env, "own only", &env.path("cache-own"), &src);
    let growth = pack_bytes(&env) - before;
    assert!(
        growth * 10 > first * 9,
        "an own-dedup-only client stores it all again: {growth} of {first}"
    );
    env.ok(&["check"]);
}

/// Prune deletes the lists of the index files it deletes (and orphans an
/// interrupted prune left); `check` names a damaged list and one that does
/// not mirror its index file, and only warns about an orphan.
#[test]
fn prune_deletes_id_lists_with_their_index_files_and_check_names_bad_ones() {
    let env = Env::new();
    let (a, b) = (env.path("a"), env.path("b"));
    make_source(&a);
    write(&b.join("other.bin"), &random_bytes(5, 1 << 20));
    add_put_only(&env, PUT, &[]);
    env.backup(&[&a], &[]);
    env.backup(&[&b], &[]);
    assert_eq!(env.objects("ids/").len(), 2);
    env.ok(&["check"]);
    let storage = env.storage();
    // One snapshot goes (as forget deletes it); prune rewrites the index.
    let (snapshot, _) = env.objects("snapshots/")[0].clone();
    storage.delete(&snapshot).unwrap();
    let pruned = env.json(&["prune"]);
    assert!(
        pruned["index_files_deleted"].as_u64().unwrap() >= 2,
        "{pruned}"
    );
    assert_lists_mirror_the_index(&env);
    env.ok(&["check"]);

    // A flipped byte: damage, named.
    let (key, _) = env.objects("ids/")[0].clone();
    let good = storage.get(&key).unwrap();
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    storage.put(&key, Bytes::from(bad)).unwrap();
    let out = env.run(&["check"]);
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains(&key.replace("ids/", "id list ")), "{text}");
    storage.put(&key, Bytes::from(good)).unwrap();
    env.ok(&["check"]);

    // A list that does not mirror its index file (one blob more), as a
    // put-only holder could write: damage.
    let repo = full_repo(&env);
    let index = repo.index_ids().unwrap()[0];
    let file = repo.load_index_file(&index).unwrap();
    let mut lie = IdList::of(index, &file);
    let kind = lie.packs[0].1[0].0;
    lie.packs[0].1.push((kind, cairn::ids::BlobId([9; 32])));
    let liar = store(&repo, &lie);
    let out = env.run(&["check"]);
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("does not mirror"), "{text}");
    storage.delete(&liar).unwrap();

    // An orphan (its index file gone): a warning, and the next prune's.
    let orphan = store(&repo, &IdList::of(cairn::ids::IndexId([7; 32]), &file));
    let report = env.json(&["check"]);
    let problems = report["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["severity"] == "warning"
                && p["object"].as_str().unwrap().contains(&orphan[4..])),
        "{report}"
    );
    env.json(&["prune"]);
    assert!(storage.get(&orphan).is_err(), "the orphan is deleted");
    assert_lists_mirror_the_index(&env);
    env.ok(&["check"]);
}

/// Seals `list` under the dedup key and stores it; its key.
fn store(repo: &Repository, list: &IdList) -> String {
    let sealed = list.seal(repo.keys().dedup_key().unwrap());
    let key = cairn::format::layout::id_list(&IdListId(content_hash(&sealed)));
    repo.storage().put(&key, Bytes::from(sealed)).unwrap();
    key
}

/// W1 of format-spec/12-prune.md for rows a put-only client learned from id
/// lists: a pack a prune condemned, or one deleted, is never deduplicated
/// against, even while an id list still names it.
#[test]
fn put_only_client_never_relies_on_condemned_or_gone_packs_from_id_lists() {
    let env = Env::new();
    let src = env.path("src");
    make_source(&src);
    env.backup(&[&src], &[]);
    add_put_only(&env, PUT, &[]);
    let storage = env.storage();
    let lists: Vec<(String, Vec<u8>)> = env
        .objects("ids/")
        .into_iter()
        .map(|(k, _)| (k.clone(), storage.get(&k).unwrap()))
        .collect();
    assert!(!lists.is_empty());
    // The full key's snapshot goes; prune condemns its packs.
    for (key, _) in env.objects("snapshots/") {
        storage.delete(&key).unwrap();
    }
    let pruned = env.json(&["prune"]);
    assert!(pruned["packs_condemned"].as_u64().unwrap() > 0, "{pruned}");
    // The id lists still name them; the client stores its data again.
    let put = put_backup(&env, PUT, &env.path("cache-put"), &src);
    assert!(put["data_blobs_added"].as_u64().unwrap() > 0, "{put}");
    env.ok(&["check", "--read-data"]);

    // Past the grace period the packs go; put back the old id lists, as if
    // a prune had stopped before deleting them. A fresh client must not
    // trust their rows: their packs are not listed.
    for (key, _) in env.objects("snapshots/") {
        storage.delete(&key).unwrap();
    }
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
    assert!(last_json(&later)["packs_deleted"].as_u64().unwrap() > 0);
    for (key, bytes) in &lists {
        storage.put(key, Bytes::from(bytes.clone())).unwrap();
    }
    add_put_only(&env, "second put-only", &[]);
    let fresh = put_backup(&env, "second put-only", &env.path("cache-second"), &src);
    assert!(fresh["data_blobs_added"].as_u64().unwrap() > 0, "{fresh}");
    env.ok(&["check", "--read-data"]);
    let to = env.path("restore");
    env.ok(&["restore", "latest", "--target", to.to_str().unwrap()]);
    assert_same_tree(&src, &restored(&to, &src));
}
