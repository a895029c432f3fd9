//! Command-line behaviour: passwords, exit codes, listings, `cat`.

use crate::util::*;

#[test]
fn wrong_password_is_a_clear_error_with_exit_12() {
    let env = Env::new();
    let out = env
        .cmd(&["snapshots"])
        .env("CAIRN_PASSWORD", "wrong")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(12));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("wrong password"), "{err}");
    assert!(!err.contains(PASSWORD));
}

#[test]
fn password_from_file_and_command() {
    let env = Env::new();
    let pw = env.path("pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let out = env
        .cmd(&["snapshots"])
        .env_remove("CAIRN_PASSWORD")
        .env("CAIRN_PASSWORD_FILE", &pw)
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = env
        .cmd(&["snapshots"])
        .env_remove("CAIRN_PASSWORD")
        .env("CAIRN_PASSWORD_COMMAND", format!("cat {}", pw.display()))
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn missing_repository_and_bad_input_exit_codes() {
    let env = Env::uninit();
    let out = env.run(&["snapshots"]);
    assert_eq!(
        out.status.code(),
        Some(10),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env = Env::new();
    let out = env.run(&["restore", "deadbeef", "--target", "/tmp/x"]);
    assert_eq!(out.status.code(), Some(2));
    let out = env.run(&["backup", "/no/such/path/anywhere"]);
    assert_ne!(out.status.code(), Some(0));
    let out = env.run(&["init"]);
    assert_eq!(out.status.code(), Some(2), "init twice must fail");
}

#[test]
fn unreadable_file_gives_exit_3_and_a_snapshot_of_the_rest() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("ok.txt"), b"fine");
    let bad = src.join("secret");
    write(&bad, b"unreadable");
    let mut paths = vec![src.to_string_lossy().into_owned()];
    // Root reads everything, so use a file whose read fails for everyone.
    if unsafe { libc::geteuid() } == 0 {
        paths.push("/proc/self/mem".into());
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o000)).unwrap();
    }
    let mut args = vec!["--json", "backup"];
    args.extend(paths.iter().map(|s| s.as_str()));
    let out = env.run(&args);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = last_json(&out);
    assert_eq!(s["errors"], 1, "{s}");
    let t = env.path("t");
    env.ok(&["restore", "latest", "--target", t.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(restored(&t, &src).join("ok.txt")).unwrap(),
        b"fine"
    );
}

#[test]
fn ls_dump_cat_and_dry_run() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("dir/file.txt"), b"hello dump");
    let dry = env.backup(&[&src], &["--dry-run"]);
    assert!(dry["snapshot_id"].is_null());
    assert!(env.json(&["snapshots"]).as_array().unwrap().is_empty());
    assert_eq!(env.pack_count(), 0, "dry run wrote packs");

    let s = env.backup(&[&src], &["--tag", "t1", "--host", "h1"]);
    let id = s["snapshot_id"].as_str().unwrap();
    let ls = env.ok(&["ls", "-l", &id[..6]]);
    let text = String::from_utf8_lossy(&ls.stdout);
    assert!(text.contains("dir/file.txt"), "{text}");
    let dump = env.ok(&["dump", &format!("latest:{}/dir/file.txt", src.display())]);
    assert_eq!(dump.stdout, b"hello dump");
    let dir_dump = env.run(&["dump", &format!("latest:{}/dir", src.display())]);
    assert_eq!(dir_dump.status.code(), Some(2));

    let snap = env.json(&["cat", "snapshot", "latest"]);
    assert_eq!(snap["host"], "h1");
    assert_eq!(snap["tags"][0], "t1");
    let cfg = env.json(&["cat", "config"]);
    assert_eq!(cfg["version"], cairn::format::FORMAT_VERSION);
    let key = env.json(&["cat", "key"]);
    assert!(key["kdf"]["memory_kib"].as_u64().unwrap() >= 8);
    let tree = env.json(&["cat", "tree", &format!("latest:{}/dir", src.display())]);
    assert_eq!(tree["nodes"][0]["name"], "file.txt");
    let list = env.json(&["snapshots"]);
    assert_eq!(list[0]["id"], id);
    let index_files = env.objects("index/");
    let index_id = index_files[0].0.trim_start_matches("index/");
    let index = env.json(&["cat", "index", index_id]);
    let pack_id = index["packs"][0]["id"].as_str().unwrap();
    let pack = env.json(&["cat", "pack", pack_id]);
    assert!(!pack["blobs"].as_array().unwrap().is_empty());
}

#[test]
fn first_backup_creates_the_default_repository() {
    let env = Env::uninit();
    let home = env.path("home");
    let src = env.path("src");
    write(&src.join("f"), b"first backup");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(args)
            .env_remove("CAIRN_REPOSITORY")
            .env("HOME", &home)
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("CAIRN_PASSWORD", PASSWORD)
            .output()
            .unwrap()
    };
    let out = run(&["backup", src.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("creating a new repository"), "{err}");
    assert!(err.contains("WARNING") && err.contains("lost"), "{err}");
    let repo = home.join("data/cairn/repository");
    assert!(repo.join("config").exists());
    let out = run(&["backup", src.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("creating"));
    let out = run(&["--json", "snapshots"]);
    assert_eq!(last_json(&out).as_array().unwrap().len(), 2);
}

/// Output cut short by its reader (`| head`) ends the command quietly, by
/// SIGPIPE as for any Unix tool, never with a panic on stderr.
#[test]
fn a_closed_stdout_ends_quietly() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let env = Env::new();
    let src = env.path("src");
    for i in 0..2000 {
        write(&src.join(format!("f{i:04}")), b"x");
    }
    env.backup(&[&src], &[]);
    let mut child = env
        .cmd(&["ls", "-l", "latest"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The pipe's reading end is closed here.
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(status.signal(), Some(libc::SIGPIPE), "{status:?}");
}
