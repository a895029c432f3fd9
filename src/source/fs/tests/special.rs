//! Special files, unreadable directories, xattrs, mount points and speed.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Instant;

use super::*;

fn euid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// Root reads any directory, so as root re-run the named test as `nobody`.
/// Returns false when that is impossible (the test is then skipped).
fn rerun_as_nobody(test: &str) -> bool {
    let Ok(exe) = std::env::current_exe() else {
        return false;
    };
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--test-threads=1"])
        .env("TMPDIR", "/tmp");
    // SAFETY: only async-signal-safe libc calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(65534) != 0
                || libc::setuid(65534) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let Ok(out) = cmd.output() else {
        eprintln!("skipped: cannot run as nobody");
        return false;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "as nobody: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

#[test]
fn unreadable_directory_is_skipped() {
    if euid() == 0 {
        rerun_as_nobody("source::fs::tests::special::unreadable_directory_is_skipped");
        return;
    }
    let (_t, base) = tempdir();
    touch(&base.join("open/f"));
    touch(&base.join("locked/secret"));
    touch(&base.join("z"));
    let locked = base.join("locked");
    fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let events = walk(opts(&[&base]));
    fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let got = render(&events);
    let depth = base.iter().count() - 1;
    assert_eq!(
        got[depth..got.len() - depth],
        ["!locked", "+open", "-f", "<", "-z"]
    );
    let error = events.iter().find_map(|e| match e {
        Event::Skipped { path, error } => Some((path.clone(), error.clone())),
        _ => None,
    });
    let (path, error) = error.unwrap();
    assert_eq!(path, locked);
    assert!(error.contains("ermission denied"), "{error}");
}

#[test]
fn fifo_socket_and_device_are_recorded() {
    let (_t, base) = tempdir();
    let fifo = std::ffi::CString::new(base.join("fifo").as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o640) }, 0);
    let _listener = std::os::unix::net::UnixListener::bind(base.join("sock")).unwrap();
    let events = walk(opts(&[&base]));
    assert_eq!(find(&events, "fifo").kind, EntryKind::Fifo);
    assert_eq!(find(&events, "fifo").meta.mode & 0o7777, 0o640 & !umask());
    assert_eq!(find(&events, "sock").kind, EntryKind::Socket);

    let events = walk(opts(&[PathBuf::from("/dev/null")]));
    assert_eq!(render(&events), ["+dev", "-null", "<"]);
    let rdev = fs::symlink_metadata("/dev/null").unwrap().rdev();
    assert_eq!(find(&events, "null").kind, EntryKind::CharDevice { rdev });
}

fn umask() -> u32 {
    // SAFETY: umask cannot fail; set it back at once.
    unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m
    }
}

#[test]
fn xattrs_are_captured_sorted() {
    let (_t, base) = tempdir();
    let file = base.join("f");
    touch(&file);
    if xattr::set(&file, "user.zeta", b"z").is_err() {
        eprintln!("skipped: no user xattrs on {}", base.display());
        return;
    }
    xattr::set(&file, "user.alpha", b"\x00\x01").unwrap();
    let events = walk(opts(&[&base]));
    let mut entry = find(&events, "f").clone();
    assert!(entry.xattrs_deferred && entry.meta.xattrs.is_empty());
    entry.load_xattrs();
    assert!(!entry.xattrs_deferred);
    let attrs: Vec<(Vec<u8>, Vec<u8>)> = entry
        .meta
        .xattrs
        .iter()
        .filter(|x| x.name.starts_with(b"user."))
        .map(|x| (x.name.clone(), x.value.clone()))
        .collect();
    assert_eq!(
        attrs,
        [
            (b"user.alpha".to_vec(), b"\x00\x01".to_vec()),
            (b"user.zeta".to_vec(), b"z".to_vec())
        ]
    );
}

/// Needs a mount point below a small directory: `/dev/pts` under `/dev`.
#[test]
fn one_file_system_records_mount_points_empty() {
    let (Ok(dev), Ok(pts)) = (
        fs::symlink_metadata("/dev"),
        fs::symlink_metadata("/dev/pts"),
    ) else {
        eprintln!("skipped: no /dev/pts");
        return;
    };
    if dev.dev() == pts.dev() {
        eprintln!("skipped: /dev/pts is not a mount point");
        return;
    }
    let o = FsOptions {
        one_file_system: true,
        excludes: vec!["/dev/shm".into()],
        ..opts(&[PathBuf::from("/dev")])
    };
    let got = render(&walk(o));
    let at = got.iter().position(|e| e == "+pts").unwrap();
    assert_eq!(got[at + 1], "<", "{got:?}");

    let full = render(&walk(opts(&[PathBuf::from("/dev/pts")])));
    if fs::read_dir("/dev/pts").unwrap().next().is_some() {
        assert!(
            full.len() > 4,
            "without the option /dev/pts is walked: {full:?}"
        );
    }
}

/// Generates 50,000 files and times the walk. Run with
/// `cargo test --release --lib walk_speed -- --ignored --nocapture`.
#[test]
#[ignore]
fn walk_speed_50k_files() {
    let (_t, base) = tempdir();
    for d in 0..250 {
        let dir = base.join(format!("d{d:03}/sub"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..200 {
            fs::write(dir.join(format!("file{f:03}.dat")), b"x").unwrap();
        }
    }
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let mut leaves = 0;
        for event in FsSource::new(opts(&[&base])).unwrap() {
            if let Event::Leaf(_) = event {
                leaves += 1;
            }
        }
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(leaves, 50_000);
        best = best.min(secs);
        eprintln!("walk of 50,000 files: {secs:.3} s");
    }
    assert!(best < 2.0, "walk took {best:.3} s");
}
