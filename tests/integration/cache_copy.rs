//! A repository copied elsewhere (same id, e.g. by `rclone sync`) sharing a
//! cache directory with the original must never poison the original's
//! cache: what one copy's prune superseded or deleted is still there in the
//! other.

use crate::util::*;

/// The copy's command line: same cache and password, another location.
fn on(env: &Env, location: &str, args: &[&str]) -> std::process::Output {
    let out = env
        .cmd(args)
        .env("CAIRN_REPOSITORY", location)
        .output()
        .expect("run cairn");
    assert!(
        out.status.success(),
        "cairn {args:?} on {location} failed with {:?}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn pruning_a_copy_does_not_poison_the_originals_cache() {
    let env = Env::new_local();
    let src = env.path("src");
    write(&src.join("old.bin"), &random_bytes(1, 3 << 20));
    write(&src.join("kept.txt"), &text_bytes(2, 50_000));
    env.backup(&[&src], &[]);
    let first = env.json(&["snapshots"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::remove_file(src.join("old.bin")).unwrap();
    write(&src.join("new.bin"), &random_bytes(3, 2 << 20));
    env.backup(&[&src], &[]);

    // The copy forgets the first snapshot and prunes its data at once.
    let copy = env.path("copy");
    copy_dir(&env.repo, &copy);
    let copy = copy.to_str().unwrap();
    on(&env, copy, &["forget", "--keep-last", "1"]);
    on(&env, copy, &["prune", "--grace", "0"]);
    on(&env, copy, &["check", "--read-data"]);

    // The original still has the first snapshot and all its data.
    let target = env.path("target");
    env.ok(&[
        "restore",
        &first,
        "--target",
        target.to_str().unwrap(),
        "--verify",
    ]);
    env.ok(&["check", "--read-data"]);
    // And back on the copy, whose cache must not have been confused either.
    on(&env, copy, &["check", "--read-data"]);
    env.ok(&["backup", src.to_str().unwrap()]);
    on(&env, copy, &["check", "--read-data"]);
}
