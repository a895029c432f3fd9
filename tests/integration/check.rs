//! `cairn check`: a clean repository passes; each kind of damage is found
//! by the check that can see it, named, and turned into exit code 4.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::*;

/// A repository with several snapshots, so there are several packs, on
/// the backend under test.
fn setup(backups: u64) -> Env {
    fill(Env::new(), backups)
}

/// The same, LOCAL-ONLY: for tests that damage the repository's files.
fn setup_local(backups: u64) -> Env {
    fill(Env::new_local(), backups)
}

fn fill(env: Env, backups: u64) -> Env {
    for i in 0..backups {
        let src = env.path(&format!("src{i}"));
        write(&src.join("a.txt"), &text_bytes(10 + i, 300_000));
        write(&src.join("b.bin"), &random_bytes(20 + i, 200_000));
        env.backup(&[&src], &[]);
    }
    env
}

/// Runs `check` with `--json`; returns the exit code and the summary.
fn check(env: &Env, extra: &[&str]) -> (Option<i32>, Value) {
    let mut args = vec!["--json", "check"];
    args.extend_from_slice(extra);
    let out = env.run(&args);
    (out.status.code(), last_json(&out))
}

fn problems(report: &Value) -> Vec<(String, String, String)> {
    report["problems"]
        .as_array()
        .expect("problems array")
        .iter()
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap_or_default().to_string();
            (s("severity"), s("object"), s("message"))
        })
        .collect()
}

