//! An index file a crashed prune left behind must stay superseded even
//! after the file that superseded it is gone: the next prune's index names
//! it too, so a fresh cache never loads it (its packs may be deleted).

use std::path::{Path, PathBuf};

use crate::util::*;

fn index_files(repo: &Path) -> Vec<PathBuf> {
    files_under(&repo.join("index"))
}

#[test]
fn a_stale_index_file_is_superseded_by_every_later_prune() {
    // LOCAL-ONLY: puts index files back by hand, as a crashed prune leaves them.
    let env = Env::new_local();
    let repo = env.path("repo");
    let src = env.path("src");
    write(&src.join("a.bin"), &random_bytes(1, 300_000));
    env.backup(&[&src], &[]);
    write(&src.join("a.bin"), &random_bytes(2, 300_000));
    env.backup(&[&src], &[]);
    let first: Vec<(PathBuf, Vec<u8>)> = index_files(&repo)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    env.ok(&["forget", "--keep-last", "1"]);
    env.ok(&["prune", "--grace", "0"]);
    // A prune that stopped before deleting the files it superseded.
    let put_back = || {
        for (p, bytes) in &first {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
    };
    put_back();
    write(&src.join("a.bin"), &random_bytes(3, 300_000));
    env.backup(&[&src], &[]);
    env.ok(&["forget", "--keep-last", "1"]);
    // One pass (a zero grace period makes two): it supersedes the live
    // file and names the stale ones it listed.
    env.ok(&["prune"]);
    // As if it had deleted the file that superseded them and stopped
    // before deleting the stale ones; their packs went in the first prune.
    put_back();
    let fresh = env.path("fresh-cache");
    let out = env
        .cmd(&["check", "--read-data"])
        .env("CAIRN_CACHE_DIR", &fresh)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stale index files came back to life: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let target = env.path("t");
    env.cmd(&[
        "restore",
        "latest",
        "--target",
        target.to_str().unwrap(),
        "--verify",
    ])
    .env("CAIRN_CACHE_DIR", &fresh)
    .status()
    .unwrap()
    .success()
    .then_some(())
    .expect("restore with a fresh cache");
}
