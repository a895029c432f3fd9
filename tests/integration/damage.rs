//! A flipped byte in any stored object is detected and refused, never
//! restored as data.

use std::path::Path;
use std::sync::Arc;

use cairn::crypto::KdfParams;
use cairn::repo::{InitOptions, OpenOptions, Repository};
use cairn::storage::local::LocalStorage;

use crate::util::*;

/// A repository made through the library, openable by the CLI at `dir/repo`
/// with the harness's password and cache.
pub fn library_repo(dir: &Path) -> Repository {
    let storage = Arc::new(LocalStorage::create(dir.join("repo")).unwrap());
    let init = InitOptions {
        kdf: Some(KdfParams::insecure_for_tests()),
        ..Default::default()
    };
    let open = OpenOptions {
        cache_dir: Some(dir.join("cache")),
        ..Default::default()
    };
    Repository::init(storage, PASSWORD.as_bytes(), init, open).unwrap()
}

fn flip(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    let i = at.min(b.len() - 1);
    b[i] ^= 0x40;
    std::fs::write(path, b).unwrap();
}

/// Restores `latest` into a fresh target, expects exit 4, and checks that
/// whatever was restored is exactly the original: damage is never data.
fn restore_refuses_damage(env: &Env, src: &Path) -> String {
    let t = env.path("t");
    let out = env.run(&["restore", "latest", "--target", t.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    for f in ["a.txt", "b.bin"] {
        if let Ok(data) = std::fs::read(restored(&t, src).join(f)) {
            let orig = std::fs::read(src.join(f)).unwrap();
            assert!(data == orig, "{f}: damaged data was restored as content");
        }
    }
    stderr
}

fn setup() -> (Env, std::path::PathBuf) {
    let env = Env::new_local(); // LOCAL-ONLY: flips bytes in the repository files
    let src = env.path("src");
    write(&src.join("a.txt"), &text_bytes(1, 300_000));
    write(&src.join("b.bin"), &random_bytes(2, 200_000));
    env.backup(&[&src], &[]);
    (env, src)
}

#[test]
fn flipped_byte_in_a_data_pack_is_refused() {
    let (env, src) = setup();
    for pack in files_under(&env.repo.join("packs")) {
        let len = std::fs::metadata(&pack).unwrap().len() as usize;
        flip(&pack, len / 3);
    }
    // Cached index entries are fine; the data is not.
    restore_refuses_damage(&env, &src);
    // Without the local copies of the tree packs (sound: the backup kept
    // them), dump meets the damage on its way to a.txt too.
    std::fs::remove_dir_all(&env.cache).unwrap();
    let out = env.run(&["dump", &format!("latest:{}/a.txt", src.display())]);
    assert_eq!(out.status.code(), Some(4));
}

#[test]
fn flipped_byte_in_metadata_objects_is_refused() {
    // A corrupt index file is skipped with a warning instead (see
    // repair.rs: check reports it, repair index replaces it).
    for (what, dir) in [("snapshot", "snapshots"), ("key", "keys")] {
        let (env, _src) = setup();
        let file = files_under(&env.repo.join(dir)).pop().unwrap();
        flip(&file, 40);
        std::fs::remove_dir_all(&env.cache).unwrap();
        let out = env.run(&["snapshots"]);
        assert_eq!(
            out.status.code(),
            Some(4),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (env, _src) = setup();
    flip(&env.repo.join("config"), 30);
    let out = env.run(&["snapshots"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "config: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn unknown_format_version_is_refused_before_the_password() {
    let (env, _src) = setup();
    let cfg = env.repo.join("config");
    let mut b = std::fs::read(&cfg).unwrap();
    b[8] = 9;
    std::fs::write(&cfg, b).unwrap();
    let out = env
        .cmd(&["snapshots"])
        .env("CAIRN_PASSWORD", "wrong")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("version 9"));
}

#[test]
fn truncated_pack_is_reported_as_damage() {
    let (env, src) = setup();
    for pack in files_under(&env.repo.join("packs")) {
        let len = std::fs::metadata(&pack).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&pack).unwrap();
        f.set_len(len / 2).unwrap();
    }
    let stderr = restore_refuses_damage(&env, &src);
    assert!(stderr.contains("shorter than its index"), "{stderr}");
}

/// `--overwrite always` replaces a file only once its new content is
/// written: where the data is damaged the user's copy survives, where it is
/// intact it is replaced, and no moved-aside copy is left behind.
#[test]
fn overwrite_keeps_the_local_copy_when_the_new_content_is_damaged() {
    let env = Env::new_local();
    let src = env.path("src");
    write(&src.join("a.txt"), &text_bytes(1, 300_000));
    env.backup(&[&src], &[]);
    write(&src.join("b.bin"), &random_bytes(2, 200_000));
    let t = env.path("t");
    let dst = restored(&t, &src);
    write(&dst.join("a.txt"), b"local a");
    write(&dst.join("b.bin"), b"local b");
    // b.bin is only in the second backup's pack: damage that one alone.
    let before = files_under(&env.repo.join("packs"));
    env.backup(&[&src], &[]);
    let new_packs: Vec<_> = files_under(&env.repo.join("packs"))
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    let data_pack = new_packs
        .iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let len = std::fs::metadata(data_pack).unwrap().len() as usize;
    flip(data_pack, len / 3);
    let out = env.run(&[
        "restore",
        "latest",
        "--target",
        t.to_str().unwrap(),
        "--overwrite",
        "always",
    ]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(std::fs::read(dst.join("b.bin")).unwrap(), b"local b");
    assert_eq!(
        std::fs::read(dst.join("a.txt")).unwrap(),
        std::fs::read(src.join("a.txt")).unwrap()
    );
    let names: Vec<String> = std::fs::read_dir(&dst)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.contains("cairn-replaced")),
        "{names:?}"
    );
}
