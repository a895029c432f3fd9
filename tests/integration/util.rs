//! The tiny harness every integration test uses: a temporary repository,
//! the real `cairn` binary, tree generators and a deep comparison.
//!
//! The suite runs against the backend `CAIRN_TEST_BACKEND` names: `local`
//! (the default) or `s3`, which puts each test's repository under a unique
//! prefix of a bucket on the S3 server at `CAIRN_TEST_S3` (scripts/test
//! starts one and runs the suite a second time so). Tests that open the
//! repository directory with file tools (to damage it, crash into it or
//! compare it with golden files) use [`Env::new_local`] and
//! [`Env::uninit_local`]: LOCAL-ONLY, whatever the backend.

#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

use crate::util_backend::{s3_endpoint, S3_TEST_BUCKET};

pub const PASSWORD: &str = "correct horse battery staple";

/// A temporary directory holding a cache and scratch space, and a
/// repository location on the backend under test.
pub struct Env {
    pub dir: TempDir,
    /// The repository directory. Meaningful only for local repositories:
    /// tests that read it must use [`Env::new_local`].
    pub repo: PathBuf,
    pub cache: PathBuf,
    /// What `--repo` gets: `repo` as a path, or an `s3:` location.
    pub location: String,
}

impl Env {
    /// A fresh, initialised repository with cheap KDF parameters.
    pub fn new() -> Env {
        let env = Env::uninit();
        env.init();
        env
    }

    /// A fresh repository in a local directory, whatever the backend under
    /// test: for LOCAL-ONLY tests that open the repository's files.
    pub fn new_local() -> Env {
        let env = Env::uninit_local();
        env.init();
        env
    }

    fn init(&self) {
        self.ok(&init_args(&[]));
    }

    /// Initialises with cheap KDF parameters and 1 MiB packs, so a few MiB
    /// of input already spans several packs.
    pub fn init_small_packs(&self) {
        self.ok(&init_args(&["--pack-size-mib", "1"]));
    }

    /// A temporary directory with no repository yet, on the backend under test.
    pub fn uninit() -> Env {
        let mut env = Env::uninit_local();
        if let Some(endpoint) = s3_endpoint() {
            // The shared bucket exists before any test looks for a
            // repository in it, so "no repository" means the same as locally.
            static BUCKET: std::sync::Once = std::sync::Once::new();
            BUCKET.call_once(|| {
                cairn::storage::open_location(&format!("s3:{endpoint}/{S3_TEST_BUCKET}"), true)
                    .expect("create the test bucket");
            });
            env.location = format!(
                "s3:{endpoint}/{S3_TEST_BUCKET}/t-{:016x}",
                rand::random::<u64>()
            );
        }
        env
    }

    /// A temporary directory with no repository yet, LOCAL-ONLY.
    pub fn uninit_local() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = dir.path().join("repo");
        let cache = dir.path().join("cache");
        let location = repo.to_string_lossy().into_owned();
        Env {
            dir,
            repo,
            cache,
            location,
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The cairn command with repository, password and cache set.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cairn"));
        c.args(args)
            .env("CAIRN_REPOSITORY", &self.location)
            .env("CAIRN_PASSWORD", PASSWORD)
            .env("CAIRN_CACHE_DIR", &self.cache)
            .env_remove("CAIRN_PASSWORD_FILE")
            .env_remove("CAIRN_PASSWORD_COMMAND");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run cairn")
    }

    /// Runs and asserts exit code 0.
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "cairn {args:?} failed with {:?}\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs with `--json` and returns the last JSON line of stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        last_json(&out)
    }

    /// Backs up `paths` and returns the summary.
    pub fn backup(&self, paths: &[&Path], extra: &[&str]) -> serde_json::Value {
        let mut args: Vec<&str> = vec!["backup"];
        args.extend_from_slice(extra);
        let strs: Vec<String> = paths
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        args.extend(strs.iter().map(|s| s.as_str()));
        self.json(&args)
    }

    /// Number of pack files in the repository, on any backend.
    pub fn pack_count(&self) -> usize {
        self.objects("packs/").len()
    }
}

/// `init` with the cheap KDF parameters every test repository uses (the
/// floor needs `--insecure-kdf`), then `extra`.
pub fn init_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "init",
        "--kdf-memory-mib",
        "1",
        "--kdf-iterations",
        "1",
        "--insecure-kdf",
    ];
    args.extend_from_slice(extra);
    args
}

pub fn last_json(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{') || l.starts_with('['))
        .unwrap_or("null");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// Every regular file below `dir`, recursively, except storage temp files
/// (an object being written is not there yet).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else if !e.file_name().to_string_lossy().starts_with(".tmp-") {
            out.push(p);
        }
    }
    out
}

