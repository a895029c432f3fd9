//! `cairn dump --archive`: tar extracted by the system `tar`, zip read by
//! python's zipfile, both matching the source.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

/// A tree with the names and kinds tar headers find hard.
fn source(env: &Env) -> (PathBuf, bool) {
    let src = env.path("src");
    write(&src.join("plain.txt"), b"hello\n");
    write(&src.join("big.bin"), &random_bytes(7, 3 * 1024 * 1024 + 17));
    write(&src.join("empty"), b"");
    let bad = OsStr::from_bytes(b"latin1-\xe9t\xe9\xff.txt");
    write(&src.join(bad), b"not utf-8\n");
    write(&src.join("d\u{e9}j\u{e0}/ok.txt"), b"unicode dir\n");
    // A path far beyond ustar's 100 bytes, and one name of 200 bytes.
    let long_dir = src.join("a".repeat(60)).join("b".repeat(60));
    write(&long_dir.join("c".repeat(70)), b"long path\n");
    write(&src.join("n".repeat(200)), b"long name\n");
    std::os::unix::fs::symlink("plain.txt", src.join("link")).unwrap();
    std::os::unix::fs::symlink("t".repeat(150), src.join("long-target")).unwrap();
    write(&src.join("hard/one"), b"shared inode\n");
    std::fs::hard_link(src.join("hard/one"), src.join("hard/two")).unwrap();
    std::fs::hard_link(src.join("hard/one"), src.join("three")).unwrap();
    let exec = src.join("run.sh");
    write(&exec, b"#!/bin/sh\n");
    std::fs::set_permissions(&exec, std::fs::Permissions::from_mode(0o750)).unwrap();
    std::fs::set_permissions(
        src.join("plain.txt"),
        std::fs::Permissions::from_mode(0o604),
    )
    .unwrap();
    let xattrs = xattr::set(src.join("plain.txt"), "user.cairn", b"value").is_ok();
    set_times(&src, 1_600_000_000);
    (src, xattrs)
}

#[test]
fn tar_extracts_to_the_same_tree() {
    let env = Env::new();
    let (src, xattrs) = source(&env);
    env.backup(&[&src], &[]);
    let spec = format!("latest:{}", src.display());
    let file = env.path("out.tar");
    let out = env.ok(&[
        "dump",
        &spec,
        "--archive",
        "tar",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 hard links"));
    // The same bytes on standard output.
    let piped = env.ok(&["dump", &spec, "--archive", "tar", "-q"]);
    assert!(piped.stdout == std::fs::read(&file).unwrap());

    let x = env.path("x");
    std::fs::create_dir(&x).unwrap();
    let mut tar = Command::new("tar");
    tar.arg("-xpf").arg(&file).arg("-C").arg(&x);
    if xattrs {
        tar.args(["--xattrs", "--xattrs-include=*"]);
    }
    let st = tar.status().expect("run tar");
    assert!(st.success());
    // `src` itself is the archive's top entry.
    assert_same_tree(&src, &x.join("src"));
}

#[test]
fn tar_of_the_whole_snapshot_and_of_one_file() {
    let env = Env::new();
    let (src, _) = source(&env);
    env.backup(&[&src], &[]);
    let out = env.ok(&["dump", "latest", "--archive", "tar", "-q"]);
    let x = env.path("x");
    std::fs::create_dir(&x).unwrap();
    let mut child = Command::new("tar")
        .args(["--xattrs", "--xattrs-include=*", "-xpf", "-", "-C"])
        .arg(&x)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    assert!(child.wait().unwrap().success());
    assert_same_tree(&src, &restored(&x, &src));

    let spec = format!("latest:{}/run.sh", src.display());
    let out = env.ok(&["dump", &spec, "--archive", "tar", "-q"]);
    let list = tar_list(&out.stdout);
    assert_eq!(list.trim(), "-rwxr-x--- run.sh");
    // Without --archive, a directory is refused.
    let spec = format!("latest:{}", src.display());
    assert_eq!(env.run(&["dump", &spec]).status.code(), Some(2));
}

fn tar_list(bytes: &[u8]) -> String {
    let mut child = Command::new("tar")
        .args(["-tvf", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    // "mode owner size date time name" → "mode name"
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            format!("{} {}\n", f[0], f[5..].join(" "))
        })
        .collect()
}

const ZIP_READER: &str = r#"
import json, sys, zipfile, hashlib
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
out = {}
for i in z.infolist():
    mode = (i.external_attr >> 16) & 0o177777
    out[i.filename] = [mode, hashlib.sha256(z.read(i)).hexdigest(), list(i.date_time)]
print(json.dumps(out))
"#;

fn sha(data: &[u8]) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(data)?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn read_zip(path: &Path) -> serde_json::Value {
    let out = Command::new("python3")
        .args(["-c", ZIP_READER])
        .arg(path)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn zip_is_readable_by_python_from_a_file_and_from_a_pipe() {
    let env = Env::new();
    let (src, _) = source(&env);
    env.backup(&[&src], &[]);
    let spec = format!("latest:{}", src.display());
    let file = env.path("out.zip");
    let out = env.ok(&[
        "dump",
        &spec,
        "--archive",
        "zip",
        "--output",
        file.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("1 names written lossily"), "{stderr}");
    let piped = env.ok(&["dump", &spec, "--archive", "zip", "-q"]);
    let piped_file = env.path("piped.zip");
    std::fs::write(&piped_file, &piped.stdout).unwrap();

    for z in [&file, &piped_file] {
        let v = read_zip(z);
        let entry = |name: &str| v.get(name).unwrap_or_else(|| panic!("{name} in {v}"));
        for rel in [
            "plain.txt",
            "big.bin",
            "empty",
            "run.sh",
            "hard/one",
            "hard/two",
            "three",
        ] {
            let data = std::fs::read(src.join(rel)).unwrap();
            let e = entry(&format!("src/{rel}"));
            assert_eq!(e[1], sha(&data), "{rel}");
            let mode = std::fs::metadata(src.join(rel))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(
                e[0].as_u64().unwrap() & 0o7777,
                (mode & 0o7777) as u64,
                "{rel}"
            );
        }
        let long = format!(
            "src/{}/{}/{}",
            "a".repeat(60),
            "b".repeat(60),
            "c".repeat(70)
        );
        assert_eq!(entry(&long)[1], sha(b"long path\n"));
        assert!(v.get("src/d\u{e9}j\u{e0}/").is_some(), "{v}");
        // A symlink's content is its target; its mode says symlink.
        let link = entry("src/link");
        assert_eq!(link[1], sha(b"plain.txt"));
        assert_eq!(link[0].as_u64().unwrap() & 0o170000, 0o120000);
        // Local time, two-second resolution: the year is enough here.
        assert_eq!(entry("src/plain.txt")[2][0], 2020);
    }
}
