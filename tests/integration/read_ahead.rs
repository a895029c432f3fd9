//! A first backup reads small files ahead of the archiver
//! (src/backup/read_ahead.rs): the archiver uses what was read, and what
//! it stores is one consistent version of each file.

use std::path::Path;

use cairn::backup::{backup, BackupOptions};
use cairn::progress::Progress;

use crate::util::*;

/// Replaces `victim` (write and rename: a new inode) when the archiver
/// comes to it, after the read-ahead has read it.
struct ReplaceOnArrival<'a> {
    victim: &'a Path,
}

impl Progress for ReplaceOnArrival<'_> {
    fn item(&self, path: &Path) {
        if path == self.victim {
            let fresh = self.victim.with_extension("new");
            std::fs::write(&fresh, b"written after the read-ahead").unwrap();
            std::fs::rename(&fresh, self.victim).unwrap();
        }
    }
}

#[test]
fn the_archiver_stores_the_version_read_ahead() {
    let env = Env::new();
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..300 {
        std::fs::write(src.join(format!("f{i:03}")), format!("old {i}")).unwrap();
    }
    let victim = src.join("f250");
    let repo = env.open_repo();
    let mut source = fs_source(vec![src.clone()]);
    let progress = ReplaceOnArrival { victim: &victim };
    let report = backup(&repo, &mut source, &BackupOptions::default(), &progress).unwrap();
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert!(
        report.changed_while_read.is_empty(),
        "{:?}",
        report.changed_while_read
    );
    // The file as it was read ahead, whole and with its own metadata: the
    // archiver did not open it again.
    let target = env.path("restored");
    let out = env.ok(&["restore", "latest", "--target", target.to_str().unwrap()]);
    assert!(out.status.success());
    let restored = target.join(victim.strip_prefix("/").unwrap());
    assert_eq!(std::fs::read(restored).unwrap(), b"old 250");
}
