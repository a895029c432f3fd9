//! The golden repository: made once with `generate_golden` (ignored test) and
//! committed under tests/golden/. Opening and restoring it byte-exact on
//! every run means the format can never change by accident.

use std::path::{Path, PathBuf};

use crate::util::*;

const GOLDEN_PASSWORD: &str = "golden vectors";

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// The source the golden repository was made from, recreated exactly.
fn golden_source(root: &Path) {
    write(&root.join("hello.txt"), b"hello, cairn\n");
    write(&root.join("sub/text.log"), &text_bytes(7, 200_000));
    write(&root.join("sub/random.bin"), &random_bytes(8, 1_500_000));
    write(&root.join("empty"), b"");
    std::os::unix::fs::symlink("hello.txt", root.join("link")).unwrap();
    set_times(root, 1_750_000_000);
}

fn cmd(repo: &Path, cache: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .env("CAIRN_REPOSITORY", repo)
        .env("CAIRN_PASSWORD", GOLDEN_PASSWORD)
        .env("CAIRN_CACHE_DIR", cache)
        .output()
        .unwrap()
}

#[test]
#[ignore = "writes tests/golden; run by hand only when the format changes on purpose"]
fn generate_golden() {
    let dir = golden_dir();
    let _ = std::fs::remove_dir_all(&dir);
    let tmp = tempfile::tempdir().unwrap();
    let src = Path::new("/tmp/cairn-golden-source");
    let _ = std::fs::remove_dir_all(src);
    golden_source(src);
    let repo = dir.join("repo");
    let cache = tmp.path().join("cache");
    let out = cmd(&repo, &cache, &init_args(&["--pack-size-mib", "1"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cmd(
        &repo,
        &cache,
        &[
            "backup",
            "--host",
            "golden",
            "--time",
            "2026-11-22T00:00:00Z",
            src.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn golden_repository_restores_byte_exact() {
    let repo = golden_dir().join("repo");
    assert!(repo.join("config").exists(), "tests/golden/repo is missing");
    let tmp = tempfile::tempdir().unwrap();
    // Work on a copy so the committed files stay untouched.
    let copy = tmp.path().join("repo");
    copy_dir(&repo, &copy);
    let cache = tmp.path().join("cache");
    let target = tmp.path().join("target");
    let out = cmd(
        &copy,
        &cache,
        &[
            "restore",
            "latest",
            "--verify",
            "--target",
            target.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = tmp.path().join("expected");
    golden_source(&expected);
    let got = target.join("tmp/cairn-golden-source");
    for f in ["hello.txt", "sub/text.log", "sub/random.bin", "empty"] {
        assert_eq!(
            std::fs::read(got.join(f)).unwrap(),
            std::fs::read(expected.join(f)).unwrap(),
            "{f}"
        );
    }
    assert_eq!(
        std::fs::read_link(got.join("link")).unwrap(),
        Path::new("hello.txt")
    );
    let out = cmd(&copy, &cache, &["--json", "snapshots"]);
    let list = last_json(&out);
    assert_eq!(list[0]["host"], "golden");
    assert_eq!(list[0]["time_unix"]["secs"], 1_795_305_600);
}
