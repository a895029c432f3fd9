//! What an `append` token may change. Everything a backup stores is new
//! and named by its content or a random id (packs, index files,
//! snapshots), so creating objects is all it needs, and a retried upload
//! of the same bytes is not a change. The only objects the backup path
//! rewrites or removes are its own bookkeeping:
//!
//! - `running/<id>`: the backup-in-progress marker, rewritten while the
//!   backup runs and deleted when it ends (`src/repo/marker.rs`);
//! - `cairn-probe-<hex>`: the object `cairn repo ping` writes and deletes
//!   (`src/storage/probe.rs`).
//!
//! Maintenance locks (`locks/<generation>`) are created, never rewritten,
//! so an append token may create a generation but not clean old ones up;
//! backups take no lock. Prune, forget, key removal, repair and the
//! rolling audit's compaction delete, and need a `full` token.

use cairn::format::layout::RUNNING_PREFIX;
use cairn::storage::probe::PROBE_PREFIX;

use super::tokens::Scope;

/// Whether `scope` may overwrite or delete `key`.
pub fn may_change(scope: Scope, key: &str) -> bool {
    match scope {
        Scope::Full => true,
        Scope::Append => is_bookkeeping(key),
    }
}

/// A backup's own mutable object: a marker directly under `running/` or a
/// top-level probe, with no path tricks in the name.
fn is_bookkeeping(key: &str) -> bool {
    let plain = |name: &str| !name.is_empty() && !name.contains('/') && name != "." && name != "..";
    match key.strip_prefix(RUNNING_PREFIX) {
        Some(id) => plain(id),
        None => key.starts_with(PROBE_PREFIX) && plain(key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_changes_only_markers_and_probes() {
        for key in ["running/ab12", "cairn-probe-00ff"] {
            assert!(may_change(Scope::Append, key), "{key}");
        }
        for key in [
            "packs/ab/ab12",
            "index/ab12",
            "snapshots/ab12",
            "keys/ab12",
            "config",
            "policy",
            "locks/00000000000000000001",
            "audit/ab12",
            "running/",
            "running/../packs/ab/ab12",
            "running/x/y",
            "cairn-probe-x/../config",
            "x/cairn-probe-1",
        ] {
            assert!(!may_change(Scope::Append, key), "{key}");
            assert!(may_change(Scope::Full, key), "{key}");
        }
    }
}
