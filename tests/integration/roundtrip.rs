//! Backup then restore equals the source, in bytes and metadata; unchanged
//! re-backups read nothing and add no pack.

use std::os::unix::fs::MetadataExt;

use crate::util::*;

#[test]
fn rich_tree_round_trips_byte_exact_with_metadata() {
    let env = Env::new();
    let src = env.path("src");
    make_rich_tree(&src);
    let s = env.backup(&[&src], &[]);
    assert_eq!(s["errors"], 0, "{s}");
    let id = s["snapshot_id"].as_str().expect("snapshot id").to_string();
    let target = env.path("restore");
    let out = env.json(&[
        "restore",
        &id[..8],
        "--target",
        target.to_str().unwrap(),
        "--verify",
    ]);
    assert_eq!(out["verified"], true);
    assert!(
        out["verify_failures"].as_array().unwrap().is_empty(),
        "{out}"
    );
    let dst = restored(&target, &src);
    assert_same_tree(&src, &dst);
    // The sparse file's hole stayed a hole.
    let sparse = dst.join("sparse.img").metadata().unwrap();
    assert_eq!(sparse.len(), 40 * 1024 * 1024);
    assert!(
        sparse.blocks() * 512 < 4 * 1024 * 1024,
        "sparse file fully allocated: {} blocks",
        sparse.blocks()
    );
}

#[test]
fn unchanged_rebackup_reads_nothing_and_adds_no_pack() {
    let env = Env::new();
    let src = env.path("src");
    make_rich_tree(&src);
    let first = env.backup(&[&src], &[]);
    let packs = env.pack_count();
    let second = env.backup(&[&src], &[]);
    assert_eq!(second["bytes_read"], 0, "{second}");
    assert_eq!(second["files_new"], 0);
    assert_eq!(second["files_changed"], 0);
    assert!(second["files_unchanged"].as_u64().unwrap() > 200);
    assert_eq!(second["data_blobs_added"], 0, "{second}");
    // The source's ancestors (/tmp) may change under parallel tests, which
    // legitimately adds a small tree pack; with no tree change, nothing at all.
    if second["tree_blobs_added"] == 0 {
        assert_eq!(second["packs_added"], 0);
        assert_eq!(
            env.pack_count(),
            packs,
            "an unchanged re-backup added packs"
        );
    } else {
        assert!(
            second["bytes_added"].as_u64().unwrap() < 64 * 1024,
            "{second}"
        );
    }
    assert_eq!(second["parent"], first["snapshot_id"]);

    // One changed file is read again, and only it.
    write(&src.join("small/d0/f0.txt"), b"changed content");
    let third = env.backup(&[&src], &[]);
    assert_eq!(third["files_changed"], 1, "{third}");
    assert_eq!(third["bytes_read"], 15);
    let target = env.path("restore");
    env.ok(&["restore", "latest", "--target", target.to_str().unwrap()]);
    assert_same_tree(&src, &restored(&target, &src));
}

#[test]
fn several_paths_and_stdin() {
    let env = Env::new();
    let a = env.path("a");
    let b = env.path("b/inner");
    write(&a.join("x"), b"x");
    write(&b.join("y"), b"y");
    env.backup(&[&a, &b], &[]);
    let target = env.path("t");
    env.ok(&["restore", "latest", "--target", target.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(restored(&target, &a).join("x")).unwrap(),
        b"x"
    );
    assert_eq!(
        std::fs::read(restored(&target, &b).join("y")).unwrap(),
        b"y"
    );

    let data = text_bytes(9, 3 * 1024 * 1024);
    let mut child = env
        .cmd(&[
            "--json",
            "backup",
            "--stdin",
            "--stdin-filename",
            "dump.sql",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let dump = env.ok(&["dump", "latest:dump.sql"]);
    assert!(dump.stdout == data, "dump differs from what went in");
}

#[test]
fn library_backup_detects_a_file_changing_while_read() {
    use cairn::backup::{backup, BackupOptions};
    use cairn::source::Event;

    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write(&src.join("f"), b"data");
    let repo = crate::damage::library_repo(dir.path());
    // Grow each file after it was stat'ed, before it is read.
    let mut source = Hooked {
        inner: fs_source(vec![src]),
        hook: |ev: &Event| {
            if let Event::Leaf(e) = ev {
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&e.path)
                    .unwrap();
                std::io::Write::write_all(&mut f, b"more").unwrap();
            }
        },
    };
    let report = backup(
        &repo,
        &mut source,
        &BackupOptions::default(),
        &cairn::progress::NoProgress,
    )
    .unwrap();
    assert_eq!(report.changed_while_read.len(), 1, "{report:?}");
}

/// Unchanged entries take their xattrs from the parent snapshot instead of
/// listing them again; an xattr change moves the ctime, so the next backup
/// reads it. Each snapshot restores the xattrs it was taken with.
#[test]
fn xattrs_follow_changes_across_rebackups() {
    let env = Env::new();
    let src = env.path("src");
    let (file, dir) = (src.join("d/f"), src.join("d"));
    write(&file, b"content");
    if xattr::set(&file, "user.v", b"1").is_err() {
        eprintln!("SKIPPED: no user xattrs on {}", src.display());
        return;
    }
    xattr::set(&dir, "user.d", b"dir").unwrap();
    let id = |v: serde_json::Value| v["snapshot_id"].as_str().unwrap().to_string();
    let first = id(env.backup(&[&src], &[]));
    let unchanged = env.backup(&[&src], &[]);
    assert_eq!(unchanged["files_unchanged"], 1, "{unchanged}");
    let second = id(unchanged);
    xattr::set(&file, "user.v", b"2").unwrap();
    xattr::remove(&dir, "user.d").unwrap();
    let third = id(env.backup(&[&src], &[]));
    let ids = [first.as_str(), second.as_str(), third.as_str()];
    for (id, want_file, want_dir) in [
        (ids[0], Some(b"1".to_vec()), Some(b"dir".to_vec())),
        (ids[1], Some(b"1".to_vec()), Some(b"dir".to_vec())),
        (ids[2], Some(b"2".to_vec()), None),
    ] {
        let target = env.path(&format!("t-{id}"));
        env.ok(&["restore", id, "--target", target.to_str().unwrap()]);
        let back = restored(&target, &src);
        assert_eq!(
            xattr::get(back.join("d/f"), "user.v").unwrap(),
            want_file,
            "{id}"
        );
        assert_eq!(
            xattr::get(back.join("d"), "user.d").unwrap(),
            want_dir,
            "{id}"
        );
    }
}
