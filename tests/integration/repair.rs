//! Fault tests: for each kind of damage, what `check` reports (problems,
//! the damage report naming affected snapshots and paths, the exit code)
//! and what `repair index` / `repair snapshots` recover.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::*;

/// Two snapshots: the first of `src1` (untouched by later damage tests
/// only when its data lives in another pack), the second of `src2`.
struct Setup {
    env: Env,
    src1: PathBuf,
    src2: PathBuf,
}

fn setup() -> Setup {
    // LOCAL-ONLY: damages the repository's files.
    let env = Env::new_local();
    let src1 = env.path("one");
    write(&src1.join("a.txt"), &text_bytes(1, 300_000));
    write(&src1.join("sub/b.bin"), &random_bytes(2, 200_000));
    env.backup(&[&src1], &[]);
    let src2 = env.path("two");
    write(&src2.join("c.bin"), &random_bytes(3, 1_600_000));
    write(&src2.join("small.txt"), b"tiny");
    env.backup(&[&src2], &[]);
    Setup { env, src1, src2 }
}

fn check(env: &Env, extra: &[&str]) -> (Option<i32>, Value) {
    let mut args = vec!["--json", "check"];
    args.extend_from_slice(extra);
    let out = env.run(&args);
    (out.status.code(), last_json(&out))
}

/// Packs sorted by size, smallest first.
fn packs_by_size(env: &Env) -> Vec<PathBuf> {
    let mut v = files_under(&env.repo.join("packs"));
    v.sort_by_key(|p| std::fs::metadata(p).unwrap().len());
    v
}

/// The pack holding the content of `file` (read through `cat`-free means:
/// the pack whose removal makes `check` name the file).
fn data_pack_of(s: &Setup, file: &Path) -> PathBuf {
    // Data packs are the big ones; each backup wrote its own.
    let want = std::fs::read(file).unwrap();
    for p in packs_by_size(&s.env).into_iter().rev() {
        let saved = std::fs::read(&p).unwrap();
        std::fs::remove_file(&p).unwrap();
        let (_, r) = check(&s.env, &[]);
        std::fs::write(&p, &saved).unwrap();
        if affected_paths(&r)
            .iter()
            .any(|(_, path)| Path::new(path) == file)
        {
            return p;
        }
    }
    panic!("no pack holds {} ({} bytes)", file.display(), want.len())
}

fn flip(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    let i = at.min(b.len() - 1);
    b[i] ^= 0x40;
    std::fs::write(path, b).unwrap();
}

