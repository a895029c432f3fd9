//! Where each object lives on the backend: ids → object keys. The only place
//! that knows the directory layout.

use crate::ids::{IndexId, KeyId, PackId, SnapshotId};

pub const CONFIG: &str = "config";
pub const KEYS_PREFIX: &str = "keys/";
pub const SNAPSHOTS_PREFIX: &str = "snapshots/";
pub const INDEX_PREFIX: &str = "index/";
pub const PACKS_PREFIX: &str = "packs/";
/// The rolling audit's log (format-spec/12-audit.md).
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

pub fn audit(id: &crate::format::audit::AuditId) -> String {
    format!("{AUDIT_PREFIX}{id}")
}

/// Packs are fanned out by their first byte so no directory or listing page
/// grows past a few thousand entries.
pub fn pack(id: &PackId) -> String {
    let hex = id.to_hex();
    format!("{PACKS_PREFIX}{}/{hex}", &hex[..2])
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
