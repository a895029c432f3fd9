//! `repair`: put a damaged repository back into a usable state without
//! ever deleting a pack.
//!
//! * [`index`] rebuilds index files from pack headers: lost or corrupt index
//!   files, packs no index lists, entries for packs that are gone.
//! * [`snapshots`] writes a repaired copy of every damaged snapshot in which
//!   everything intact stays restorable; the originals stay until `forget`.
//!
//! Both are plan, then execute, so `--dry-run` shows the plan.

pub mod index;
pub mod snapshots;

pub use index::{plan_index_repair, IndexRepairPlan};
pub use snapshots::{
    repair_snapshots, RepairedSnapshot, SnapshotRepairOptions, DAMAGE_XATTR, REPAIRED_TAG,
};
