//! Issue 13, "commands that must tell the truth": find skips snapshots
//! without `--under`, dry runs say what they would do, and repair and prune
//! explain what they did not do.

use crate::util::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `find --under DIR` used to stop with exit 2 at the first snapshot that
/// lacks DIR; such snapshots are skipped and counted instead.
#[test]
fn find_under_skips_snapshots_without_the_directory() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("old/a.rs"), b"fn a() {}");
    env.backup(&[&src], &["--time", "2026-01-01 10:00"]);
    write(&src.join("new/b.rs"), b"fn b() {}");
    env.backup(&[&src], &["--time", "2026-01-02 10:00"]);

    let under = format!("{}/new", src.display());
    let out = env.run(&["--json", "find", "*.rs", "--under", &under]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let sum = last_json(&out);
    assert_eq!(sum["matches"], 1);
    assert_eq!(sum["snapshots"], 2);
    assert_eq!(sum["snapshots_without_under"], 1);
    let out = env.ok(&["find", "*.rs", "--under", &under]);
    assert!(stdout(&out).contains("new/b.rs"), "{}", stdout(&out));
    assert!(stderr(&out).contains("1 of the snapshots have no"));

    // In none of them: a usage error naming the flag.
    let out = env.run(&["find", "*.rs", "--under", "/no/such/dir"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--under /no/such/dir"), "{}", stderr(&out));
}
