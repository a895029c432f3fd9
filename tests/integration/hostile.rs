//! Hostile trees: names that would escape the restore target are refused,
//! and nothing is ever written outside it.

use cairn::format::index::BlobKind;
use cairn::format::snapshot::{Snapshot, Summary};
use cairn::format::tree::{Meta, Node, NodeKind, Tree};
use cairn::ids::{BlobId, ChunkId, TreeId};
use cairn::repo::{BlobWriter, Repository};

use crate::util::*;

/// Stores a tree without the encoder's sorting or the decoder's checks.
fn raw_tree(w: &BlobWriter<'_>, repo: &Repository, nodes: Vec<Node>) -> TreeId {
    let bytes = Tree { nodes }.encode();
    let id = TreeId(repo.keys().blob_id(&bytes));
    w.add_if_new(BlobKind::Tree, id.into(), &bytes).unwrap();
    id
}

fn file_node(repo: &Repository, w: &BlobWriter<'_>, name: &[u8]) -> Node {
    let data = b"pwned\n";
    let id = ChunkId(repo.keys().blob_id(data));
    w.add_if_new(BlobKind::Data, BlobId::from(id), data)
        .unwrap();
    Node {
        name: name.to_vec(),
        kind: NodeKind::File {
            size: data.len() as u64,
            content: vec![id],
        },
        meta: Meta {
            mode: 0o100644,
            links: 1,
            ..Default::default()
        },
    }
}

fn snapshot_of(repo: &Repository, tree: TreeId) {
    let (time, off) = cairn::time::now();
    let snap = Snapshot {
        time,
        utc_offset_secs: off,
        host: "evil".into(),
        username: "evil".into(),
        tags: vec![],
        paths: vec!["/".into()],
        excludes: vec![],
        parent: None,
        tree,
        original: None,
        program: "test".into(),
        summary: Summary::default(),
    };
    repo.save_snapshot(&snap).unwrap();
}

#[test]
fn escaping_names_are_refused() {
    for bad in [
        &b".."[..],
        b"/etc/cairn-pwned",
        b"a/../../x",
        b".",
        b"",
        b"x\0y",
    ] {
        let env = Env::uninit();
        let repo = env.library_repo();
        let w = BlobWriter::new(&repo);
        let evil = file_node(&repo, &w, bad);
        let inner = raw_tree(&w, &repo, vec![evil]);
        let dir = Node {
            name: b"d".to_vec(),
            kind: NodeKind::Dir { subtree: inner },
            meta: Meta {
                mode: 0o40755,
                ..Default::default()
            },
        };
        let root = raw_tree(&w, &repo, vec![dir]);
        w.finish().unwrap();
        snapshot_of(&repo, root);
        drop(repo);
        let t = env.path("deep/target");
        std::fs::create_dir_all(&t).unwrap();
        let out = env.run(&["restore", "latest", "--target", t.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(4),
            "name {bad:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Nothing outside the target, nothing at all inside it.
        assert!(!env.path("deep/x").exists() && !env.path("x").exists());
        assert!(!std::path::Path::new("/etc/cairn-pwned").exists());
        assert!(
            files_under(&env.path("deep")).is_empty(),
            "name {bad:?} wrote files"
        );
    }
}

#[test]
fn symlinks_in_the_target_are_never_followed() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("f"), b"snapshot data");
    std::fs::create_dir_all(src.join("d")).unwrap();
    env.backup(&[&src], &[]);
    let t = env.path("t");
    let dst = restored(&t, &src);
    std::fs::create_dir_all(&dst).unwrap();
    let outside = env.path("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(outside.join("victim"), dst.join("f")).unwrap();
    std::os::unix::fs::symlink(&outside, dst.join("d")).unwrap();
    let out = env.run(&[
        "restore",
        "latest",
        "--target",
        t.to_str().unwrap(),
        "--overwrite",
        "always",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!outside.join("victim").exists(), "wrote through a symlink");
    assert!(std::fs::read_dir(&outside).unwrap().next().is_none());
    assert_eq!(std::fs::read(dst.join("f")).unwrap(), b"snapshot data");
    assert!(dst.join("d").symlink_metadata().unwrap().is_dir());
}

#[test]
fn overwrite_never_keeps_what_is_in_the_way_of_symlinks_and_links() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a"), b"linked data");
    std::fs::hard_link(src.join("a"), src.join("b")).unwrap();
    std::os::unix::fs::symlink("a", src.join("link")).unwrap();
    env.backup(&[&src], &[]);
    let t = env.path("t");
    let dst = restored(&t, &src);
    // The user's own files sit where the snapshot has a symlink and the
    // first name of a hard-linked pair.
    write(&dst.join("link"), b"my notes");
    write(&dst.join("a"), b"my other notes");
    let out = env.run(&["restore", "latest", "--target", t.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(dst.join("link")).unwrap(), b"my notes");
    assert_eq!(std::fs::read(dst.join("a")).unwrap(), b"my other notes");
    // The second name gets the snapshot's content, not a link to the kept file.
    assert_eq!(std::fs::read(dst.join("b")).unwrap(), b"linked data");
    use std::os::unix::fs::MetadataExt;
    assert_ne!(
        std::fs::metadata(dst.join("a")).unwrap().ino(),
        std::fs::metadata(dst.join("b")).unwrap().ino()
    );
}

#[test]
fn a_file_swapped_for_a_symlink_during_backup_is_not_followed() {
    use cairn::backup::{backup, BackupOptions};
    use cairn::source::Event;

    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, b"root-only secret").unwrap();
    let src = dir.path().join("src");
    write(&src.join("victim"), b"harmless");
    write(&src.join("other"), b"fine");
    let repo = crate::damage::library_repo(dir.path());
    // Swap the file for a symlink to the secret after the walk saw it.
    let mut source = Hooked {
        inner: fs_source(vec![src]),
        hook: move |ev: &Event| {
            if let Event::Leaf(e) = ev {
                if e.path.ends_with("victim") {
                    std::fs::remove_file(&e.path).unwrap();
                    std::os::unix::fs::symlink(&secret, &e.path).unwrap();
                }
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
    assert_eq!(report.skipped.len(), 1, "{report:?}");
    assert!(report.skipped[0].1.contains("symlink"), "{report:?}");
    // The secret's content was never stored.
    let id = cairn::ids::BlobId(repo.keys().blob_id(b"root-only secret"));
    assert!(repo.locate(BlobKind::Data, &id).unwrap().is_none());
}
