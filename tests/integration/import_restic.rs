//! `cairn import-restic`: repositories written by the real `restic`
//! binary (versions 1 and 2), imported, then every snapshot restored by
//! cairn and by restic and compared (`assert_same_tree`). Skipped, with a
//! message, where `restic` is not on PATH (scripts/test installs it).

use std::ffi::OsStr;
use std::io::BufRead;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::util::{
    assert_same_tree, last_json, random_bytes, restored, set_times, text_bytes, write, Env,
};

const RESTIC_PW: &str = "restic's own password";

fn have_restic() -> bool {
    let ok = Command::new("restic")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED: `restic` is not on PATH (scripts/test installs it)");
    }
    ok
}

/// A restic repository driven by the restic binary.
struct Restic {
    location: String,
}

impl Restic {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("restic");
        c.arg("-r")
            .arg(&self.location)
            .args(["--no-cache", "-q"])
            .args(args)
            .env("RESTIC_PASSWORD", RESTIC_PW)
            .env_remove("RESTIC_PASSWORD_FILE")
            .env_remove("RESTIC_REPOSITORY");
        c
    }

    fn ok(&self, args: &[&str]) -> Output {
        let out = self.cmd(args).output().expect("run restic");
        assert!(
            out.status.success(),
            "restic {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn init(location: String, version: u32) -> Restic {
        let r = Restic { location };
        r.ok(&["init", "--repository-version", &version.to_string()]);
        r
    }

    /// Backs up `src` and returns the snapshot id.
    fn backup(
        &self,
        src: &Path,
        host: &str,
        tag: &str,
        time: &str,
        parent: Option<&str>,
    ) -> String {
        let mut args = vec![
            "backup", "--json", "--host", host, "--tag", tag, "--time", time,
        ];
        if let Some(p) = parent {
            args.extend(["--parent", p]);
        }
        let src = src.to_str().expect("utf-8");
        args.push(src);
        let out = self.ok(&args);
        let summary = last_json(&out);
        let short = summary["snapshot_id"].as_str().expect("snapshot_id");
        self.full_id(short)
    }

    /// The full id of a snapshot (restic 0.14's backup prints a short one).
    fn full_id(&self, short: &str) -> String {
        let out = self.ok(&["snapshots", "--json"]);
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let ids = list.as_array().expect("array").iter();
        let mut found = ids
            .filter_map(|s| s["id"].as_str())
            .filter(|id| id.starts_with(short));
        found.next().expect("the new snapshot").to_string()
    }

    fn restore(&self, id: &str, target: &Path) {
        self.ok(&["restore", id, "--target", target.to_str().expect("utf-8")]);
    }
}

/// The cairn command importing `restic`.
fn import(env: &Env, restic: &Restic, extra: &[&str]) -> Command {
    let mut c = env.cmd(&["import-restic"]);
    c.args(extra)
        .arg(&restic.location)
        .env("RESTIC_PASSWORD", RESTIC_PW)
        .env_remove("RESTIC_PASSWORD_FILE");
    c
}

fn run_json(mut c: Command) -> (Option<i32>, serde_json::Value, String) {
    let out = c.output().expect("run cairn");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), last_json(&out), stderr)
}

