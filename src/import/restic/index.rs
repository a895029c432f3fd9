//! restic index files (design.rst, "Indexing"): JSON listing packs and
//! their blobs. Index files named in another's `supersedes` are skipped:
//! their packs may be gone. Several files may describe the same blob; any
//! one location will do.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use super::crypto::{corrupt, MasterKey};
use super::pack::{open_unpacked, BlobLocation};
use super::parse_id;
use crate::error::Result;
use crate::storage::Storage;

pub const INDEX_PREFIX: &str = "index/";

#[derive(Deserialize)]
struct IndexJson {
    #[serde(default)]
    supersedes: Option<Vec<String>>,
    #[serde(default)]
    packs: Option<Vec<PackJson>>,
}

#[derive(Deserialize)]
struct PackJson {
    id: String,
    #[serde(default)]
    blobs: Option<Vec<BlobJson>>,
}

#[derive(Deserialize)]
struct BlobJson {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    offset: u64,
    length: u64,
    #[serde(default)]
    uncompressed_length: Option<u64>,
}

/// Data and tree blobs by id.
#[derive(Debug, Default)]
pub struct Index {
    pub data: HashMap<[u8; 32], BlobLocation>,
    pub trees: HashMap<[u8; 32], BlobLocation>,
}

impl Index {
    /// Loads every index file that no other supersedes.
    pub fn load(storage: &dyn Storage, key: &MasterKey) -> Result<Index> {
        let mut files = Vec::new();
        for o in storage.list(INDEX_PREFIX)? {
            let what = format!("restic index {}", o.key);
            let Ok(id) = super::parse_id(&o.key[INDEX_PREFIX.len()..], &what) else {
                continue; // not an index file's name (restic ignores it too)
            };
            let sealed = super::named_by_hash(storage.get(&o.key)?, &id, &what)?;
            let json = open_unpacked(key, &sealed, &what)?;
            files.push((o.key.clone(), decode(&json, &o.key)?));
        }
        let superseded: HashSet<String> = files
            .iter()
            .flat_map(|(_, f)| f.supersedes.iter().flatten())
            .map(|s| format!("{INDEX_PREFIX}{s}"))
            .collect();
        let mut index = Index::default();
        for (name, file) in files {
            if !superseded.contains(&name) {
                index.add(file, &name)?;
            }
        }
        Ok(index)
    }

    fn add(&mut self, file: IndexJson, name: &str) -> Result<()> {
        let what = format!("restic index {name}");
        for p in file.packs.into_iter().flatten() {
            let pack = parse_id(&p.id, &what)?;
            for b in p.blobs.into_iter().flatten() {
                let loc = BlobLocation {
                    pack,
                    offset: b.offset,
                    length: b.length,
                    uncompressed: b.uncompressed_length,
                };
                let map = match b.kind.as_str() {
                    "data" => &mut self.data,
                    "tree" => &mut self.trees,
                    other => return Err(corrupt(&what, format!("blob type {other:?}"))),
                };
                map.insert(parse_id(&b.id, &what)?, loc);
            }
        }
        Ok(())
    }
}

fn decode(json: &[u8], name: &str) -> Result<IndexJson> {
    serde_json::from_slice(json)
        .map_err(|e| corrupt(&format!("restic index {name}"), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_index_json_is_an_error() {
        let mut idx = Index::default();
        for bad in [
            &b"7"[..],
            br#"{"packs":[{"id":"zz","blobs":[]}]}"#,
            br#"{"packs":[{"id":"00","blobs":[]}]}"#,
            br#"{"packs":[{"id":"0000000000000000000000000000000000000000000000000000000000000000","blobs":[{"id":"00","type":"data","offset":0,"length":1}]}]}"#,
            br#"{"packs":[{"id":"0000000000000000000000000000000000000000000000000000000000000000","blobs":[{"id":"0000000000000000000000000000000000000000000000000000000000000000","type":"x","offset":0,"length":1}]}]}"#,
            br#"{"packs":[{"id":1}]}"#,
        ] {
            let r = decode(bad, "t").and_then(|f| idx.add(f, "t"));
            assert!(r.is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let ok = br#"{"supersedes":null,"packs":[{"id":"0000000000000000000000000000000000000000000000000000000000000001","blobs":null}]}"#;
        assert!(decode(ok, "t").and_then(|f| idx.add(f, "t")).is_ok());
    }
}
