//! Where each object lives on the backend: ids → object keys. The only place
//! that knows the directory layout.

use crate::ids::{IndexId, KeyId, PackId, SnapshotId};

pub const CONFIG: &str = "config";
pub const KEYS_PREFIX: &str = "keys/";
pub const SNAPSHOTS_PREFIX: &str = "snapshots/";
pub const INDEX_PREFIX: &str = "index/";
pub const PACKS_PREFIX: &str = "packs/";

pub fn key(id: &KeyId) -> String {
    format!("{KEYS_PREFIX}{id}")
}

pub fn snapshot(id: &SnapshotId) -> String {
    format!("{SNAPSHOTS_PREFIX}{id}")
}

pub fn index(id: &IndexId) -> String {
    format!("{INDEX_PREFIX}{id}")
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
    if name.len() != 64 {
        return None;
    }
    name.parse().ok()
}
