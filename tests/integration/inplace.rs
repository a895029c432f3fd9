//! Issue 14, two-phase in-place restore: `restore SNAP --in-place` puts a
//! snapshot's files back at their original paths, after staging and
//! verifying them beside each and backing up what it replaces
//! (`pre-restore`); a staging problem touches nothing live; hooks run
//! around the swap; the safety snapshot undoes the restore byte-exact.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::util::*;

/// A live directory and a snapshot of it taken before it changed: the
/// snapshot's content is "new" (what the restore puts back), the live
/// content now is "old".
pub struct Scene {
    pub env: Env,
    pub live: PathBuf,
    pub snapshot: String,
    /// Every file of the snapshot, by path.
    pub new: BTreeMap<PathBuf, Vec<u8>>,
    /// The live files now, by path (a snapshot file that is missing now is absent).
    pub old: BTreeMap<PathBuf, Vec<u8>>,
}

/// Three files in two directories (one over several packs of 1 MiB), a
/// fourth that is deleted after the snapshot, and a live file the snapshot
/// does not have.
pub fn scene(env: Env) -> Scene {
    let live = env.path("live");
    let mut new = BTreeMap::new();
    new.insert(live.join("big.bin"), random_bytes(1, 3 << 20));
    new.insert(live.join("a.txt"), text_bytes(2, 10_000));
    new.insert(live.join("sub/b.txt"), text_bytes(3, 5_000));
    new.insert(live.join("sub/gone.txt"), text_bytes(4, 1_000));
    for (p, data) in &new {
        write(p, data);
    }
    let s = env.backup(&[&live], &[]);
    let snapshot = s["snapshot_id"].as_str().unwrap().to_string();
    let mut old = BTreeMap::new();
    old.insert(live.join("big.bin"), random_bytes(11, 3 << 20));
    old.insert(live.join("a.txt"), text_bytes(12, 12_000));
    old.insert(live.join("sub/b.txt"), text_bytes(13, 4_000));
    old.insert(live.join("extra.txt"), b"not in the snapshot".to_vec());
    for (p, data) in &old {
        write(p, data);
    }
    std::fs::remove_file(live.join("sub/gone.txt")).unwrap();
    Scene {
        env,
        live,
        snapshot,
        new,
        old,
    }
}

impl Scene {
    /// Every snapshot file has the snapshot's content; the file the
    /// snapshot does not have is untouched.
    pub fn assert_new(&self) {
        for (p, data) in &self.new {
            let now = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            assert!(&now == data, "{} is not the snapshot's", p.display());
        }
        assert_eq!(
            std::fs::read(self.live.join("extra.txt")).unwrap(),
            b"not in the snapshot"
        );
        assert_no_staging(&self.live);
    }

    /// Every live file is as it was before the restore.
    pub fn assert_old(&self) {
        for (p, data) in &self.old {
            assert!(
                &std::fs::read(p).unwrap() == data,
                "{} changed",
                p.display()
            );
        }
        assert!(!self.live.join("sub/gone.txt").exists());
    }

    /// Every destination is entirely the old file or entirely the new one.
    pub fn assert_old_or_new(&self) -> usize {
        let mut new = 0;
        for (p, data) in &self.new {
            match (std::fs::read(p).ok(), self.old.get(p)) {
                (Some(now), _) if &now == data => new += 1,
                (Some(now), Some(old)) if &now == old => {}
                (None, None) => {}
                (now, _) => panic!(
                    "{} is neither the old nor the new file ({:?} bytes)",
                    p.display(),
                    now.map(|n| n.len())
                ),
            }
        }
        new
    }

    pub fn pre_restore_snapshots(&self) -> Vec<String> {
        let list = self.env.json(&["snapshots", "--tag", "pre-restore"]);
        list.as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    }
}

