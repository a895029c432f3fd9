//! P4 for condemnations an older cairn recorded without a name: prune never
//! deletes such a pack in the run that finds it unnamed; it names it and
//! condemns it again from now (so a put-only client that could not see it
//! is covered by its marker), and deletes it once that grace has passed.

use std::sync::Arc;
use std::time::Duration;

use super::locked_tests::{assert_clean, backup_dir, init_repo, keys};
use crate::forget::{forget, parse_retention, ForgetOptions};
use crate::format::layout;
use crate::progress::NoProgress;
use crate::prune::{prune, PruneOptions};
use crate::storage::memory::MemoryStorage;
use crate::storage::Storage;

const DAY: i64 = 86_400;

#[test]
fn a_pack_condemned_without_a_name_is_named_and_condemned_again_before_deletion() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = Arc::new(MemoryStorage::new());
    let repo = init_repo(storage.clone(), tmp.path(), None);
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("old"), vec![7u8; 300_000]).unwrap();
    backup_dir(&repo, &src);
    std::fs::remove_file(src.join("old")).unwrap();
    std::fs::write(src.join("new"), vec![9u8; 300_000]).unwrap();
    backup_dir(&repo, &src);
    let now = crate::time::now().0.secs;
    let opts = ForgetOptions {
        policy: parse_retention("1").unwrap(),
        now: Some(now),
        ..Default::default()
    };
    forget(&repo, &opts).unwrap();
    let prune_at = |at: i64| {
        let opts = PruneOptions {
            grace: Duration::from_secs(DAY as u64),
            now: Some(at),
            ..Default::default()
        };
        prune(&repo, &opts, &NoProgress).unwrap()
    };
    // Condemned and named.
    let r = prune_at(now);
    assert_eq!(r.packs_deleted, 0, "{r:?}");
    let named = keys(&*storage, layout::CONDEMNED_PREFIX);
    assert!(!named.is_empty());
    // As an older cairn would have left it: the records, no names.
    for k in &named {
        storage.delete(k).unwrap();
    }
    let packs = keys(&*storage, layout::PACKS_PREFIX);
    // Past the grace period: not deleted, named again instead.
    let r = prune_at(now + 2 * DAY);
    assert_eq!(r.packs_deleted, 0, "{r:?}");
    assert_eq!(keys(&*storage, layout::PACKS_PREFIX), packs);
    assert_eq!(keys(&*storage, layout::CONDEMNED_PREFIX), named);
    assert_clean(&repo);
    // Within the new grace period: still kept.
    let r = prune_at(now + 2 * DAY + DAY / 2);
    assert_eq!(r.packs_deleted, 0, "{r:?}");
    // Past it: deleted, names gone.
    let r = prune_at(now + 4 * DAY);
    assert_eq!(r.packs_deleted as usize, named.len(), "{r:?}");
    assert!(keys(&*storage, layout::CONDEMNED_PREFIX).is_empty());
    assert_clean(&repo);
}
