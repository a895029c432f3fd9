//! `cairn mount` on a real FUSE mount: the layout, whole files and random
//! ranges compared with the source, metadata, a backup appearing while
//! mounted, and a clean unmount on SIGTERM. Skipped (loudly) where the
//! machine has no /dev/fuse or no fusermount3.

use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

/// Can this machine mount FUSE filesystems?
fn fuse_available() -> bool {
    let root = unsafe { libc::geteuid() } == 0;
    let fusermount = std::process::Command::new("fusermount3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    Path::new("/dev/fuse").exists() && (fusermount || root)
}

/// Is something mounted exactly at `mp`?
fn is_mounted(mp: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let want = mp.to_string_lossy().replace(' ', "\\040");
    info.lines()
        .any(|l| l.split(' ').nth(4) == Some(want.as_str()))
}

/// Waits until `ready` holds, failing the test after a generous deadline
/// (a wait for a condition, not a speed assertion).
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Always unmounts and reaps the mount process, even when the test fails.
struct MountGuard {
    mp: PathBuf,
    child: Option<Child>,
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        if is_mounted(&self.mp) {
            let _ = std::process::Command::new("fusermount3")
                .args(["-u", "-z"])
                .arg(&self.mp)
                .status();
            if is_mounted(&self.mp) {
                let _ = std::process::Command::new("umount")
                    .arg("-l")
                    .arg(&self.mp)
                    .status();
            }
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn link(p: &Path) -> String {
    std::fs::read_link(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .to_string_lossy()
        .into_owned()
}

/// Asserts the mounted `dst` shows `src` as backed up: types, modes, owners,
/// mtimes, sizes, content, link targets and xattrs. Hard links show as
/// separate files, so inode numbers are not compared.
fn assert_mounted_same(src: &Path, dst: &Path) {
    let a = src.symlink_metadata().expect("source");
    let b = dst
        .symlink_metadata()
        .unwrap_or_else(|e| panic!("missing in mount: {}: {e}", dst.display()));
    let d = dst.display();
    assert_eq!(a.file_type(), b.file_type(), "type of {d}");
    assert_eq!(a.mode(), b.mode(), "mode of {d}");
    assert_eq!((a.uid(), a.gid()), (b.uid(), b.gid()), "owner of {d}");
    assert_eq!(
        (a.mtime(), a.mtime_nsec()),
        (b.mtime(), b.mtime_nsec()),
        "mtime of {d}"
    );
    if a.file_type().is_symlink() {
        assert_eq!(std::fs::read_link(src).ok(), std::fs::read_link(dst).ok());
        return;
    }
    for name in xattr::list(src)
        .map(|l| l.collect())
        .unwrap_or_else(|_| Vec::new())
    {
        assert_eq!(
            xattr::get(src, &name).ok().flatten(),
            xattr::get(dst, &name).ok().flatten(),
            "xattr {name:?} of {d}"
        );
    }
    if a.is_file() {
        assert_eq!(a.len(), b.len(), "size of {d}");
        let same = std::fs::read(src).expect("read") == std::fs::read(dst).expect("read");
        assert!(same, "content of {d}");
    } else if a.is_dir() {
        let mut want: Vec<_> = std::fs::read_dir(src)
            .expect("readdir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        let mut got: Vec<_> = std::fs::read_dir(dst)
            .expect("readdir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        want.sort();
        got.sort();
        assert_eq!(want, got, "entries of {d}");
        for n in want {
            assert_mounted_same(&src.join(&n), &dst.join(&n));
        }
    }
}

/// Random ranges of a mounted file equal the same ranges of the source.
fn assert_ranges_same(src: &Path, dst: &Path) {
    let want = std::fs::read(src).expect("read source");
    let f = std::fs::File::open(dst).expect("open mounted file");
    let len = want.len() as u64;
    let seeds = random_bytes(7, 64);
    for (i, pair) in seeds.chunks(4).enumerate() {
        let r = u32::from_le_bytes([pair[0], pair[1], pair[2], pair[3]]) as u64;
        let offset = [0, len - 1, len / 2, r % len][i % 4];
        let size = [1usize, 4096, 1 << 20, 3 * (1 << 20) + 7][i % 4];
        let mut buf = vec![0u8; size];
        let mut got = 0;
        while got < size {
            let n = f
                .read_at(&mut buf[got..], offset + got as u64)
                .expect("read_at");
            if n == 0 {
                break;
            }
            got += n;
        }
        let end = (offset as usize + size).min(want.len());
        assert_eq!(got, end - offset as usize, "length at {offset}");
        assert!(
            buf[..got] == want[offset as usize..end],
            "bytes at {offset}+{size}"
        );
    }
}

#[test]
fn mount_shows_snapshots_and_follows_new_backups() {
    if !fuse_available() {
        eprintln!("SKIPPED: mount test: this machine has no /dev/fuse or fusermount3");
        eprintln!("SKIPPED: mount_shows_snapshots_and_follows_new_backups did not run");
        return;
    }
    let env = Env::new();
    let src = env.path("src");
    make_rich_tree(&src);
    // More names than one readdir reply holds: listed in several pieces.
    for i in 0..1500 {
        write(
            &src.join(format!("many/a-longish-file-name-{i:05}")),
            &[i as u8],
        );
    }
    let first = env.backup(&[&src], &["--host", "testhost", "--tag", "t1"]);
    let short = first["snapshot_id"].as_str().expect("id")[..8].to_string();

    let mp = env.path("mnt");
    std::fs::create_dir(&mp).expect("mkdir");
    let log = std::fs::File::create(env.path("mount.log")).expect("log");
    let child = env
        .cmd(&[
            "mount",
            mp.to_str().expect("utf-8"),
            "--refresh-secs",
            "0.2",
        ])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn cairn mount");
    let mut guard = MountGuard {
        mp: mp.clone(),
        child: Some(child),
    };
    wait_for("the mount", || {
        if let Some(Ok(Some(status))) = guard.child.as_mut().map(|c| c.try_wait()) {
            let log = std::fs::read_to_string(env.path("mount.log")).unwrap_or_default();
            panic!("cairn mount exited early with {status}: {log}");
        }
        is_mounted(&mp) && mp.join("snapshots").exists()
    });

    // The layout.
    assert_eq!(names(&mp), ["hosts", "ids", "snapshots", "tags"]);
    let snaps = names(&mp.join("snapshots"));
    assert_eq!(snaps.len(), 2, "{snaps:?}");
    let name = &snaps[0];
    assert_eq!(snaps[1], "latest");
    assert!(name.ends_with(&format!("_{short}")), "{name}");
    let time = &name[..name.len() - 9];
    assert_eq!(time.len(), "2026-11-22T07-15-00".len(), "{name}");
    assert!(!name.contains(':'));
    assert_eq!(link(&mp.join("snapshots/latest")), *name);
    assert_eq!(names(&mp.join("ids")), [short.clone(), "latest".into()]);
    assert_eq!(names(&mp.join("hosts")), ["testhost"]);
    assert_eq!(names(&mp.join("hosts/testhost")), [time, "latest"]);
    assert_eq!(names(&mp.join("tags")), ["t1"]);
    assert_eq!(link(&mp.join("tags/t1/latest")), time);
    let full = first["snapshot_id"].as_str().expect("id");
    assert!(mp.join("ids").join(full).is_dir(), "full ids resolve too");

    // Everything as backed up, through each way in.
    let rel = src.strip_prefix("/").expect("absolute");
    assert_mounted_same(&src, &mp.join("snapshots").join(name).join(rel));
    for way in [
        format!("ids/{short}"),
        "hosts/testhost/latest".into(),
        format!("tags/t1/{time}"),
    ] {
        let p = mp.join(way).join(rel).join("links/a");
        assert_eq!(std::fs::read(&p).expect("read"), b"linked content\n");
    }
    let root = mp.join("snapshots/latest").join(rel);
    assert_ranges_same(&src.join("big/random.bin"), &root.join("big/random.bin"));
    assert_ranges_same(&src.join("sparse.img"), &root.join("sparse.img"));
    assert!(
        std::fs::write(root.join("names/.hidden"), b"x").is_err(),
        "read-only"
    );

    // A backup made while mounted appears without remounting.
    write(&src.join("added.txt"), b"added while mounted\n");
    write(&src.join("small/d0/f0.txt"), b"changed\n");
    let second = env.backup(&[&src], &["--host", "testhost"]);
    let short2 = second["snapshot_id"].as_str().expect("id")[..8].to_string();
    wait_for("the second snapshot", || {
        names(&mp.join("ids")).contains(&short2)
    });
    assert_eq!(names(&mp.join("snapshots")).len(), 3);
    let latest = mp.join(format!("ids/{short2}")).join(rel);
    assert_eq!(
        std::fs::read(latest.join("added.txt")).expect("read"),
        b"added while mounted\n"
    );
    assert_eq!(
        std::fs::read(latest.join("small/d0/f0.txt")).expect("read"),
        b"changed\n"
    );
    wait_for("latest to move", || {
        link(&mp.join("snapshots/latest")).ends_with(&short2)
    });
    assert_eq!(
        names(&mp.join("tags/t1")).len(),
        2,
        "the untagged one is not under t1"
    );

    // SIGTERM unmounts cleanly and exits 0.
    let mut child = guard.child.take().expect("child");
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let mut status = None;
    wait_for("cairn mount to exit", || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    });
    let log = std::fs::read_to_string(env.path("mount.log")).unwrap_or_default();
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{log}");
    assert!(!is_mounted(&mp), "still mounted after SIGTERM");
    assert!(names(&mp).is_empty());
}
