//! Issue 13, validation: empty flag values are refused, `--path` is
//! normalised as backup records paths, and a backup that excludes
//! everything saves nothing unless asked to.

use crate::util::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Empty `--tag`/`--host` values used to be accepted.
#[test]
fn empty_tag_and_host_are_refused_naming_the_flag() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a"), b"a");
    let s = src.to_string_lossy().into_owned();
    for (flag, cmd) in [
        ("--tag", "backup"),
        ("--host", "backup"),
        ("--tag", "snapshots"),
        ("--host", "snapshots"),
        ("--path", "snapshots"),
    ] {
        let mut args = vec![cmd, flag, ""];
        if cmd == "backup" {
            args.push(&s);
        }
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(2), "{cmd} {flag}: {}", stderr(&out));
        assert!(stderr(&out).contains(flag), "{}", stderr(&out));
    }
    assert_eq!(
        env.json(&["snapshots"]).as_array().map(|a| a.len()),
        Some(0)
    );
}

/// `snapshots --path DIR/` with a trailing slash (or a relative DIR) used
/// to match nothing: paths are normalised as backup records them.
#[test]
fn path_filters_are_normalised_like_backup() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a"), b"a");
    env.backup(&[&src], &[]);
    let s = src.to_string_lossy().into_owned();
    for p in [
        s.clone(),
        format!("{s}/"),
        format!("{s}/./"),
        format!("{s}/x/.."),
    ] {
        let out = env.json(&["snapshots", "--path", &p]);
        assert_eq!(out.as_array().unwrap().len(), 1, "--path {p}");
    }
    let out = env
        .cmd(&["--json", "snapshots", "--path", "src/"])
        .current_dir(env.dir.path())
        .output()
        .unwrap();
    assert_eq!(last_json(&out).as_array().unwrap().len(), 1);
    let out = env.json(&["snapshots", "--path", &format!("{s}-other")]);
    assert_eq!(out.as_array().unwrap().len(), 0);
}

/// `backup DIR --exclude '*'` used to save an empty snapshot, exit 0, that
/// then became the next backup's parent.
#[test]
fn a_backup_that_excludes_everything_saves_nothing_without_allow_empty() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a"), b"a");
    write(&src.join("d/b"), b"b");
    let s = src.to_string_lossy().into_owned();
    let out = env.run(&["backup", &s, "--exclude", "*"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("--allow-empty"), "{}", stderr(&out));
    assert_eq!(env.json(&["snapshots"]).as_array().unwrap().len(), 0);
    let out = env.run(&["--json", "backup", &s, "--exclude", "*"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(last_json(&out)["snapshot_id"].is_null());

    let out = env.run(&["backup", &s, "--exclude", "*", "--allow-empty"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("warning"), "{}", stderr(&out));
    assert_eq!(env.json(&["snapshots"]).as_array().unwrap().len(), 1);
    // A partial exclude is an ordinary backup.
    let out = env.run(&["backup", &s, "--exclude", "a"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
