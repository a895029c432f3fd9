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
//!
//! An append token creates only keys of the repository layout, each in its
//! canonical spelling (`may_create`): never `config` or `policy` (a policy
//! planted by a thief would be applied by the next bare `forget`), and no
//! `packs/ab` file standing where a fan-out directory must go.

use cairn::format::layout::{self, RUNNING_PREFIX};
use cairn::storage::probe::PROBE_PREFIX;

use super::tokens::Scope;

/// Whether `scope` may overwrite or delete `key`.
pub fn may_change(scope: Scope, key: &str) -> bool {
    match scope {
        Scope::Full => true,
        Scope::Append => is_bookkeeping(key),
    }
}

/// Whether `scope` may create `key`.
pub fn may_create(scope: Scope, key: &str) -> bool {
    match scope {
        Scope::Full => true,
        Scope::Append => is_layout_key(key),
    }
}

/// A pack, index file, id list, snapshot, key file, backup marker, audit record,
/// lock generation or probe, named exactly as cairn names it.
fn is_layout_key(key: &str) -> bool {
    /// `key` is the id it ends with, written where `name` puts it.
    fn exact<T: std::str::FromStr>(key: &str, name: impl Fn(&T) -> String) -> bool {
        layout::parse_id::<T>(key).is_some_and(|id| name(&id) == key)
    }
    layout::parse_pack(key).is_some()
        || exact(key, layout::index)
        || exact(key, layout::id_list)
        || exact(key, layout::snapshot)
        || exact(key, layout::key)
        || exact(key, layout::marker)
        || exact(key, layout::audit)
        || layout::parse_lock(key).is_some()
        || (key.starts_with(PROBE_PREFIX) && is_bookkeeping(key))
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

    const HEX: &str = "00ff0123456789abcdef00112233445566778899aabbccddeeff0011223344ab";

    #[test]
    fn append_creates_only_layout_keys() {
        let ok = [
            format!("packs/00/{HEX}"),
            format!("index/{HEX}"),
            format!("ids/{HEX}"),
            format!("snapshots/{HEX}"),
            format!("keys/{HEX}"),
            format!("running/{HEX}"),
            format!("audit/{HEX}"),
            "locks/00000000000000000001".to_string(),
            "cairn-probe-00ff".to_string(),
        ];
        for key in &ok {
            assert!(may_create(Scope::Append, key), "{key}");
        }
        let bad = [
            "config".to_string(),
            "policy".to_string(),
            "packs/ab".to_string(),
            "packs/00".to_string(),
            format!("packs/ff/{HEX}"),
            format!("packs/{HEX}"),
            format!("index/x/{HEX}"),
            format!("ids/x/{HEX}"),
            format!("snapshots/{}", HEX.to_uppercase()),
            format!("snapshots/{HEX}.tmp"),
            format!("other/{HEX}"),
            "locks/1".to_string(),
            "running/ab12".to_string(),
            "cairn-probe-x/y".to_string(),
            "x".to_string(),
        ];
        for key in &bad {
            assert!(!may_create(Scope::Append, key), "{key}");
            assert!(may_create(Scope::Full, key), "{key}");
        }
    }

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
