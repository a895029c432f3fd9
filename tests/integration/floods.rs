//! Issue 13, floods: a full disk stops a restore with one message and a
//! count, and `check` reports lost chunks per file, not per chunk.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A small tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts one, or says why not (not root, no tmpfs) and returns `None`.
    fn mount(at: &Path, opts: &str) -> Option<Tmpfs> {
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED: mounting a small tmpfs needs root");
            return None;
        }
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIPPED: could not mount a tmpfs at {}", at.display());
            return None;
        }
        Some(Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A restore onto a disk that fills up used to print one "No space left"
/// line per file; it stops at the first, says so once, and counts the rest.
/// Every file it does leave behind is complete.
#[test]
fn restore_onto_a_full_disk_stops_with_one_message() {
    let env = Env::new();
    let src = env.path("src");
    for i in 0..300u64 {
        write(&src.join(format!("f{i:03}")), &random_bytes(i, 20_000));
    }
    env.backup(&[&src], &[]);
    let Some(fs) = Tmpfs::mount(&env.path("small"), "size=1m") else {
        return;
    };
    let target = fs.0.join("t");
    let t = target.to_string_lossy().into_owned();
    let out = env.run(&["restore", "latest", "--target", &t]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.lines().count() <= 3, "a flood of messages:\n{err}");
    assert!(err.contains("No space left"), "{err}");
    assert!(err.contains(&format!("restore into {t} stopped")), "{err}");
    let line = err.lines().find(|l| l.contains("stopped")).unwrap();
    assert!(line.contains(&format!("{t}/")), "names the file: {line}");
    let restored_dir = restored(&target, &src);
    let left: Vec<_> = std::fs::read_dir(&restored_dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    let missing = 300 - left.len();
    assert!(missing > 0 && left.len() < 100, "{} restored", left.len());
    assert!(
        line.contains(&format!("{missing} files not restored")),
        "{err}"
    );
    for p in &left {
        let name = p.file_name().unwrap();
        assert_eq!(
            std::fs::read(p).unwrap(),
            std::fs::read(src.join(name)).unwrap()
        );
    }
    // The full list on request.
    std::fs::remove_dir_all(&target).unwrap();
    let out = env.run(&["restore", "latest", "--target", &t, "-v"]);
    assert!(stderr(&out).lines().count() > 100, "{}", stderr(&out));
    std::fs::remove_dir_all(&target).unwrap();
    let out = env.run(&["--json", "restore", "latest", "--target", &t]);
    let sum = last_json(&out);
    assert_eq!(
        sum["files_not_restored"],
        sum["errors"].as_array().unwrap().len()
    );
    assert!(sum["disk_full"]["message"]
        .as_str()
        .unwrap()
        .contains("No space left"));
}

/// A restore in batches whose next batch cannot even make its first
/// directory (no inode left, earlier batches written) stops as on a full
/// disk: exit 3, one message, the files not restored counted; it used to
/// end with a bare error (exit 1) and no report.
#[test]
fn restore_in_batches_out_of_inodes_at_a_directory_stops_with_one_message() {
    let env = Env::new();
    let src = env.path("src");
    for d in 0..12 {
        for f in 0..5 {
            write(&src.join(format!("d{d:02}/f{f}")), b"");
        }
    }
    env.backup(&[&src], &[]);
    // Batches of 5 entries: the first makes d00 and d01 and d00's files,
    // each next one d(k) and d(k-1)'s files. Inodes for the tmpfs root,
    // the target and the source's path below it, and three batches: the
    // fourth fails at its directory, before any file.
    let above = 1 + src.components().count() - 1;
    let inodes = 1 + above + 7 + 6 + 6;
    let Some(fs) = Tmpfs::mount(&env.path("small"), &format!("nr_inodes={inodes}")) else {
        return;
    };
    let target = fs.0.join("t");
    let t = target.to_string_lossy().into_owned();
    let out = env
        .cmd(&["--json", "restore", "latest", "--target", &t])
        .env("CAIRN_TEST_RESTORE_BATCH", "5")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    let sum = last_json(&out);
    let message = sum["disk_full"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("No space left"), "{sum}");
    assert!(message.contains("d04"), "the directory it failed at: {sum}");
    assert_eq!(sum["files_restored"], 15, "{sum}");
    assert_eq!(sum["files_not_restored"], 45, "{sum}");
}

/// `check` used to print a "chunk … not in any index" line per lost chunk
/// before its summary: one line per damaged file now, with counts, and the
/// full list with `-v` or `--json`.
#[test]
fn check_reports_lost_chunks_per_file_not_per_chunk() {
    // LOCAL-ONLY: deletes a pack file.
    let env = Env::new_local();
    let src = env.path("src");
    let big = src.join("big.bin");
    write(&big, &random_bytes(5, 6_000_000));
    env.backup(&[&src], &[]);
    write(&src.join("later.txt"), b"later");
    env.backup(&[&src], &[]);
    let pack = files_under(&env.repo.join("packs"))
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    std::fs::remove_file(&pack).unwrap();
    // The index forgets the pack: its chunks are now in no index.
    env.ok(&["repair", "index"]);

    let out = env.run(&["check"]);
    assert_eq!(out.status.code(), Some(4));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let per_chunk = text
        .lines()
        .filter(|l| l.contains("not in any index"))
        .count();
    assert_eq!(per_chunk, 1, "{text}");
    assert!(text.contains("(the list with -v or --json)"), "{text}");
    let line = text
        .lines()
        .find(|l| l.contains(&format!("file {}: ", big.display())))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("chunks missing, in 2 snapshots"), "{line}");
    assert_eq!(
        text.lines()
            .filter(|l| l.contains(&big.display().to_string()))
            .count(),
        1,
        "{text}"
    );

    let out = env.run(&["check", "-v"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let listed = text
        .lines()
        .filter(|l| l.contains("not in any index"))
        .count();
    assert!(listed > 3, "{text}");
    let out = env.run(&["--json", "check"]);
    let problems = last_json(&out)["problems"].as_array().unwrap().len();
    assert!(problems >= listed, "{problems} < {listed}");
}
