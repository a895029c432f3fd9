//! Facts the README states about restore and times, checked against the
//! real command: what `--include` matches (the full snapshot path; `*`
//! crossing `/`; a pattern with `/` anchored at the root, also under a
//! `SNAP:/sub`), and that a local `--as-of` is read in the zone of `TZ`.

use std::path::Path;

use crate::util::*;

fn names_under(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = files_under(dir)
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Restores `spec` with `--include` patterns into a new target; returns
/// the files written, relative to `under` inside the target.
fn restore_including(
    env: &Env,
    name: &str,
    spec: &str,
    incl: &[&str],
    under: &Path,
) -> Vec<String> {
    let t = env.path(name);
    let mut args = vec!["restore", spec, "--target", t.to_str().unwrap()];
    for p in incl {
        args.extend(["--include", p]);
    }
    env.ok(&args);
    names_under(&restored(&t, under))
}

#[test]
fn include_matches_the_full_snapshot_path() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("docs/a.txt"), b"a");
    write(&src.join("docs/sub/c.txt"), b"c");
    write(&src.join("photos/p.jpg"), b"p");
    env.backup(&[&src], &[]);
    let s = src.to_str().unwrap();

    // With a `/`: the whole path from the root; `*` also matches `/`.
    let got = restore_including(&env, "t1", "latest", &[&format!("{s}/*.txt")], &src);
    assert_eq!(got, ["docs/a.txt", "docs/sub/c.txt"]);
    // A relative pattern with a `/` matches nothing; `**/` makes it float.
    let got = restore_including(&env, "t2", "latest", &["docs/a.txt"], &src);
    assert!(got.is_empty(), "{got:?}");
    let got = restore_including(&env, "t3", "latest", &["**/docs/a.txt"], &src);
    assert_eq!(got, ["docs/a.txt"]);
    // Under SNAP:/sub the patterns still see full snapshot paths, and the
    // sub-directory's contents land directly in the target.
    let sub = format!("latest:{s}/docs");
    let got = restore_including(
        &env,
        "t4",
        &sub,
        &[&format!("{s}/docs/sub")],
        Path::new("/"),
    );
    assert_eq!(got, ["sub/c.txt"]);
    let got = restore_including(&env, "t5", &sub, &["/sub"], Path::new("/"));
    assert!(got.is_empty(), "{got:?}");
}

#[test]
fn local_as_of_is_read_in_the_zone_of_tz() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("f"), b"f");
    env.backup(&[&src], &["--time", "2026-11-01T12:00:00Z"]);
    let as_of = |tz: &str| {
        let t = env.path(&format!("t-{}", tz.replace(['/', '-', '+'], "_")));
        let args = ["restore", "latest", "--as-of", "2026-11-01 12:30"];
        env.cmd(&args)
            .args(["--target", t.to_str().unwrap()])
            .env("TZ", tz)
            .output()
            .unwrap()
            .status
            .code()
    };
    // 12:30 in UTC is after the snapshot; 12:30 at UTC+01:00 (POSIX
    // "XXX-1") is 11:30 UTC, before it: no snapshot, a usage error.
    assert_eq!(as_of("UTC"), Some(0));
    assert_eq!(as_of("XXX-1"), Some(2));
}
