//! Partial and point-in-time restores select exactly what they should.

use crate::util::*;

fn names_under(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = files_under(dir)
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn tree(env: &Env) -> std::path::PathBuf {
    let src = env.path("src");
    write(&src.join("docs/a.txt"), b"a");
    write(&src.join("docs/b.md"), b"b");
    write(&src.join("docs/sub/c.txt"), b"c");
    write(&src.join("photos/p.jpg"), b"p");
    write(&src.join("cache/junk.txt"), b"j");
    src
}

#[test]
fn include_exclude_and_sub_path() {
    let env = Env::new();
    let src = tree(&env);
    env.backup(&[&src], &[]);
    let base = restored(std::path::Path::new("/"), &src);
    let base = base.to_string_lossy().into_owned();

    let t1 = env.path("t1");
    env.ok(&[
        "restore",
        "latest",
        "--target",
        t1.to_str().unwrap(),
        "--include",
        "*.txt",
    ]);
    let got = names_under(&t1.join(base.trim_start_matches('/')));
    assert_eq!(got, ["cache/junk.txt", "docs/a.txt", "docs/sub/c.txt"]);

    let t2 = env.path("t2");
    env.ok(&[
        "restore",
        "latest",
        "--target",
        t2.to_str().unwrap(),
        "--exclude",
        "cache",
        "--exclude",
        "*.md",
    ]);
    let got = names_under(&t2.join(base.trim_start_matches('/')));
    assert_eq!(got, ["docs/a.txt", "docs/sub/c.txt", "photos/p.jpg"]);

    let t3 = env.path("t3");
    let spec = format!("latest:{}/docs", src.display());
    env.ok(&["restore", &spec, "--target", t3.to_str().unwrap()]);
    assert_eq!(names_under(&t3), ["a.txt", "b.md", "sub/c.txt"]);

    let t4 = env.path("t4");
    let spec = format!("latest:{}/docs/b.md", src.display());
    env.ok(&["restore", &spec, "--target", t4.to_str().unwrap()]);
    assert_eq!(names_under(&t4), ["b.md"]);

    let missing = format!("latest:{}/nope", src.display());
    let out = env.run(&["restore", &missing, "--target", t4.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn point_in_time_restore_picks_the_newest_at_or_before() {
    let env = Env::new();
    let src = env.path("src");
    for (i, day) in ["2026-10-01 10:00", "2026-10-15 10:00", "2026-11-02 10:00"]
        .iter()
        .enumerate()
    {
        write(&src.join("state.txt"), format!("version {i}").as_bytes());
        env.backup(&[&src], &["--time", day, "--tag", &format!("v{i}")]);
    }
    let check = |as_of: &str, want: &str| {
        let t = env.path(&format!("pit-{}", as_of.replace([' ', ':'], "_")));
        env.ok(&[
            "restore",
            "latest",
            "--as-of",
            as_of,
            "--target",
            t.to_str().unwrap(),
        ]);
        let got = std::fs::read_to_string(restored(&t, &src).join("state.txt")).unwrap();
        assert_eq!(got, want, "as of {as_of}");
    };
    check("2026-11-01 12:00", "version 1");
    check("2026-10-15 10:00", "version 1");
    check("2026-10-14 23:59", "version 0");
    check("2026-12-01", "version 2");
    let t = env.path("none");
    let out = env.run(&[
        "restore",
        "latest",
        "--as-of",
        "2026-09-01",
        "--target",
        t.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));

    // Filters narrow the selection.
    let list = env.json(&["snapshots", "--tag", "v1"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let list = env.json(&["snapshots", "--host", "no-such-host"]);
    assert_eq!(list.as_array().unwrap().len(), 0);
}

#[test]
fn overwrite_policies() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("f"), b"from backup");
    env.backup(&[&src], &[]);
    let t = env.path("t");
    let dst = restored(&t, &src).join("f");
    write(&dst, b"local edit");
    let out = env.run(&["restore", "latest", "--target", t.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "never: a differing file is kept and reported"
    );
    assert_eq!(std::fs::read(&dst).unwrap(), b"local edit");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not overwritten"));
    env.ok(&[
        "restore",
        "latest",
        "--target",
        t.to_str().unwrap(),
        "--overwrite",
        "if-changed",
    ]);
    assert_eq!(std::fs::read(&dst).unwrap(), b"from backup");
    let again = env.json(&["restore", "latest", "--target", t.to_str().unwrap()]);
    assert_eq!(again["files_unchanged"], 1);
}

#[test]
fn newer_than_and_older_than_select_files_by_mtime() {
    let env = Env::new();
    let src = tree(&env);
    let at = |rel: &str, secs: i64| {
        let t = filetime::FileTime::from_unix_time(secs, 0);
        filetime::set_file_mtime(src.join(rel), t).unwrap();
    };
    // 2023-11-14T22:13:20Z and one day steps after it.
    at("docs/a.txt", 1_700_000_000);
    at("docs/b.md", 1_700_086_400);
    at("docs/sub/c.txt", 1_700_172_800);
    at("photos/p.jpg", 1_700_259_200);
    at("cache/junk.txt", 1_700_345_600);
    env.backup(&[&src], &[]);
    let base = restored(std::path::Path::new("/"), &src);
    let run = |name: &str, args: &[&str]| {
        let t = env.path(name);
        let mut all = vec!["restore", "latest", "--target", t.to_str().unwrap()];
        all.extend_from_slice(args);
        env.ok(&all);
        names_under(&t.join(base.strip_prefix("/").unwrap()))
    };
    // At or after the bound is newer; before it is older: the two split.
    let newer = run("n", &["--newer-than", "2023-11-15T22:13:20Z"]);
    assert_eq!(
        newer,
        [
            "cache/junk.txt",
            "docs/b.md",
            "docs/sub/c.txt",
            "photos/p.jpg"
        ]
    );
    let older = run("o", &["--older-than", "2023-11-15T22:13:20Z"]);
    assert_eq!(older, ["docs/a.txt"]);
    let window = run(
        "w",
        &[
            "--newer-than",
            "2023-11-15T22:13:20Z",
            "--older-than",
            "2023-11-17T22:13:20Z",
            "--include",
            "*.txt",
        ],
    );
    assert_eq!(window, ["docs/sub/c.txt"]);
    // No directory without a selected file below it is created.
    assert!(!env
        .path("w")
        .join(base.strip_prefix("/").unwrap())
        .join("photos")
        .exists());
}
