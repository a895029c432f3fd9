//! Where each object lives on the backend: ids → object keys. The only place
//! that knows the directory layout.

use crate::ids::{IdListId, IndexId, KeyId, PackId, SnapshotId};

pub const CONFIG: &str = "config";
/// The stored retention policy (chapter 13); absent when none is set.
pub const POLICY: &str = "policy";
pub const KEYS_PREFIX: &str = "keys/";
pub const SNAPSHOTS_PREFIX: &str = "snapshots/";
pub const INDEX_PREFIX: &str = "index/";
pub const PACKS_PREFIX: &str = "packs/";
/// Id lists: each index file's blob ids under the dedup key, for put-only
/// clients (format-spec/18-put-only.md).
pub const IDS_PREFIX: &str = "ids/";
pub const LOCKS_PREFIX: &str = "locks/";
/// Markers of running backups (format-spec/12-prune.md).
pub const RUNNING_PREFIX: &str = "running/";

/// Digits of a lock generation in its key: fixed width, so keys sort in
/// generation order (format-spec/11-lock.md).
const LOCK_DIGITS: usize = 20;
/// Names of condemned packs, for put-only clients, which cannot read the
/// condemnation records in index files (format-spec/12-prune.md).
pub const CONDEMNED_PREFIX: &str = "condemned/";
/// The rolling audit's log (format-spec/14-audit.md).
pub const AUDIT_PREFIX: &str = "audit/";

pub fn key(id: &KeyId) -> String {
    format!("{KEYS_PREFIX}{id}")
}

pub fn snapshot(id: &SnapshotId) -> String {
    format!("{SNAPSHOTS_PREFIX}{id}")
}

pub fn index(id: &IndexId) -> String {
    format!("{INDEX_PREFIX}{id}")
}

pub fn id_list(id: &IdListId) -> String {
    format!("{IDS_PREFIX}{id}")
}

pub fn audit(id: &crate::format::audit::AuditId) -> String {
    format!("{AUDIT_PREFIX}{id}")
}

/// Packs are fanned out by their first byte so no directory or listing page
/// grows past a few thousand entries.
pub fn pack(id: &PackId) -> String {
    let hex = id.to_hex();
    format!("{PACKS_PREFIX}{}/{hex}", &hex[..2])
}

/// The empty object saying pack `id` is condemned.
pub fn condemned(id: &PackId) -> String {
    format!("{CONDEMNED_PREFIX}{}", id.to_hex())
}

/// The pack a [`condemned`] key names.
pub fn parse_condemned(key: &str) -> Option<PackId> {
    let id: PackId = parse_id(key)?;
    (key == condemned(&id)).then_some(id)
}

/// The key of a running backup's marker.
pub fn marker(id: &crate::format::marker::MarkerId) -> String {
    format!("{RUNNING_PREFIX}{id}")
}

/// The key of one generation of the maintenance lock.
pub fn lock(generation: u64) -> String {
    format!("{LOCKS_PREFIX}{generation:0LOCK_DIGITS$}")
}

/// The generation of a lock key, if it is exactly `locks/` + 20 digits.
pub fn parse_lock(key: &str) -> Option<u64> {
    let digits = key.strip_prefix(LOCKS_PREFIX)?;
    if digits.len() != LOCK_DIGITS || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The id part of an object key under `prefix`, if it is a well-formed id.
pub fn parse_id<T: std::str::FromStr>(key: &str) -> Option<T> {
    let name = key.rsplit('/').next()?;
    // Only the canonical spelling: `FromStr` also accepts uppercase hex, but
    // an id read from an uppercase name would map back to a different key.
    let canonical = name.len() == 64
        && name
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
    if !canonical {
        return None;
    }
    name.parse().ok()
}

/// The pack a key names, only if it is exactly where [`pack`] puts it:
/// a pack id under the wrong prefix directory, under none or nested deeper
/// is not a pack (format-spec/01-layout.md). Reads and deletes use the
/// canonical key, so counting such a key as present would hide a missing
/// pack.
pub fn parse_pack(key: &str) -> Option<PackId> {
    let id: PackId = parse_id(key)?;
    (key == pack(&id)).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "00ff0123456789abcdef00112233445566778899aabbccddeeff0011223344ab";

    #[test]
    fn object_keys() {
        let id: PackId = HEX.parse().unwrap();
        assert_eq!(pack(&id), format!("packs/00/{HEX}"));
        assert_eq!(index(&IndexId(id.0)), format!("index/{HEX}"));
        assert_eq!(snapshot(&SnapshotId(id.0)), format!("snapshots/{HEX}"));
        assert_eq!(key(&KeyId(id.0)), format!("keys/{HEX}"));
        assert_eq!(lock(7), "locks/00000000000000000007");
        let m = crate::format::marker::MarkerId(id.0);
        assert_eq!(marker(&m), format!("running/{HEX}"));
        assert_eq!(parse_id(&marker(&m)), Some(m));
        assert_eq!(parse_lock(&lock(u64::MAX)), Some(u64::MAX));
        for bad in [
            "locks/7",
            "locks/0000000000000000000x",
            "locks/+0000000000000000007",
        ] {
            assert_eq!(parse_lock(bad), None, "{bad}");
        }
    }

    #[test]
    fn parse_pack_accepts_only_the_canonical_key() {
        let id = PackId([0x00; 32]);
        assert_eq!(parse_pack(&pack(&id)), Some(id));
        let hex = id.to_hex();
        for key in [
            format!("packs/ff/{hex}"),
            format!("packs/{hex}"),
            format!("packs/00/x/{hex}"),
            format!("other/00/{hex}"),
        ] {
            assert_eq!(parse_pack(&key), None, "{key}");
        }
    }

    #[test]
    fn parse_id_accepts_only_canonical_names() {
        let id: PackId = HEX.parse().unwrap();
        assert_eq!(parse_id::<PackId>(&pack(&id)), Some(id));
        assert_eq!(
            parse_id::<SnapshotId>(&format!("snapshots/{HEX}")),
            Some(SnapshotId(id.0))
        );
        assert_eq!(parse_id::<KeyId>(HEX), Some(KeyId(id.0)));
        let upper = HEX.to_uppercase();
        let bad = [
            format!("packs/00/{upper}"),
            format!("index/{}", &HEX[1..]),
            format!("index/{HEX}0"),
            format!("index/{}g", &HEX[1..]),
            format!("index/{HEX}/"),
            format!("index/{HEX}.tmp"),
            format!("index/+{}", &HEX[1..]),
            "config".to_string(),
            String::new(),
            format!("index/{}é", &HEX[2..]),
        ];
        for key in bad {
            assert_eq!(parse_id::<IndexId>(&key), None, "{key}");
        }
    }
}