/// The hostile-ish tree, changed a little in each round.
fn make_round(src: &Path, round: u32) {
    match round {
        0 => {
            write(&src.join("plain.txt"), &text_bytes(1, 20_000));
            write(&src.join("big.bin"), &random_bytes(2, 5 * 1024 * 1024 + 77));
            write(&src.join("empty"), b"");
            std::fs::create_dir_all(src.join("emptydir")).expect("mkdir");
            for name in [
                &b"with space 'q'"[..],
                b"new\nline",
                b"latin1-\xe9t\xe9\xff",
                b"back\\slash",
                b"quote\"d",
            ] {
                write(&src.join("names").join(OsStr::from_bytes(name)), name);
            }
            let sparse = std::fs::File::create(src.join("sparse.img")).expect("create");
            sparse.set_len(8 * 1024 * 1024).expect("set_len");
            std::os::unix::fs::FileExt::write_all_at(&sparse, &random_bytes(3, 65_536), 4 << 20)
                .expect("write_at");
            write(&src.join("links/a"), b"linked\n");
            std::fs::hard_link(src.join("links/a"), src.join("links/b")).expect("link");
            std::os::unix::fs::symlink("../links/a", src.join("names/rel-link")).expect("symlink");
            std::os::unix::fs::symlink("/nowhere/at/all", src.join("names/dangling"))
                .expect("symlink");
            let fifo = std::ffi::CString::new(src.join("fifo").as_os_str().as_bytes()).expect("c");
            // SAFETY: a valid NUL-terminated path.
            unsafe { libc::mkfifo(fifo.as_ptr(), 0o640) };
            write(&src.join("run.sh"), b"#!/bin/sh\n");
            chmod(&src.join("run.sh"), 0o750);
            chmod(&src.join("plain.txt"), 0o400);
            std::fs::create_dir_all(src.join("shared")).expect("mkdir");
            chmod(&src.join("shared"), 0o2775);
            let _ = xattr::set(src.join("links/a"), "user.cairn", b"xattr value");
            let _ = xattr::set(src.join("empty"), "user.empty", b"");
        }
        1 => {
            let mut big = std::fs::read(src.join("big.bin")).expect("read");
            big.extend(random_bytes(4, 300_000));
            write(&src.join("big.bin"), &big);
            write(&src.join("added/one.txt"), &text_bytes(5, 70_000));
            chmod(&src.join("run.sh"), 0o700);
        }
        _ => {
            std::fs::remove_file(src.join("names/back\\slash")).expect("rm");
            std::fs::rename(src.join("added"), src.join("renamed")).expect("mv");
            write(&src.join("big.bin"), &random_bytes(6, 3 * 1024 * 1024));
            let _ = xattr::set(src.join("renamed/one.txt"), "user.later", b"\x00\xffbin");
        }
    }
    set_times(src, 1_700_000_000 + i64::from(round) * 10_000);
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Three restic snapshots of `src` (hosts alpha, alpha, beta; the third
/// with the second as its explicit parent); their ids, oldest first.
fn three_snapshots(restic: &Restic, src: &Path) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for round in 0..3u32 {
        make_round(src, round);
        let host = if round < 2 { "alpha" } else { "beta" };
        let time = format!("2024-0{}-15 10:20:30", round + 1);
        let parent = (round == 2).then(|| ids[1].clone());
        let tag = format!("round{round}");
        ids.push(restic.backup(src, host, &tag, &time, parent.as_deref()));
    }
    ids
}

/// cairn's snapshots, each with the restic id its `program` names.
fn imported(env: &Env) -> Vec<(String, serde_json::Value)> {
    let list = env.json(&["snapshots"]);
    let mut out = Vec::new();
    for s in list.as_array().expect("array") {
        let program = s["program"].as_str().expect("program");
        let (_, rid) = program
            .split_once(" import-restic ")
            .expect("an imported snapshot");
        out.push((rid.to_string(), s.clone()));
    }
    out
}

/// Restores restic snapshot `rid` with restic and its import with cairn
/// and compares the two trees.
fn assert_restores_alike(env: &Env, restic: &Restic, rid: &str, cairn_id: &str) {
    let (r, c) = (env.path(&format!("r-{rid}")), env.path(&format!("c-{rid}")));
    restic.restore(rid, &r);
    env.ok(&["restore", cairn_id, "--target", c.to_str().unwrap()]);
    let src = env.path("src");
    assert_same_tree(&restored(&r, &src), &restored(&c, &src));
}

fn import_and_compare(version: u32) {
    if !have_restic() {
        return;
    }
    let env = Env::new();
    let src = env.path("src");
    let restic = Restic::init(env.path("restic").to_string_lossy().into_owned(), version);
    let ids = three_snapshots(&restic, &src);

    let (code, dry, _) = run_json(import(&env, &restic, &["--json", "--dry-run"]));
    assert_eq!(code, Some(0));
    assert_eq!(dry["imported"], 0);
    assert!(
        env.objects("snapshots/").is_empty(),
        "a dry run stored a snapshot"
    );

    let (code, sum, stderr) = run_json(import(&env, &restic, &["--json"]));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        (sum["imported"].as_u64(), sum["failed"].as_u64()),
        (Some(3), Some(0))
    );
    let snaps = imported(&env);
    assert_eq!(snaps.iter().map(|s| s.0.clone()).collect::<Vec<_>>(), ids);
    let hosts: Vec<_> = snaps
        .iter()
        .map(|s| s.1["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["alpha", "alpha", "beta"]);
    for (i, (_, s)) in snaps.iter().enumerate() {
        assert_eq!(s["tags"], serde_json::json!([format!("round{i}")]));
        let time = s["time"].as_str().unwrap();
        assert!(time.starts_with(&format!("2024-0{}-15", i + 1)), "{time}");
        let parent = (i > 0).then(|| snaps[i - 1].1["id"].clone());
        assert_eq!(
            s["parent"],
            parent.unwrap_or(serde_json::Value::Null),
            "parent of {i}"
        );
    }
    for (rid, s) in &snaps {
        assert_restores_alike(&env, &restic, rid, s["id"].as_str().unwrap());
    }
    env.ok(&["check"]);

    // A rerun imports nothing and says so.
    let out = import(&env, &restic, &[]).output().expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing new to import"));
    let (_, again, _) = run_json(import(&env, &restic, &["--json"]));
    assert_eq!(
        (
            again["imported"].as_u64(),
            again["already_imported"].as_u64()
        ),
        (Some(0), Some(3))
    );
    assert_eq!(env.objects("snapshots/").len(), 3);
}

#[test]
fn import_restic_v1_restores_like_restic() {
    import_and_compare(1);
}

#[test]
fn import_restic_v2_compressed_restores_like_restic() {
    import_and_compare(2);
}

#[test]
fn import_restic_killed_mid_way_then_rerun_completes() {
    if !have_restic() {
        return;
    }
    let env = Env::new_local();
    let src = env.path("src");
    let restic = Restic::init(env.path("restic").to_string_lossy().into_owned(), 2);
    make_round(&src, 0);
    let first = restic.backup(&src, "h", "a", "2024-01-01 00:00:00", None);
    // The second snapshot carries enough new data to be killed inside.
    write(&src.join("large.bin"), &random_bytes(9, 48 * 1024 * 1024));
    let second = restic.backup(&src, "h", "b", "2024-01-02 00:00:00", None);
    let third = restic.backup(&src, "h", "c", "2024-01-03 00:00:00", None);

    let mut child = import(&env, &restic, &[])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut seen = Vec::new();
    for line in stderr.lines() {
        let line = line.expect("line");
        seen.push(line.clone());
        if line.starts_with(&format!("restic {}", &first[..8])) && line.contains(" -> ") {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
            break;
        }
    }
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), None, "not killed: {seen:?}");
    assert_eq!(
        env.objects("snapshots/").len(),
        1,
        "killed while importing the second"
    );

    let (code, sum, stderr) = run_json(import(&env, &restic, &["--json"]));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        (sum["imported"].as_u64(), sum["already_imported"].as_u64()),
        (Some(2), Some(1))
    );
    let ids: Vec<String> = imported(&env).into_iter().map(|s| s.0).collect();
    assert_eq!(ids, [first, second, third], "every snapshot once");
    env.ok(&["check", "--read-data"]);
    let snaps = imported(&env);
    assert_restores_alike(
        &env,
        &restic,
        &snaps[1].0,
        snaps[1].1["id"].as_str().unwrap(),
    );
}