/// No staging directory is left anywhere below `dir`.
pub fn assert_no_staging(dir: &Path) {
    for e in walk(dir) {
        let name = e.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !name.starts_with(".cairn-restore-") && !name.contains(".cairn-replaced-"),
            "left behind: {}",
            e.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn in_place_restore_replaces_live_files_and_its_safety_snapshot_undoes_it() {
    let s = scene(Env::new());
    let r = s.env.json(&["restore", &s.snapshot, "--in-place"]);
    assert_eq!(r["files_swapped"], 4, "{r}");
    assert_eq!(r["errors"].as_array().unwrap().len(), 0, "{r}");
    s.assert_new();
    let safety = r["safety_snapshot"].as_str().unwrap().to_string();
    assert_eq!(s.pre_restore_snapshots(), vec![safety.clone()]);
    // The safety snapshot holds exactly the replaced files, as they were.
    let undo = s.env.json(&["restore", &safety, "--in-place"]);
    assert_eq!(undo["files_swapped"], 3, "{undo}");
    for (p, data) in &s.old {
        assert!(
            &std::fs::read(p).unwrap() == data,
            "{} not undone",
            p.display()
        );
    }
    // Created by the restore, not in the safety snapshot: left in place.
    assert_eq!(
        std::fs::read(s.live.join("sub/gone.txt")).unwrap(),
        s.new[&s.live.join("sub/gone.txt")]
    );
    assert_no_staging(&s.live);
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let s = scene(Env::new());
    let out = s
        .env
        .ok(&["restore", &s.snapshot, "--in-place", "--dry-run"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("replace") && text.contains("big.bin"),
        "{text}"
    );
    assert!(text.contains(".cairn-restore-"), "{text}");
    let r = s
        .env
        .json(&["restore", &s.snapshot, "--in-place", "--dry-run"]);
    assert_eq!(r["dry_run"], true);
    let actions: Vec<&str> = r["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.iter().filter(|a| **a == "create").count(), 1, "{r}");
    assert_eq!(
        actions.iter().filter(|a| **a == "replace").count(),
        3,
        "{r}"
    );
    s.assert_old();
    assert_no_staging(&s.live);
    assert!(s.pre_restore_snapshots().is_empty());
}

#[test]
fn in_place_conflicts_with_target() {
    let s = scene(Env::new());
    let t = s.env.path("t");
    let out = s.env.run(&[
        "restore",
        &s.snapshot,
        "--in-place",
        "--target",
        t.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    s.assert_old();
}

#[test]
fn damaged_data_fails_the_staging_and_touches_nothing_live() {
    let env = Env::uninit_local(); // LOCAL-ONLY: flips bytes in a pack file
    env.init_small_packs();
    let s = scene(env);
    // One pack of the big file: the other files stage, then all is undone.
    let pack = files_under(&s.env.repo.join("packs"))
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&pack).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&pack, bytes).unwrap();
    let out = s.env.run(&["restore", &s.snapshot, "--in-place"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains("big.bin") && err.contains("nothing was replaced"),
        "{err}"
    );
    s.assert_old();
    assert_no_staging(&s.live);
    assert!(
        s.pre_restore_snapshots().is_empty(),
        "no safety snapshot before staging worked"
    );
}

#[test]
fn a_failing_before_hook_replaces_nothing_and_exits_7() {
    let s = scene(Env::new());
    let after = s.env.path("after-ran");
    let out = s.env.run(&[
        "restore",
        &s.snapshot,
        "--in-place",
        "--hook-before",
        "echo service refuses to stop >&2; exit 1",
        "--hook-after",
        &format!("touch {}", after.display()),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(7), "{err}");
    assert!(err.contains("service refuses to stop"), "{err}");
    assert!(err.contains("this run replaced no file"), "{err}");
    s.assert_old();
    assert_no_staging(&s.live);
    assert!(
        !after.exists(),
        "the after-hook runs only once the before-hook succeeded"
    );
}

#[test]
fn hooks_run_around_the_swap() {
    let s = scene(Env::new());
    let a = s.live.join("a.txt");
    let seen = s.env.path("seen");
    let before = format!("cp {} {}.before", a.display(), seen.display());
    let after = format!(
        "cp {} {}.after; echo $CAIRN_HOOK $CAIRN_RESULT > {}.env",
        a.display(),
        seen.display(),
        seen.display()
    );
    let r = s.env.json(&[
        "restore",
        &s.snapshot,
        "--in-place",
        "--hook-before",
        &before,
        "--hook-after",
        &after,
    ]);
    assert_eq!(r["files_swapped"], 4, "{r}");
    let read = |ext: &str| std::fs::read(format!("{}.{ext}", seen.display())).unwrap();
    assert_eq!(
        read("before"),
        s.old[&a],
        "the before-hook ran before the swap"
    );
    assert_eq!(read("after"), s.new[&a], "the after-hook ran after it");
    assert_eq!(read("env"), b"after ok\n");
    s.assert_new();
}

#[test]
fn a_symlink_at_a_destination_is_refused_before_anything_changes() {
    let s = scene(Env::new());
    let b = s.live.join("sub/b.txt");
    std::fs::remove_file(&b).unwrap();
    std::os::unix::fs::symlink("../a.txt", &b).unwrap();
    let out = s.env.run(&["restore", &s.snapshot, "--in-place"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("b.txt") && err.contains("symlink"), "{err}");
    assert_eq!(std::fs::read_link(&b).unwrap(), Path::new("../a.txt"));
    assert_eq!(
        std::fs::read(s.live.join("a.txt")).unwrap(),
        s.old[&s.live.join("a.txt")]
    );
    assert_no_staging(&s.live);
}

#[test]
fn hooks_on_a_restore_into_a_target() {
    let s = scene(Env::new());
    let t = s.env.path("t");
    let target = t.to_str().unwrap();
    let out = s.env.run(&[
        "restore",
        &s.snapshot,
        "--target",
        target,
        "--hook-before",
        "exit 2",
    ]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert!(!t.exists(), "a failed before-hook writes nothing");
    let seen = s.env.path("seen");
    let after = format!("echo $CAIRN_RESULT > {}", seen.display());
    let out = s.env.run(&[
        "restore",
        &s.snapshot,
        "--target",
        target,
        "--hook-after",
        &after,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read(&seen).unwrap(), b"ok\n");
    let out = s.env.run(&[
        "restore",
        &s.snapshot,
        "--target",
        target,
        "--hook-after",
        "exit 5",
    ]);
    assert_eq!(
        out.status.code(),
        Some(7),
        "a failed after-hook fails the run"
    );
}

#[test]
fn a_missing_directory_is_created_with_the_snapshots_mode() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let live = env.path("live");
    write(
        &live.join("deep/er/f.txt"),
        b"in a directory that will be gone",
    );
    let mode = std::fs::Permissions::from_mode(0o750);
    std::fs::set_permissions(live.join("deep"), mode).unwrap();
    let s = env.backup(&[&live], &[]);
    std::fs::remove_dir_all(live.join("deep")).unwrap();
    let r = env.json(&["restore", s["snapshot_id"].as_str().unwrap(), "--in-place"]);
    assert_eq!(r["files_swapped"], 1, "{r}");
    assert!(r["safety_snapshot"].is_null(), "nothing was replaced: {r}");
    assert_eq!(
        std::fs::read(live.join("deep/er/f.txt")).unwrap(),
        b"in a directory that will be gone"
    );
    let m = std::fs::metadata(live.join("deep")).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o750);
    assert_no_staging(&live);
}