/// Deterministic pseudo-random bytes.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut h = blake3::Hasher::new();
    h.update(&seed.to_le_bytes());
    h.finalize_xof().fill(&mut out);
    out
}

/// Text-like compressible bytes.
pub fn text_bytes(seed: u64, len: usize) -> Vec<u8> {
    let words = [
        "alpha ", "beta ", "gamma ", "delta\n", "cairn ", "backup ", "chunk ",
    ];
    let r = random_bytes(seed, len / 4 + 1);
    let mut out = Vec::with_capacity(len + 8);
    let mut i = 0;
    while out.len() < len {
        out.extend_from_slice(words[r[i % r.len()] as usize % words.len()].as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

pub fn write(p: &Path, data: &[u8]) {
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(p, data).expect("write");
}

/// A tree with every kind of entry the format must carry.
pub fn make_rich_tree(root: &Path) {
    std::fs::create_dir_all(root).expect("mkdir");
    for i in 0..200u64 {
        let sub = root.join(format!("small/d{}", i % 7));
        write(
            &sub.join(format!("f{i}.txt")),
            &text_bytes(i, (i as usize * 97) % 9000),
        );
    }
    write(
        &root.join("big/random.bin"),
        &random_bytes(1, 6 * 1024 * 1024 + 12345),
    );
    write(
        &root.join("big/text.log"),
        &text_bytes(2, 5 * 1024 * 1024 + 7),
    );
    write(&root.join("empty/zero"), b"");
    std::fs::create_dir_all(root.join("empty/dir")).expect("mkdir");
    // Sparse: 40 MiB with data only in the middle.
    let sparse = root.join("sparse.img");
    {
        let f = std::fs::File::create(&sparse).expect("create");
        f.set_len(40 * 1024 * 1024).expect("set_len");
        use std::os::unix::fs::FileExt;
        f.write_all_at(&random_bytes(3, 100_000), 20 * 1024 * 1024)
            .expect("write_at");
    }
    // Hard links.
    write(&root.join("links/a"), b"linked content\n");
    std::fs::hard_link(root.join("links/a"), root.join("links/b")).expect("hardlink");
    std::fs::hard_link(root.join("links/a"), root.join("small/link-to-a")).expect("hardlink");
    // Symlinks: relative, absolute, dangling.
    std::os::unix::fs::symlink("../links/a", root.join("empty/rel-link")).expect("symlink");
    std::os::unix::fs::symlink("/etc/hostname", root.join("empty/abs-link")).expect("symlink");
    std::os::unix::fs::symlink("nowhere/at/all", root.join("empty/dangling")).expect("symlink");
    // Unicode and non-UTF-8 names.
    write(&root.join("names/ünïcødé-日本語.txt"), b"unicode\n");
    let bad = OsStr::from_bytes(b"latin1-\xe9t\xe9\xff");
    write(&root.join("names").join(bad), b"not utf-8\n");
    write(&root.join("names/with space and 'quotes'"), b"q\n");
    write(&root.join("names/.hidden"), b"hidden\n");
    write(&root.join("names/.gitignore"), b"*\n");
    // Deep nesting.
    let mut deep = root.join("deep");
    for i in 0..40 {
        deep.push(format!("level{i}"));
    }
    write(&deep.join("bottom.txt"), b"deep\n");
    // A fifo and odd permissions.
    let fifo = std::ffi::CString::new(root.join("fifo").as_os_str().as_bytes()).expect("cstring");
    // SAFETY: valid path.
    unsafe { libc::mkfifo(fifo.as_ptr(), 0o640) };
    let exec = root.join("small/run.sh");
    write(&exec, b"#!/bin/sh\necho hi\n");
    std::fs::set_permissions(&exec, std::fs::Permissions::from_mode(0o750)).expect("chmod");
    std::fs::set_permissions(
        root.join("small/d1/f1.txt"),
        std::fs::Permissions::from_mode(0o400),
    )
    .expect("chmod");
    let _ = xattr::set(root.join("links/a"), "user.cairn", b"xattr value");
    // Fixed times on everything so mtimes are checked meaningfully.
    set_times(root, 1_700_000_000);
}

/// Sets distinct, fixed mtimes on every entry (deepest first).
pub fn set_times(root: &Path, base: i64) {
    let mut entries = Vec::new();
    collect(root, &mut entries);
    entries.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for (i, p) in entries.iter().enumerate() {
        let t = filetime::FileTime::from_unix_time(base + i as i64, 123_456_789);
        let _ = filetime::set_symlink_file_times(p, t, t);
    }
}

fn collect(p: &Path, out: &mut Vec<PathBuf>) {
    out.push(p.to_path_buf());
    if p.symlink_metadata().map(|m| m.is_dir()).unwrap_or(false) {
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten() {
                collect(&e.path(), out);
            }
        }
    }
}

/// Where a source path lands under a restore target.
pub fn restored(target: &Path, src: &Path) -> PathBuf {
    target.join(src.strip_prefix("/").expect("absolute source"))
}

/// Asserts `dst` equals `src` in content and metadata, recursively.
pub fn assert_same_tree(src: &Path, dst: &Path) {
    let mut links: HashMap<u64, u64> = HashMap::new();
    compare(src, dst, &mut links);
}

fn compare(src: &Path, dst: &Path, links: &mut HashMap<u64, u64>) {
    let a = src
        .symlink_metadata()
        .unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let b = dst
        .symlink_metadata()
        .unwrap_or_else(|e| panic!("missing in restore: {}: {e}", dst.display()));
    assert_eq!(a.file_type(), b.file_type(), "type of {}", dst.display());
    assert_eq!(a.mode(), b.mode(), "mode of {}", dst.display());
    if !a.is_dir() {
        assert_eq!(
            (a.mtime(), a.mtime_nsec()),
            (b.mtime(), b.mtime_nsec()),
            "mtime of {}",
            dst.display()
        );
    }
    if unsafe { libc::geteuid() } == 0 {
        assert_eq!(
            (a.uid(), a.gid()),
            (b.uid(), b.gid()),
            "owner of {}",
            dst.display()
        );
    }
    let xa: Vec<_> = xattr::list(src).map(|l| l.collect()).unwrap_or_default();
    if !a.file_type().is_symlink() {
        for name in xa {
            assert_eq!(
                xattr::get(src, &name).ok().flatten(),
                xattr::get(dst, &name).ok().flatten(),
                "xattr {name:?} of {}",
                dst.display()
            );
        }
    }
    if a.file_type().is_symlink() {
        assert_eq!(std::fs::read_link(src).ok(), std::fs::read_link(dst).ok());
    } else if a.is_file() {
        assert_eq!(a.len(), b.len(), "size of {}", dst.display());
        let (da, db) = (
            std::fs::read(src).expect("read"),
            std::fs::read(dst).expect("read"),
        );
        assert!(da == db, "content of {}", dst.display());
        if a.nlink() > 1 {
            let first = *links.entry(a.ino()).or_insert(b.ino());
            assert_eq!(first, b.ino(), "hard link {} not preserved", dst.display());
        }
    } else if a.is_dir() {
        let mut names: Vec<_> = std::fs::read_dir(src)
            .expect("readdir")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        let mut got: Vec<_> = std::fs::read_dir(dst)
            .expect("readdir")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        got.sort();
        assert_eq!(names, got, "entries of {}", dst.display());
        for n in names {
            compare(&src.join(&n), &dst.join(&n), links);
        }
        assert_eq!(
            (a.mtime(), a.mtime_nsec()),
            (b.mtime(), b.mtime_nsec()),
            "mtime of dir {}",
            dst.display()
        );
    }
}

/// A filesystem source that runs `hook` on every event before the backup
/// sees it: the way tests change the world between the walk and the read.
pub struct Hooked<F> {
    pub inner: cairn::source::fs::FsSource,
    pub hook: F,
}

impl<F: FnMut(&cairn::source::Event) + Send> Iterator for Hooked<F> {
    type Item = cairn::source::Event;
    fn next(&mut self) -> Option<Self::Item> {
        let ev = self.inner.next()?;
        (self.hook)(&ev);
        Some(ev)
    }
}

impl<F: FnMut(&cairn::source::Event) + Send> cairn::source::Source for Hooked<F> {
    fn paths(&self) -> Vec<String> {
        cairn::source::Source::paths(&self.inner)
    }
}

/// An `FsSource` over `paths` with default options.
pub fn fs_source(paths: Vec<PathBuf>) -> cairn::source::fs::FsSource {
    cairn::source::fs::FsSource::new(cairn::source::fs::FsOptions {
        paths,
        ..Default::default()
    })
    .expect("fs source")
}

impl Env {
    /// Restores `latest` into `target` with `--verify`, asserting success.
    pub fn restore_verified(&self, target: &Path) {
        self.ok(&[
            "restore",
            "latest",
            "--target",
            target.to_str().expect("utf-8"),
            "--verify",
        ]);
    }
}

/// Copies a directory tree (a repository, to damage or crash into a copy).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// The example binary `cargo test --all-targets` builds beside the tests.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("examples").join(name);
    assert!(
        bin.exists(),
        "{} is missing: build the examples first (cargo test --all-targets)",
        bin.display()
    );
    bin
}
