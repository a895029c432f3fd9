//! `kill -9` in the middle of a backup: the repository still opens, older
//! snapshots restore, and the next backup completes reusing what was stored.

use std::time::{Duration, Instant};

use crate::util::*;

#[test]
fn kill_9_mid_backup_leaves_a_usable_repository() {
    let env = Env::uninit_local(); // LOCAL-ONLY: watches the index directory
    env.init_small_packs();
    let old = env.path("old");
    write(&old.join("keep.txt"), b"from the first snapshot");
    env.backup(&[&old], &[]);
    let index_before = files_under(&env.repo.join("index")).len();

    let src = env.path("src");
    for i in 0..12u64 {
        write(
            &src.join(format!("f{i}.bin")),
            &random_bytes(100 + i, 8 * 1024 * 1024),
        );
    }
    let mut child = env
        .cmd(&["backup", src.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    // Wait until at least one index file of this backup is stored.
    while files_under(&env.repo.join("index")).len() < index_before + 1 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "backup never wrote an index"
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!("backup ended ({status}) before it could be killed; make the data larger");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let list = env.json(&["snapshots"]);
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "only the finished snapshot exists"
    );
    let t = env.path("t1");
    env.restore_verified(&t);
    assert_same_tree(&old, &restored(&t, &old));

    let s = env.backup(&[&src], &[]);
    let total = 12 * 8 * 1024 * 1024u64;
    assert!(
        s["bytes_added"].as_u64().unwrap() < total,
        "the next backup reused nothing of what was uploaded: {s}"
    );
    let t = env.path("t2");
    env.restore_verified(&t);
    assert_same_tree(&src, &restored(&t, &src));
}
