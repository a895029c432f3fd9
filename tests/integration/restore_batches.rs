//! A restore planned and executed a batch at a time (memory flat however
//! many files): with batches of a few entries (`CAIRN_TEST_RESTORE_BATCH`),
//! every file, link and directory's metadata comes back as with one plan,
//! including a hard-link pair and shared chunks split across batches, and
//! no batch holds more than its limit.

use std::collections::HashSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use cairn::repo::{OpenOptions, Repository, SnapshotFilter};
use cairn::restore::{plan, plan_batches, Limit, LinkOf};

use crate::util::*;

/// The rich tree, plus a copy of a multi-chunk file far from the original
/// (their chunks are shared, planned in different batches) and a directory
/// with its own mode whose files come in later batches.
fn tree(env: &Env) -> PathBuf {
    let src = env.path("src");
    make_rich_tree(&src);
    let big = std::fs::read(src.join("big/random.bin")).unwrap();
    write(&src.join("zz/copy-of-random.bin"), &big);
    for i in 0..20u64 {
        write(&src.join(format!("zz/late/f{i}")), &text_bytes(i, 100));
    }
    std::fs::set_permissions(src.join("zz/late"), PermissionsExt::from_mode(0o711)).unwrap();
    set_times(&src, 1_700_000_000);
    src
}

fn batched(env: &Env, args: &[&str]) -> std::process::Output {
    env.cmd(args)
        .env("CAIRN_TEST_RESTORE_BATCH", "7")
        .output()
        .unwrap()
}

fn regular_files(dir: &Path) -> usize {
    files_under(dir)
        .iter()
        .filter(|p| p.symlink_metadata().unwrap().is_file())
        .count()
}

/// Batches of 7 entries restore the whole tree byte-exact, hard links as
/// links (`links/a` and `small/link-to-a` are batches apart), every
/// directory's mode and mtime, and `--verify` passes; the totals add up
/// over the batches, in a dry run too.
#[test]
fn a_restore_in_small_batches_restores_everything() {
    let env = Env::new();
    let src = tree(&env);
    env.backup(&[&src], &[]);
    let target = env.path("t");
    let t = target.to_str().unwrap();
    let out = batched(
        &env,
        &["--json", "restore", "latest", "--target", t, "--dry-run"],
    );
    let dry = last_json(&out);
    assert_eq!(dry["files_restored"], regular_files(&src), "{dry}");
    assert!(!target.exists(), "a dry run wrote");

    let out = batched(
        &env,
        &["--json", "restore", "latest", "--target", t, "--verify"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sum = last_json(&out);
    assert_eq!(sum["files_restored"], regular_files(&src), "{sum}");
    assert_eq!(sum["verified"], true, "{sum}");
    assert_eq!(sum["errors"].as_array().unwrap().len(), 0, "{sum}");
    assert_eq!(sum["dirs"], dry["dirs"], "{sum}");
    let dst = restored(&target, &src);
    assert_same_tree(&src, &dst);
    let ino = |p: &str| dst.join(p).metadata().unwrap().ino();
    assert_eq!(ino("links/a"), ino("small/link-to-a"));
    assert_eq!(ino("links/a"), ino("links/b"));
}

/// A hard link whose first name an earlier batch did not restore (a
/// differing file kept by `--overwrite never`) gets a copy of its own with
/// the snapshot's content, never a link to the kept file.
#[test]
fn a_link_to_a_first_name_an_earlier_batch_kept_is_a_copy() {
    let env = Env::new();
    let src = tree(&env);
    env.backup(&[&src], &[]);
    let target = env.path("t");
    let dst = restored(&target, &src);
    write(&dst.join("links/a"), b"someone else's file\n");
    let out = batched(
        &env,
        &["restore", "latest", "--target", target.to_str().unwrap()],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(dst.join("links/a")).unwrap(),
        b"someone else's file\n"
    );
    for name in ["links/b", "small/link-to-a"] {
        assert_eq!(
            std::fs::read(dst.join(name)).unwrap(),
            b"linked content\n",
            "{name}"
        );
        assert_eq!(dst.join(name).metadata().unwrap().nlink(), 1, "{name}");
    }
}

/// Counted, not timed: no batch holds more entries or chunks than its
/// limit (a file is never split, so one larger file is a batch alone),
/// the batches together are the whole plan in order, and a link whose
/// first name an earlier batch restored points at that name.
#[test]
fn no_batch_exceeds_its_limit_and_together_they_are_the_plan() {
    let env = Env::new();
    let src = tree(&env);
    env.backup(&[&src], &[]);
    let storage = cairn::storage::open_location(&env.location, false).unwrap();
    let opts = OpenOptions {
        cache_dir: Some(env.cache.clone()),
        ..Default::default()
    };
    let repo = Repository::open(storage, PASSWORD.as_bytes(), opts).unwrap();
    let snap = repo
        .find_snapshot("latest", &SnapshotFilter::default())
        .unwrap();
    let root = snap.snapshot.tree;
    let whole = plan(&repo, root, &Default::default()).unwrap();
    let limit = Limit {
        entries: 7,
        chunks: 3,
    };
    let (mut files, mut dirs, mut batches) = (Vec::new(), 0, 0);
    let mut restored_links = HashSet::new();
    plan_batches(&repo, root, &Default::default(), limit, &mut |b, _| {
        batches += 1;
        let chunks: usize = b.files.iter().map(|f| f.content.len()).sum();
        assert!(b.files.len() + b.others.len() <= limit.entries);
        assert!(
            chunks <= limit.chunks || b.files.len() == 1,
            "{chunks} chunks"
        );
        for f in &b.files {
            if let Some(LinkOf::Restored(first)) = &f.link_of {
                assert!(files.contains(first), "{first:?} not in an earlier batch");
                restored_links.insert(f.path.clone());
            }
        }
        files.extend(b.files.iter().map(|f| f.path.clone()));
        dirs += b.dirs.len();
        Ok(Vec::new())
    })
    .unwrap();
    let planned: Vec<PathBuf> = whole.files.iter().map(|f| f.path.clone()).collect();
    assert_eq!(files, planned);
    assert_eq!(dirs, whole.dirs.len());
    assert!(batches > 30, "{batches} batches");
    let link = restored(Path::new(""), &src.join("small/link-to-a"));
    assert!(restored_links.contains(&link), "{restored_links:?}");
}