/// The largest pack: with small trees, a data pack.
fn largest_pack(env: &Env) -> PathBuf {
    files_under(&env.repo.join("packs"))
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .expect("a pack")
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn flip(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    let i = at.min(b.len() - 1);
    b[i] ^= 0x40;
    std::fs::write(path, b).unwrap();
}

#[test]
fn clean_repository_passes_with_and_without_read_data() {
    let env = setup(2);
    let packs = env.pack_count() as u64;
    let (code, r) = check(&env, &[]);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(problems(&r), vec![]);
    assert_eq!(r["snapshots"], 2);
    assert_eq!(r["packs"], packs);
    assert!(r["trees"].as_u64().unwrap() >= 2, "{r}");
    assert!(r["index_files"].as_u64().unwrap() >= 1, "{r}");
    assert_eq!(r["packs_read"], 0);

    let (code, r) = check(&env, &["--read-data"]);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(problems(&r), vec![]);
    assert_eq!(r["packs_read"], packs);
    assert!(r["blobs_checked"].as_u64().unwrap() > 2, "{r}");
    let on_disk: u64 = env.objects("packs/").iter().map(|(_, size)| size).sum();
    assert_eq!(r["bytes_read"], on_disk);

    // The human-readable report says so too.
    let out = env.ok(&["check", "--read-data"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("no problems"), "{text}");
}

#[test]
fn flipped_byte_in_a_data_pack_is_found_only_by_read_data() {
    let env = setup_local(1);
    let pack = largest_pack(&env);
    let len = std::fs::metadata(&pack).unwrap().len() as usize;
    flip(&pack, len / 3);
    let (code, r) = check(&env, &[]);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(problems(&r), vec![]);

    let (code, r) = check(&env, &["--read-data"]);
    assert_eq!(code, Some(4), "{r}");
    let found = problems(&r);
    assert!(
        found
            .iter()
            .any(|(sev, obj, _)| sev == "damage" && *obj == format!("pack {}", name(&pack))),
        "{found:?}"
    );
    assert_eq!(r["damaged"], true);
    // Human output names the pack and exits 4 as well.
    let out = env.run(&["check", "--read-data"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&name(&pack)));
}

#[test]
fn deleted_pack_is_damage_in_the_structure_check() {
    let env = setup_local(1);
    let pack = largest_pack(&env);
    std::fs::remove_file(&pack).unwrap();
    let (code, r) = check(&env, &[]);
    assert_eq!(code, Some(4), "{r}");
    let found = problems(&r);
    assert!(
        found.iter().any(|(sev, obj, msg)| sev == "damage"
            && *obj == format!("pack {}", name(&pack))
            && msg.contains("missing")),
        "{found:?}"
    );
}

#[test]
fn junk_pack_is_an_unindexed_warning() {
    let env = setup_local(1);
    let junk = "ab".repeat(32);
    write(
        &env.repo.join("packs").join(&junk[..2]).join(&junk),
        b"not a pack at all",
    );
    let (code, r) = check(&env, &[]);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(
        problems(&r)
            .into_iter()
            .map(|(sev, obj, msg)| (sev, obj, msg.starts_with("unindexed")))
            .collect::<Vec<_>>(),
        vec![("warning".into(), format!("pack {junk}"), true)]
    );
    // Reading data does not read it (no index says what it holds).
    let (code, r) = check(&env, &["--read-data"]);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["packs_read"], r["packs"].as_u64().unwrap() - 1);
}

#[test]
fn flipped_byte_in_an_index_file_is_damage() {
    let env = setup_local(1);
    let index = files_under(&env.repo.join("index")).pop().unwrap();
    flip(&index, 40);
    // With the index already cached the check itself must find it.
    let (code, r) = check(&env, &[]);
    assert_eq!(code, Some(4), "{r}");
    let found = problems(&r);
    assert!(
        found
            .iter()
            .any(|(sev, obj, _)| sev == "damage" && *obj == format!("index {}", name(&index))),
        "{found:?}"
    );
    // Without a cache, opening skips it with a warning; check still
    // reports it as damage, with the snapshots it leaves unreadable.
    std::fs::remove_dir_all(&env.cache).unwrap();
    let out = env.run(&["check"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipping index file"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("damage report: 1 of 1 snapshots affected"),
        "{text}"
    );
}

#[test]
fn subset_slices_cover_every_pack_once() {
    let env = setup(4);
    let (_, all) = check(&env, &["--read-data"]);
    let (mut packs, mut blobs, mut bytes) = (0, 0, 0);
    for spec in ["1/2", "2/2"] {
        let (code, r) = check(&env, &["--read-data-subset", spec]);
        assert_eq!(code, Some(0), "{r}");
        packs += r["packs_read"].as_u64().unwrap();
        blobs += r["blobs_checked"].as_u64().unwrap();
        bytes += r["bytes_read"].as_u64().unwrap();
    }
    assert_eq!(packs, all["packs_read"].as_u64().unwrap());
    assert_eq!(packs, env.pack_count() as u64);
    assert_eq!(blobs, all["blobs_checked"].as_u64().unwrap());
    assert_eq!(bytes, all["bytes_read"].as_u64().unwrap());
    // A percentage reads a share; a tiny byte budget reads one pack.
    let (_, r) = check(&env, &["--read-data-subset", "100%"]);
    assert_eq!(r["packs_read"], all["packs_read"]);
    let (_, r) = check(&env, &["--read-data-subset", "1B"]);
    assert_eq!(r["packs_read"], 1);
}

#[test]
fn bad_subset_spec_is_a_usage_error() {
    let env = Env::new();
    for spec in ["0/2", "3/2", "abc", "150%", "12XB"] {
        let out = env.run(&["check", "--read-data-subset", spec]);
        assert_eq!(out.status.code(), Some(2), "{spec}");
    }
}

/// A pack moved into the wrong prefix directory is not where readers look
/// for it (format-spec/01-layout.md): it is missing, not present.
#[test]
fn a_pack_under_the_wrong_prefix_is_missing() {
    let env = setup_local(1);
    let packs = files_under(&env.path("repo").join("packs"));
    let pack = packs.first().expect("a pack");
    let name = pack.file_name().unwrap().to_str().unwrap().to_string();
    let wrong = if name.starts_with("ff") { "00" } else { "ff" };
    let dir = env.path("repo").join("packs").join(wrong);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::rename(pack, dir.join(&name)).unwrap();
    let (code, report) = check(&env, &[]);
    assert_eq!(code, Some(4), "{report}");
    assert!(
        problems(&report)
            .iter()
            .any(|(_, object, _)| object.contains(&name)),
        "{report}"
    );
}