/// The pack, offset and length restic's index gives a data blob.
fn locate_blob(restic: &Restic, blob: &str) -> (String, u64, u64) {
    let list = restic.ok(&["list", "index"]);
    for idx in String::from_utf8_lossy(&list.stdout).lines() {
        let out = restic.ok(&["cat", "index", idx.trim()]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("index json");
        for p in v["packs"].as_array().expect("packs") {
            for b in p["blobs"].as_array().expect("blobs") {
                if b["id"] == blob {
                    let pack = p["id"].as_str().unwrap().to_string();
                    return (
                        pack,
                        b["offset"].as_u64().unwrap(),
                        b["length"].as_u64().unwrap(),
                    );
                }
            }
        }
    }
    panic!("blob {blob} is in no index");
}

/// A v2 restic repository and a source tree holding `victim.bin`: below
/// restic's smallest chunk, so one blob whose id is its SHA-256.
fn with_victim(seed: u64) -> (Env, std::path::PathBuf, Restic, Vec<u8>) {
    let env = Env::new();
    let src = env.path("src");
    let restic = Restic::init(env.path("restic").to_string_lossy().into_owned(), 2);
    make_round(&src, 0);
    let victim = random_bytes(seed, 200_000);
    write(&src.join("victim.bin"), &victim);
    set_times(&src, 1_700_000_000);
    (env, src, restic, victim)
}

#[test]
fn import_restic_damaged_pack_reports_the_files_and_imports_the_rest() {
    if !have_restic() {
        return;
    }
    let (env, src, restic, victim) = with_victim(11);
    let ids = [
        restic.backup(&src, "h", "a", "2024-01-01 00:00:00", None),
        restic.backup(&src, "h", "b", "2024-01-02 00:00:00", None),
    ];
    // restic's restores, taken before the damage, without the victim.
    let mut expected = Vec::new();
    for id in &ids {
        let r = env.path(&format!("r-{id}"));
        restic.restore(id, &r);
        let dir = restored(&r, &src);
        let mtime = filetime::FileTime::from_last_modification_time(&dir.metadata().unwrap());
        std::fs::remove_file(dir.join("victim.bin")).expect("rm");
        filetime::set_file_mtime(&dir, mtime).expect("mtime");
        expected.push(dir);
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, &victim);
    let (pack, offset, length) = locate_blob(&restic, &hex::encode(digest));
    let pack_file = env.path("restic").join("data").join(&pack[..2]).join(&pack);
    chmod(&pack_file, 0o600);
    let mut bytes = std::fs::read(&pack_file).expect("read pack");
    let mid = (offset + length / 2) as usize;
    for b in &mut bytes[mid..mid + 8] {
        *b ^= 0x5a;
    }
    std::fs::write(&pack_file, bytes).expect("write pack");

    let (code, sum, stderr) = run_json(import(&env, &restic, &["--json"]));
    assert_eq!(code, Some(3), "partial import: {stderr}");
    assert_eq!(sum["imported"], 2);
    for s in sum["snapshots"].as_array().unwrap() {
        let damaged: Vec<_> = s["damaged"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["path"].clone())
            .collect();
        let victim_path = restored(Path::new("/"), &src.join("victim.bin"));
        assert_eq!(damaged, [serde_json::json!(victim_path)], "{s}");
    }
    assert!(
        stderr.contains(&format!("{}", src.join("victim.bin").display())),
        "{stderr}"
    );
    let snaps = imported(&env);
    for (i, (rid, s)) in snaps.iter().enumerate() {
        assert_eq!(rid, &ids[i]);
        let c = env.path(&format!("c-{rid}"));
        env.ok(&[
            "restore",
            s["id"].as_str().unwrap(),
            "--target",
            c.to_str().unwrap(),
        ]);
        assert_same_tree(&expected[i], &restored(&c, &src));
    }
    env.ok(&["check"]);
}

/// A pack that exists but cannot be read (here its fan-out directory is a
/// file, so the read fails with ENOTDIR; in life permissions or a backend
/// still failing after its retries) is
/// not damage: the import stops without storing the snapshot, so a rerun,
/// once the pack reads again, imports it whole instead of skipping it as
/// done.
#[test]
fn import_restic_unreadable_pack_stops_and_a_rerun_imports_it_whole() {
    if !have_restic() {
        return;
    }
    let (env, src, restic, victim) = with_victim(12);
    let id = restic.backup(&src, "h", "a", "2024-01-01 00:00:00", None);
    let digest = ring::digest::digest(&ring::digest::SHA256, &victim);
    let (pack, _, _) = locate_blob(&restic, &hex::encode(digest));
    let fan_out = env.path("restic").join("data").join(&pack[..2]);
    let aside = env.path("fan-out-aside");
    std::fs::rename(&fan_out, &aside).expect("move the directory aside");
    write(&fan_out, b"not a directory");

    let (code, _, stderr) = run_json(import(&env, &restic, &["--json"]));
    assert!(code != Some(0) && code != Some(3), "{code:?}: {stderr}");
    assert!(imported(&env).is_empty(), "nothing stored: {stderr}");

    std::fs::remove_file(&fan_out).unwrap();
    std::fs::rename(&aside, &fan_out).unwrap();
    let (code, sum, stderr) = run_json(import(&env, &restic, &["--json"]));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(sum["imported"], 1);
    let snaps = imported(&env);
    assert_eq!(snaps.len(), 1);
    assert_restores_alike(&env, &restic, &id, snaps[0].1["id"].as_str().unwrap());
}

#[test]
fn import_restic_wrong_password_is_refused_and_writes_nothing() {
    if !have_restic() {
        return;
    }
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("f"), b"data");
    let restic = Restic::init(env.path("restic").to_string_lossy().into_owned(), 2);
    restic.backup(&src, "h", "t", "2024-01-01 00:00:00", None);
    let before = env.objects("");
    let secret = "not-the-restic-password";
    let out = import(&env, &restic, &[])
        .env("RESTIC_PASSWORD", secret)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(12), "{stderr}");
    assert!(
        stderr.contains("wrong password for the restic repository"),
        "{stderr}"
    );
    assert!(!stderr.contains(secret) && !String::from_utf8_lossy(&out.stdout).contains(secret));
    assert_eq!(env.objects(""), before, "something was written");
    let out = import(&env, &restic, &[])
        .env_remove("RESTIC_PASSWORD")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "no password: a usage error");
}

#[test]
fn import_restic_from_s3() {
    let Ok(endpoint) = std::env::var("CAIRN_TEST_S3") else {
        eprintln!("SKIPPED: CAIRN_TEST_S3 is not set (scripts/seaweedfs.sh)");
        return;
    };
    if !have_restic() {
        return;
    }
    let env = Env::new();
    cairn::storage::open_location(&format!("s3:{endpoint}/restic-import"), true).expect("bucket");
    let location = format!(
        "s3:{endpoint}/restic-import/r-{:016x}",
        rand::random::<u64>()
    );
    let restic = Restic::init(location, 2);
    let src = env.path("src");
    let ids = three_snapshots(&restic, &src);
    let (code, sum, stderr) = run_json(import(&env, &restic, &["--json"]));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(sum["imported"], 3);
    let snaps = imported(&env);
    assert_eq!(snaps.iter().map(|s| s.0.clone()).collect::<Vec<_>>(), ids);
    let (rid, s) = &snaps[2];
    assert_restores_alike(&env, &restic, rid, s["id"].as_str().unwrap());
}
