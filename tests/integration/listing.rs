//! Text output people read: `ls -l`, `find` and `snapshots` columns.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::util::*;

/// 2026-11-01T12:00:00Z.
const MTIME: u64 = 1_793_534_400;

/// A small tree with known modes, sizes, a symlink and a fixed mtime.
fn source(env: &Env) -> std::path::PathBuf {
    let src = env.path("src");
    let f = src.join("d/file.bin");
    write(&f, &vec![7u8; 5000]);
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(MTIME);
    std::fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_modified(t)
        .unwrap();
    std::os::unix::fs::symlink("file.bin", src.join("d/link")).unwrap();
    write(
        &src.join("d/a-much-longer-file-name.txt"),
        &vec![1u8; 3 << 20],
    );
    src
}

/// Column where the text `needle` starts on each line containing `within`.
fn column_of(text: &str, needle: &str) -> Vec<usize> {
    text.lines()
        .filter_map(|l| l.find(needle).map(|i| l[..i].chars().count()))
        .collect()
}

fn backup_at_plus5(env: &Env, src: &Path) {
    env.backup(&[src], &["--time", "2026-11-02T00:00:00+05:00"]);
}

#[test]
fn ls_long_shows_modes_sizes_targets_aligned_in_the_snapshot_offset() {
    let env = Env::new();
    let src = source(&env);
    backup_at_plus5(&env, &src);
    let out = env.ok(&["ls", "-l", "latest"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let file_line = text.lines().find(|l| l.ends_with("/d/file.bin")).unwrap();
    assert!(file_line.starts_with("-rw-r----- "), "{text}");
    assert!(
        file_line.contains(" 4.9 KiB 2026-11-01 17:00:00 "),
        "{text}"
    );
    assert!(text.contains(" 3.0 MiB "), "{text}");
    assert!(
        text.lines().any(|l| l.ends_with("/d/link -> file.bin")),
        "{text}"
    );
    let dir_line = text.lines().find(|l| l.ends_with("/d")).unwrap();
    assert!(dir_line.starts_with("drwx"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("lrwxrwxrwx ")), "{text}");
    // Every path starts in the same column.
    let cols = column_of(&text, src.to_str().unwrap());
    assert!(
        cols.len() >= 4 && cols.iter().all(|c| *c == cols[0]),
        "{text}"
    );

    let json = crate::find::json_lines(&env.ok(&["--json", "ls", "latest"]));
    let link = json
        .iter()
        .find(|v| v["path"].as_str().unwrap_or("").ends_with("/d/link"))
        .unwrap();
    assert_eq!(link["link_target"], "file.bin");
    assert_eq!(link["permissions"], "lrwxrwxrwx");
    let file = json
        .iter()
        .find(|v| v["path"].as_str().unwrap_or("").ends_with("/d/file.bin"))
        .unwrap();
    assert_eq!(file["mtime"], "2026-11-01T17:00:00+05:00");
    assert_eq!(file["size"], 5000);
    assert_eq!(json.last().unwrap()["message_type"], "summary");
}

#[test]
fn find_shows_modes_human_sizes_and_offset_times_aligned() {
    let env = Env::new();
    let src = source(&env);
    backup_at_plus5(&env, &src);
    let out = env.ok(&["find", "*i*"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let file_line = text.lines().find(|l| l.ends_with("/d/file.bin")).unwrap();
    assert!(
        file_line.contains(" -rw-r----- 4.9 KiB 2026-11-01 17:00:00 /"),
        "{text}"
    );
    assert!(text.lines().any(|l| l.contains(" lrwxrwxrwx ")), "{text}");
    assert!(
        text.lines().any(|l| l.ends_with("/d/link -> file.bin")),
        "{text}"
    );
    let json = env.ok(&["--json", "find", "link"]);
    let first: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&json.stdout)
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["link_target"], "file.bin", "{first}");
    let cols = column_of(&text, src.to_str().unwrap());
    assert!(
        cols.len() >= 3 && cols.iter().all(|c| *c == cols[0]),
        "{text}"
    );
}

#[test]
fn snapshots_columns_fit_long_hosts_and_tags() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("f"), b"x");
    let host = "a-rather-long-host-name.with.a.domain.example.org";
    let tags: Vec<String> = (0..6).map(|i| format!("tag-number-{i}")).collect();
    let mut extra = vec!["--host", host];
    for t in &tags {
        extra.extend(["--tag", t.as_str()]);
    }
    env.backup(&[&src], &extra);
    env.backup(&[&src], &["--host", "h"]);
    let out = env.ok(&["snapshots"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains(&format!(" {host} {} ", tags.join(","))),
        "{text}"
    );
    // The paths column starts in the same place on every row, header included.
    let mut cols = column_of(&text, src.to_str().unwrap());
    cols.extend(column_of(&text, "paths"));
    assert_eq!(cols.len(), 3, "{text}");
    assert!(cols.iter().all(|c| *c == cols[0]), "{text}");
    // And no column is padded wider than its content needs.
    let header = text.lines().next().unwrap();
    let host_col = header.find("host").unwrap();
    let tags_col = header.find("tags").unwrap();
    assert_eq!(tags_col - host_col, host.len() + 1, "{text}");
}

/// Stdout lines of a backup of `src` with extra flags.
fn backup_lines(env: &Env, src: &Path, flags: &[&str]) -> Vec<String> {
    let mut args = vec!["backup"];
    args.extend_from_slice(flags);
    let src = src.to_str().unwrap();
    args.push(src);
    let out = env.ok(&args);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn backup_verbose_lists_new_modified_and_with_vv_unmodified_files() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a"), b"aaaa");
    write(&src.join("b"), b"bb");
    let s = src.display();
    let first = backup_lines(&env, &src, &["-v"]);
    assert!(
        first.contains(&format!("new        {s}/a (4 B)")),
        "{first:?}"
    );
    assert!(
        first.contains(&format!("new        {s}/b (2 B)")),
        "{first:?}"
    );
    let quiet = backup_lines(&env, &src, &[]);
    assert!(!quiet.iter().any(|l| l.contains("/a (")), "{quiet:?}");

    write(&src.join("b"), b"bbbbbb");
    write(&src.join("c"), b"c");
    let dry = backup_lines(&env, &src, &["-v", "--dry-run"]);
    assert!(
        dry.contains(&format!("would read {s}/b (6 B, modified)")),
        "{dry:?}"
    );
    assert!(
        dry.contains(&format!("would read {s}/c (1 B, new)")),
        "{dry:?}"
    );
    assert!(
        !dry.iter().any(|l| l.contains(&format!("{s}/a "))),
        "{dry:?}"
    );
    let dry_all = backup_lines(&env, &src, &["-vv", "--dry-run"]);
    assert!(
        dry_all.contains(&format!("would skip {s}/a (4 B, unmodified)")),
        "{dry_all:?}"
    );

    let second = backup_lines(&env, &src, &["-vv"]);
    assert!(
        second.contains(&format!("modified   {s}/b (6 B)")),
        "{second:?}"
    );
    assert!(
        second.contains(&format!("new        {s}/c (1 B)")),
        "{second:?}"
    );
    assert!(
        second.contains(&format!("unmodified {s}/a (4 B)")),
        "{second:?}"
    );

    let json = backup_lines(&env, &src, &["--json", "-v"]);
    let files: Vec<serde_json::Value> = json
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["message_type"] == "file")
        .collect();
    assert!(
        files.is_empty(),
        "nothing changed, nothing listed: {json:?}"
    );
    write(&src.join("a"), b"changed a");
    let json = backup_lines(&env, &src, &["--json", "-v"]);
    let line: serde_json::Value = serde_json::from_str(&json[0]).unwrap();
    assert_eq!(line["action"], "modified", "{json:?}");
    assert_eq!(line["size"], 9);
    assert!(line["path"].as_str().unwrap().ends_with("/a"));
}
