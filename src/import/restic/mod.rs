//! A reader for restic repositories (versions 1 and 2), written from
//! restic's published design document (`doc/design.rst`), and
//! [`import_restic`], which stores every restic snapshot as a cairn one.
//!
//! The restic repository is read through [`Storage`], so a directory and
//! `s3:` work alike. Every item is authenticated before it is decrypted;
//! blobs are read with ranged reads of their pack and checked against
//! their SHA-256 id. Layout: `config`, `keys/`, `data/xx/<id>`, `index/`,
//! `snapshots/`.

pub mod crypto;
mod import;
pub mod index;
pub mod keys;
pub mod pack;
mod source;
pub mod tree;

use std::sync::Arc;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::storage::Storage;
use crypto::{corrupt, MasterKey};
use index::Index;
use pack::{open_blob, open_unpacked, pack_key};

pub use import::{
    import_restic, restic_origin, DamagedFile, ImportOptions, ImportReport, SnapshotOutcome,
    SnapshotReport,
};
pub use tree::{ResticNode, ResticSnapshot, ResticTree};

/// The repository versions this reader understands.
const VERSIONS: [u32; 2] = [1, 2];
const SNAPSHOTS_PREFIX: &str = "snapshots/";

#[derive(Deserialize)]
struct ConfigJson {
    version: u32,
}

/// An opened restic repository: its master key and loaded index.
pub struct ResticRepo {
    storage: Arc<dyn Storage>,
    key: MasterKey,
    version: u32,
    index: Index,
}

impl std::fmt::Debug for ResticRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResticRepo")
            .field("location", &self.storage.location())
            .field("version", &self.version)
            .finish()
    }
}

impl ResticRepo {
    /// Opens the repository with `password` (a wrong one is
    /// [`Error::ForeignPassword`]), checks its version and loads its index.
    pub fn open(storage: Arc<dyn Storage>, password: &[u8]) -> Result<ResticRepo> {
        let key = keys::open_master_key(&*storage, password)?;
        let sealed = storage.get("config").map_err(|e| match e.is_not_found() {
            true => Error::NoRepository(format!("{} (no restic config)", storage.location())),
            false => e.into(),
        })?;
        let json = open_unpacked(&key, &sealed, "restic config")?;
        let config: ConfigJson =
            serde_json::from_slice(&json).map_err(|e| corrupt("restic config", e.to_string()))?;
        if !VERSIONS.contains(&config.version) {
            return Err(Error::UnsupportedVersion {
                found: config.version,
                supported: 2,
            });
        }
        let index = Index::load(&*storage, &key)?;
        Ok(ResticRepo {
            storage,
            key,
            version: config.version,
            index,
        })
    }

    /// The repository format version (1 or 2).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Every snapshot with its id, oldest first. A snapshot file that
    /// cannot be read is returned as an error beside the others.
    pub fn snapshots(&self) -> Result<Vec<([u8; 32], Result<ResticSnapshot>)>> {
        let mut out = Vec::new();
        for o in self.storage.list(SNAPSHOTS_PREFIX)? {
            let name = &o.key[SNAPSHOTS_PREFIX.len()..];
            let what = format!("restic snapshot {name}");
            // restic lists only names that are ids: a stray file is not a snapshot.
            let Ok(id) = parse_id(name, &what) else {
                continue;
            };
            let snap = self
                .storage
                .get(&o.key)
                .map_err(Error::from)
                .and_then(|sealed| named_by_hash(sealed, &id, &what))
                .and_then(|sealed| open_unpacked(&self.key, &sealed, &what))
                .and_then(|json| ResticSnapshot::decode(&json, &what));
            out.push((id, snap));
        }
        let time = |s: &Result<ResticSnapshot>| s.as_ref().ok().map(|s| s.time);
        out.sort_by_key(|a| (time(&a.1), a.0));
        Ok(out)
    }

    /// A tree blob, decoded.
    pub fn tree(&self, id: &[u8; 32]) -> Result<ResticTree> {
        let bytes = self.blob(id, true)?;
        ResticTree::decode(&bytes, &format!("restic tree {}", hex::encode(id)))
    }

    /// A data or tree blob's plaintext: one ranged read of its pack.
    pub fn blob(&self, id: &[u8; 32], tree: bool) -> Result<Vec<u8>> {
        let map = if tree {
            &self.index.trees
        } else {
            &self.index.data
        };
        let loc = map.get(id).ok_or_else(|| {
            corrupt(
                &format!("restic blob {}", hex::encode(id)),
                "in no index file".into(),
            )
        })?;
        let sealed = self
            .storage
            .get_range(&pack_key(&loc.pack), loc.offset, loc.length)?;
        open_blob(&self.key, id, loc, &sealed)
    }
}

/// `sealed` if its SHA-256 is the name it was stored under (design.rst: a
/// file is named by the hash of its bytes). A valid MAC alone would let an
/// old snapshot or index file stand in for another under its name.
pub(crate) fn named_by_hash(sealed: Vec<u8>, id: &[u8; 32], what: &str) -> Result<Vec<u8>> {
    if &crypto::sha256(&sealed) != id {
        return Err(corrupt(
            what,
            "its content does not hash to its name".into(),
        ));
    }
    Ok(sealed)
}

/// A 64-digit hex id.
pub(crate) fn parse_id(s: &str, what: &str) -> Result<[u8; 32]> {
    let mut id = [0u8; 32];
    hex::decode_to_slice(s, &mut id).map_err(|_| corrupt(what, format!("bad id {s:?}")))?;
    Ok(id)
}
