//! The per-pack decision table of format-spec/12-prune.md.

use super::plan::{first_action, limit_repacks, PackAction, PackPlan};
use super::running::Running;
use crate::format::index::BlobKind;
use crate::ids::PackId;
use crate::repo::PackUsage;

const DAY: i64 = 86_400;

fn usage(condemned_since: Option<i64>, used_bytes: u64, used_blobs: u64) -> PackUsage {
    PackUsage {
        id: PackId([1; 32]),
        kind: BlobKind::Data,
        size: 1100,
        condemned_since,
        present: true,
        blob_bytes: 1000,
        used_blobs,
        used_bytes,
    }
}

#[test]
fn decision_table() {
    let now = 10 * DAY;
    let none = Running::default();
    let act = |u: PackUsage| first_action(&u, now, DAY, 0.1, &none);
    assert_eq!(act(usage(None, 1000, 5)), PackAction::Keep);
    assert_eq!(act(usage(None, 950, 4)), PackAction::Keep, "5% unused");
    assert_eq!(act(usage(None, 500, 2)), PackAction::Repack);
    assert_eq!(act(usage(None, 0, 0)), PackAction::Condemn);
    assert_eq!(act(usage(Some(now - DAY), 0, 0)), PackAction::Delete);
    assert_eq!(act(usage(Some(now - DAY + 1), 0, 0)), PackAction::Wait);
    assert_eq!(
        act(usage(Some(now - 5 * DAY), 1000, 5)),
        PackAction::Restore
    );
    assert_eq!(act(usage(Some(now - 5 * DAY), 500, 1)), PackAction::Repack);
    let missing = PackUsage {
        present: false,
        ..usage(None, 1000, 5)
    };
    assert_eq!(act(missing), PackAction::Missing);
    // A zero grace period deletes packs condemned by an earlier run.
    assert_eq!(
        first_action(&usage(Some(now), 0, 0), now, 0, 0.1, &none),
        PackAction::Delete
    );
}

#[test]
fn a_running_backup_keeps_what_was_condemned_after_it_started() {
    let now = 10 * DAY;
    let running = Running {
        protect_from: Some(now - 3 * DAY),
        ..Default::default()
    };
    let act =
        |since: i64, grace: i64| first_action(&usage(Some(since), 0, 0), now, grace, 0.1, &running);
    // Condemned before the backup started: deleted after the grace period.
    assert_eq!(act(now - 3 * DAY - 1, DAY), PackAction::Delete);
    // Condemned after it started: kept, whatever the grace period.
    assert_eq!(act(now - 3 * DAY, DAY), PackAction::KeptForBackup);
    assert_eq!(act(now, 0), PackAction::KeptForBackup);
    assert_eq!(act(now - DAY + 1, DAY), PackAction::Wait, "grace first");
    // A used pack is restored as before.
    assert_eq!(
        first_action(&usage(Some(now), 1000, 5), now, 0, 0.1, &running),
        PackAction::Restore
    );
    // An unreadable marker protects every condemnation.
    let unreadable = Running {
        protect_from: Some(i64::MIN),
        ..Default::default()
    };
    assert!(unreadable.protects(i64::MIN) && unreadable.protects(0));
    assert!(!Running::default().protects(now));
}

#[test]
fn the_repack_budget_keeps_the_most_wasteful_packs() {
    let plan = |used: u64, since: Option<i64>| PackPlan {
        usage: usage(since, used, 1),
        action: PackAction::Repack,
    };
    let mut packs = vec![plan(800, None), plan(100, None), plan(600, Some(1))];
    limit_repacks(&mut packs, Some(750));
    let actions: Vec<PackAction> = packs.iter().map(|p| p.action).collect();
    // 100 (900 unused) and 600 (400 unused) fit in 750; 800 does not.
    assert_eq!(
        actions,
        [PackAction::Keep, PackAction::Repack, PackAction::Repack]
    );
    let mut packs = vec![plan(600, Some(1))];
    limit_repacks(&mut packs, Some(10));
    assert_eq!(packs[0].action, PackAction::Restore);
}
