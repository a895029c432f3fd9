//! `repair index`: one new index file, built from every readable index
//! file plus the headers of the packs they do not describe, superseding
//! every existing index file. Packs are only read, never written.
//!
//! For each pack in storage:
//! * listed by a readable index file with the right size: the entry is kept;
//! * otherwise its header is read (two ranged reads; the header is sealed,
//!   so what it says is authentic) and becomes the entry;
//! * if the header is unreadable (a truncated pack) but an index file listed
//!   the pack, the entry is cut to the blobs still wholly inside the pack,
//!   with the present size, so those blobs stay readable and the rest count
//!   as lost (a later backup stores them again);
//! * an unlisted pack whose header is unreadable is left unindexed.
//!
//! Entries for packs that are gone are dropped, so their blobs count as
//! lost and the next backup of the same data stores them again.

use std::collections::HashMap;

use serde::Serialize;

use crate::error::Result;
use crate::format::index::{IndexFile, PackEntry};
use crate::format::{layout, pack};
use crate::ids::{IndexId, PackId};
use crate::repo::Repository;

/// What `repair index` found and would write.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IndexRepairPlan {
    /// Every index file in storage: superseded and deleted by the new one.
    pub index_files: Vec<IndexId>,
    /// Index files that could not be read.
    pub corrupt_index_files: Vec<IndexId>,
    /// Packs whose entry is kept from a readable index file.
    pub kept: u64,
    /// Packs indexed anew from their header.
    pub from_headers: Vec<PackId>,
    /// Packs with an unreadable header, cut to the blobs still inside them.
    pub shortened: Vec<PackId>,
    /// Entries dropped because their pack is gone.
    pub dropped: Vec<PackId>,
    /// Packs no index lists whose header cannot be read: left alone.
    pub unreadable: Vec<PackId>,
    #[serde(skip)]
    packs: Vec<PackEntry>,
}

impl IndexRepairPlan {
    /// Whether the index already describes exactly the packs in storage.
    pub fn is_noop(&self) -> bool {
        self.corrupt_index_files.is_empty()
            && self.from_headers.is_empty()
            && self.shortened.is_empty()
            && self.dropped.is_empty()
    }

    /// Writes the new index file, then deletes the ones it supersedes.
    /// Returns the new file's id (`None` when there was nothing to do).
    pub fn execute(self, repo: &Repository) -> Result<Option<IndexId>> {
        if self.is_noop() {
            return Ok(None);
        }
        // `..Default::default()`: IndexFile may grow fields (prune owns it).
        #[allow(clippy::needless_update)]
        let file = IndexFile {
            supersedes: self.index_files.clone(),
            packs: self.packs,
            ..Default::default()
        };
        let id = repo.save_index_file(file)?;
        for old in &self.index_files {
            match repo.storage().delete(&layout::index(old)) {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        repo.sync_index()?;
        Ok(Some(id))
    }
}

/// Reads every index file and what packs are present, and plans the new index.
pub fn plan_index_repair(repo: &Repository) -> Result<IndexRepairPlan> {
    let mut plan = IndexRepairPlan::default();
    let present: HashMap<PackId, u64> = repo
        .storage()
        .list(layout::PACKS_PREFIX)?
        .into_iter()
        .filter_map(|o| layout::parse_pack(&o.key).map(|id| (id, o.size)))
        .collect();
    let ids = repo.index_ids()?;
    let mut known: HashMap<PackId, PackEntry> = HashMap::new();
    for id in &ids {
        match repo.load_index_file(id) {
            Ok(f) => {
                for p in f.packs {
                    known.entry(p.id).or_insert(p);
                }
            }
            Err(e) if e.kind() == crate::ErrorKind::Corrupt => plan.corrupt_index_files.push(*id),
            Err(e) => return Err(e),
        }
    }
    plan.index_files = ids;
    let mut dropped: Vec<PackId> = known
        .keys()
        .filter(|id| !present.contains_key(id))
        .copied()
        .collect();
    dropped.sort();
    plan.dropped = dropped;
    let mut present: Vec<(PackId, u64)> = present.into_iter().collect();
    present.sort();
    for (id, size) in present {
        match known.remove(&id) {
            Some(entry) if entry.size == size => {
                plan.kept += 1;
                plan.packs.push(entry);
            }
            old => match read_header(repo, &id, size)? {
                Some(entry) => {
                    plan.from_headers.push(id);
                    plan.packs.push(entry);
                }
                None => match old {
                    Some(mut entry) => {
                        entry
                            .blobs
                            .retain(|b| b.offset as u64 + b.length as u64 <= size);
                        entry.size = size;
                        plan.shortened.push(id);
                        plan.packs.push(entry);
                    }
                    None => plan.unreadable.push(id),
                },
            },
        }
    }
    Ok(plan)
}

/// A pack's index entry from its own header, or `None` when the header is
/// damaged; only a storage failure is an error.
fn read_header(repo: &Repository, id: &PackId, size: u64) -> Result<Option<PackEntry>> {
    let key = layout::pack(id);
    let tl = pack::TRAILER_LEN as u64;
    if size < tl {
        return Ok(None);
    }
    let trailer = repo.storage().get_range(&key, size - tl, tl)?;
    let Ok(hlen) = pack::header_length(&trailer, size) else {
        return Ok(None);
    };
    let data_len = size - tl - hlen as u64;
    let sealed = repo.storage().get_range(&key, data_len, hlen as u64)?;
    Ok(pack::decode_header(repo.keys(), &sealed, data_len)
        .ok()
        .map(|h| PackEntry {
            id: *id,
            kind: h.kind,
            size,
            blobs: h.blobs,
        }))
}