/// (snapshot status, snapshot paths) for each snapshot in the report.
fn statuses(r: &Value) -> Vec<(String, String)> {
    r["damage"]["snapshots"]
        .as_array()
        .unwrap_or_else(|| panic!("no damage report: {r}"))
        .iter()
        .map(|s| {
            (
                s["status"].as_str().unwrap().to_string(),
                s["paths"][0].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// (kind, path) of every affected path of every snapshot.
fn affected_paths(r: &Value) -> Vec<(String, String)> {
    let Some(snaps) = r["damage"]["snapshots"].as_array() else {
        return Vec::new();
    };
    snaps
        .iter()
        .flat_map(|s| s["affected"].as_array().cloned().unwrap_or_default())
        .map(|a| {
            (
                a["kind"].as_str().unwrap().to_string(),
                a["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Restores the newest snapshot tagged `repaired` into a fresh target.
fn restore_repaired(env: &Env, name: &str) -> (Option<i32>, PathBuf) {
    let t = env.path(name);
    let out = env.run(&[
        "restore",
        "latest",
        "--tag",
        "repaired",
        "--target",
        t.to_str().unwrap(),
    ]);
    (out.status.code(), t)
}

#[test]
fn deleted_data_pack_is_reported_per_file_and_repaired() {
    let s = setup();
    let env = &s.env;
    let victim = s.src1.join("sub/b.bin");
    let pack = data_pack_of(&s, &victim);
    std::fs::remove_file(&pack).unwrap();

    let (code, r) = check(env, &[]);
    assert_eq!(code, Some(4), "{r}");
    let st = statuses(&r);
    assert_eq!(st.len(), 2, "{r}");
    // The first snapshot is damaged (its data pack is gone), the second intact.
    assert!(
        st.contains(&("damaged".into(), s.src1.display().to_string())),
        "{st:?}"
    );
    assert!(
        st.contains(&("intact".into(), s.src2.display().to_string())),
        "{st:?}"
    );
    let affected = affected_paths(&r);
    assert!(
        affected.contains(&("file".into(), victim.display().to_string())),
        "{affected:?}"
    );
    // The human report names the file too.
    let out = env.run(&["check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("file {}", victim.display())),
        "{text}"
    );
    assert!(text.contains("intact"), "{text}");

    // Dry runs write nothing.
    let before = files_under(&env.repo).len();
    env.ok(&["repair", "index", "--dry-run"]);
    env.ok(&["repair", "snapshots", "--dry-run"]);
    assert_eq!(files_under(&env.repo).len(), before);

    // repair index drops the gone pack; repair snapshots keeps the rest.
    let r = env.json(&["repair", "index"]);
    assert_eq!(r["dropped"].as_array().unwrap().len(), 1, "{r}");
    let r = env.json(&["repair", "snapshots"]);
    let snaps = r["snapshots"].as_array().unwrap();
    assert_eq!(snaps.len(), 1, "{r}");
    assert!(snaps[0]["repaired"].is_string(), "{r}");
    let packs_before = env.pack_count();

    let (code, t) = restore_repaired(env, "t1");
    assert_eq!(code, Some(0));
    let back = restored(&t, &s.src1);
    // Intact files come back whole; the damaged one as its intact prefix.
    let orig = std::fs::read(&victim).unwrap();
    let got = std::fs::read(back.join("sub/b.bin")).unwrap();
    assert!(got.len() < orig.len() && orig.starts_with(&got));
    if std::fs::read(s.src1.join("a.txt")).unwrap() != std::fs::read(back.join("a.txt")).unwrap() {
        // a.txt shared the lost pack: it must be a marked prefix, not junk.
        let a = std::fs::read(back.join("a.txt")).unwrap();
        assert!(std::fs::read(s.src1.join("a.txt")).unwrap().starts_with(&a));
    }
    // The original stays; repair never deletes packs.
    assert!(env.pack_count() >= packs_before);
    let list = env.json(&["snapshots"]);
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");

    // A new backup of the same data stores the lost chunks again: that
    // heals even the original snapshot, and the check is clean.
    env.backup(&[&s.src1], &[]);
    let (code, r) = check(env, &["--read-data"]);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["snapshots"], 4);
    assert_eq!(r["problems"], serde_json::json!([]));
}

#[test]
fn flipped_byte_in_a_data_pack_is_found_by_read_data_and_repaired() {
    let s = setup();
    let env = &s.env;
    let victim = s.src2.join("c.bin");
    let pack = data_pack_of(&s, &victim);
    let len = std::fs::metadata(&pack).unwrap().len() as usize;
    flip(&pack, len / 2);
    let (code, r) = check(env, &[]);
    assert_eq!(code, Some(0), "the structure check cannot see it: {r}");
    let (code, r) = check(env, &["--read-data"]);
    assert_eq!(code, Some(4), "{r}");
    assert!(
        affected_paths(&r).contains(&("file".into(), victim.display().to_string())),
        "{r}"
    );
    // Without --read-data repair snapshots does not know; with it, it does.
    let r = env.json(&["repair", "snapshots"]);
    assert_eq!(r["snapshots"].as_array().unwrap().len(), 0, "{r}");
    let r = env.json(&["repair", "snapshots", "--read-data"]);
    assert_eq!(r["snapshots"].as_array().unwrap().len(), 1, "{r}");
    // `latest` is the repaired copy now, not the damaged original.
    let t = env.path("t");
    env.ok(&["restore", "latest", "--target", t.to_str().unwrap()]);
    let back = restored(&t, &s.src2);
    assert_eq!(std::fs::read(back.join("small.txt")).unwrap(), b"tiny");
    let got = std::fs::read(back.join("c.bin")).unwrap();
    assert!(std::fs::read(&victim).unwrap().starts_with(&got));
    // The truncated file carries the marker, with what was lost.
    let tree = env.json(&["cat", "tree", &format!("latest:{}", s.src2.display())]);
    let node = tree["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "c.bin")
        .unwrap()
        .clone();
    let marker = format!("{}", node["meta"]["xattrs"]);
    let name: Vec<serde_json::Value> = b"user.cairn.damaged".iter().map(|b| (*b).into()).collect();
    assert!(
        marker.contains(&serde_json::Value::from(name).to_string())
            || marker.contains("user.cairn.damaged"),
        "{node}"
    );
    assert_eq!(node["kind"]["File"]["size"], got.len(), "{node}");
    // Running it again does not pile up copies.
    let r = env.json(&["repair", "snapshots", "--read-data"]);
    assert_eq!(r["snapshots"][0]["already_repaired"], true, "{r}");
}

#[test]
fn flipped_byte_in_the_tree_pack_loses_directories_not_snapshots() {
    // LOCAL-ONLY: damages the repository's files.
    let env = Env::new_local();
    let src = env.path("src");
    write(&src.join("top.txt"), b"top level");
    write(&src.join("d1/x.txt"), &text_bytes(5, 5000));
    write(&src.join("d2/y.txt"), &text_bytes(6, 5000));
    env.backup(&[&src], &[]);
    // The tree pack is the smallest pack; damage its first blob.
    let tree_pack = packs_by_size(&env).remove(0);
    flip(&tree_pack, 30);
    let (code, r) = check(&env, &[]);
    assert_eq!(code, Some(4), "{r}");
    let affected = affected_paths(&r);
    assert!(
        affected.iter().any(|(kind, _)| kind == "directory"),
        "{affected:?}"
    );
    let r = env.json(&["repair", "snapshots"]);
    assert_eq!(r["snapshots"].as_array().unwrap().len(), 1, "{r}");
    // The repaired snapshot restores (what is left of it) and checks intact.
    let (code, _) = restore_repaired(&env, "t");
    assert_eq!(code, Some(0));
    let (_, r) = check(&env, &[]);
    assert!(
        statuses(&r).contains(&("intact".into(), src.display().to_string())),
        "{r}"
    );
}

#[test]
fn truncated_pack_keeps_what_lies_before_the_cut() {
    let s = setup();
    let env = &s.env;
    let pack = data_pack_of(&s, &s.src2.join("c.bin"));
    // Cut in the middle of the pack's last blob: every blob before it
    // survives (chunk boundaries are keyed, so sizes vary between runs).
    let id = pack.file_name().unwrap().to_str().unwrap();
    let header = env.json(&["cat", "pack", id]);
    let last = header["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|b| b["offset"].as_u64().unwrap())
        .unwrap()
        .clone();
    assert!(header["blobs"].as_array().unwrap().len() >= 2, "{header}");
    let cut = last["offset"].as_u64().unwrap() + last["length"].as_u64().unwrap() / 2;
    let f = std::fs::OpenOptions::new().write(true).open(&pack).unwrap();
    f.set_len(cut).unwrap();
    drop(f);
    let (code, r) = check(env, &[]);
    assert_eq!(code, Some(4), "{r}");
    assert!(!affected_paths(&r).is_empty(), "{r}");
    let r = env.json(&["repair", "index"]);
    assert_eq!(r["shortened"].as_array().unwrap().len(), 1, "{r}");
    let r = env.json(&["repair", "snapshots"]);
    assert_eq!(r["snapshots"].as_array().unwrap().len(), 1, "{r}");
    let (code, t) = restore_repaired(env, "t");
    assert_eq!(code, Some(0));
    // Every file restores as a prefix of itself; something survived the cut.
    let mut kept = 0;
    for f in ["c.bin", "small.txt"] {
        let got = std::fs::read(restored(&t, &s.src2).join(f)).unwrap();
        assert!(
            std::fs::read(s.src2.join(f)).unwrap().starts_with(&got),
            "{f}"
        );
        kept += got.len();
    }
    assert!(kept > 0 && kept < 1_600_004, "{kept}");
    // The structure check is clean now: the index matches what is there.
    let (_, r) = check(env, &[]);
    assert!(
        !r["problems"].as_array().unwrap().iter().any(|p| p["object"]
            .as_str()
            .unwrap()
            .starts_with("pack ")
            && p["severity"] == "damage"),
        "{r}"
    );
}

#[test]
fn deleted_index_file_is_rebuilt_from_pack_headers() {
    let s = setup();
    let env = &s.env;
    let index = files_under(&env.repo.join("index")).remove(0);
    std::fs::remove_file(&index).unwrap();
    let (code, r) = check(env, &[]);
    assert_eq!(code, Some(4), "{r}");
    let r = env.json(&["repair", "index"]);
    assert!(!r["from_headers"].as_array().unwrap().is_empty(), "{r}");
    let (code, r) = check(env, &["--read-data"]);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["problems"], serde_json::json!([]));
    // Nothing left to do, and everything restores.
    let r = env.json(&["repair", "index"]);
    assert_eq!(r["written"], Value::Null, "{r}");
    let t = env.path("t");
    env.ok(&[
        "restore",
        "latest",
        "--target",
        t.to_str().unwrap(),
        "--verify",
    ]);
}

#[test]
fn corrupt_index_file_is_skipped_reported_and_repaired() {
    let s = setup();
    let env = &s.env;
    let index = files_under(&env.repo.join("index")).remove(0);
    flip(&index, 40);
    std::fs::remove_dir_all(&env.cache).unwrap();
    // Other commands keep working, with a warning.
    let out = env.run(&["snapshots"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipping index file"));
    let (code, r) = check(env, &[]);
    assert_eq!(code, Some(4), "{r}");
    let r = env.json(&["repair", "index"]);
    assert_eq!(r["corrupt_index_files"].as_array().unwrap().len(), 1, "{r}");
    assert!(
        !index.exists(),
        "the corrupt file is superseded and deleted"
    );
    let (code, r) = check(env, &["--read-data"]);
    assert_eq!(code, Some(0), "{r}");
    let out = env.ok(&["snapshots"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("skipping"));
}

#[test]
fn corrupted_snapshot_object_is_unreadable_and_not_repairable() {
    let s = setup();
    let env = &s.env;
    let snap = files_under(&env.repo.join("snapshots")).remove(0);
    flip(&snap, 40);
    let (code, r) = check(env, &[]);
    assert_eq!(code, Some(4), "{r}");
    let st = statuses(&r);
    assert_eq!(
        st.iter().filter(|(s, _)| s == "unreadable").count(),
        1,
        "{st:?}"
    );
    assert_eq!(
        st.iter().filter(|(s, _)| s == "intact").count(),
        1,
        "{st:?}"
    );
    let out = env.run(&["--json", "repair", "snapshots"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(last_json(&out)["snapshots"][0]["unreadable"], true);
}

#[test]
fn corrupted_key_file_and_unknown_version_stop_check_with_distinct_codes() {
    let s = setup();
    let env = &s.env;
    let key = files_under(&env.repo.join("keys")).remove(0);
    let saved = std::fs::read(&key).unwrap();
    flip(&key, 40);
    let out = env.run(&["check"]);
    assert_eq!(out.status.code(), Some(4), "a damaged key file is damage");
    std::fs::write(&key, saved).unwrap();
    env.ok(&["check"]);

    let cfg = env.repo.join("config");
    let mut b = std::fs::read(&cfg).unwrap();
    b[8] = 9;
    std::fs::write(&cfg, b).unwrap();
    assert_eq!(env.run(&["check"]).status.code(), Some(5));
    // Could not run at all: no repository, wrong password.
    let none = Env::uninit_local();
    assert_eq!(none.run(&["check"]).status.code(), Some(10));
    let out = s
        .env
        .cmd(&["check"])
        .env("CAIRN_PASSWORD", "wrong")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "the version is refused first");
}

#[test]
fn junk_pack_is_left_alone_by_repair_index() {
    let s = setup();
    let env = &s.env;
    let junk = "cd".repeat(32);
    let path = env.repo.join("packs").join(&junk[..2]).join(&junk);
    write(&path, b"not a pack at all");
    let r = env.json(&["repair", "index"]);
    assert_eq!(r["unreadable"], serde_json::json!([junk]), "{r}");
    assert_eq!(r["written"], Value::Null, "nothing else to repair: {r}");
    assert_eq!(std::fs::read(&path).unwrap(), b"not a pack at all");
}
