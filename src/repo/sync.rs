//! Keeping the index cache in step with the repository's index files.
//!
//! The sync is incremental in every case: new files are read and added one
//! at a time (so memory holds one index file, not the index), and the rows
//! of files that were deleted or superseded are dropped without touching the
//! others. A crash or an error between files leaves a consistent cache with
//! fewer files known; the next sync carries on from there.
//!
//! The cache trusts nothing the repository's listing does not back: a known
//! file no longer listed is dropped, and so is a supersession record whose
//! replacer is not listed (directly or through a chain of replacers). Such
//! records come from a copy of the repository (same id) that shares this
//! cache and was pruned; trusting them would hide index files the original
//! still relies on ("blob … is in no index").

use std::collections::{HashMap, HashSet};

use crate::error::{Error, Result};
use crate::ids::IndexId;
use crate::repo::{index_files, Repository};

impl Repository {
    /// Brings the index cache up to date with the repository's index files.
    /// With a put-only key, which cannot read index files, it only drops
    /// what the cache holds of packs no longer stored.
    pub fn sync_index(&self) -> Result<()> {
        if self.is_put_only() {
            return self.sync_put_only();
        }
        self.sync_index_skipping().map(|_| ())
    }

    /// [`Repository::sync_index`], returning the corrupt index files it
    /// skipped. A corrupt file is warned about and skipped, not fatal: one
    /// damaged index file must not stop every command. It is never recorded
    /// as known, so every sync warns again until `repair index` supersedes
    /// it; `check` reports it as damage.
    pub(crate) fn sync_index_skipping(&self) -> Result<Vec<IndexId>> {
        // Lookups after a sync see the cache as it is now, including rows
        // another process sharing the cache loaded (a mount following
        // new backups), not an older read snapshot.
        self.cache().refresh_reads();
        // Read before listing: only a file known before the listing can be
        // judged deleted by its absence from it (another process may add a
        // file it wrote after our listing).
        let known_before = self.cache().known_index_files()?;
        let records_before = self.cache().supersessions()?;
        let ahead = self.index_listing_ahead(&known_before, &records_before);
        let early = ahead.is_some();
        let listed = match ahead {
            Some(listed) => listed,
            None => self.index_ids()?,
        };
        let unbacked = unbacked_replacers(&records_before, &listed);
        if !unbacked.is_empty() {
            self.cache().forget_supersessions_by(&unbacked)?;
        }
        let mut superseded = self.cache().superseded()?;
        let mut corrupt: Vec<(IndexId, Error)> = Vec::new();
        // Read the new files at once (a round trip each on object storage),
        // then record them in listing order.
        let new: Vec<IndexId> = listed
            .iter()
            .filter(|id| !known_before.contains(id) && !superseded.contains(id))
            .copied()
            .collect();
        let loaded = super::fan_out::fetch_all(&new, |id| self.load_index_file(id));
        for (id, loaded) in new.iter().zip(loaded) {
            // A superseded file still listed (its replacer crashed before
            // deleting it) must never come back: its packs may be gone.
            if superseded.contains(id) {
                continue;
            }
            match loaded {
                Ok(file) => {
                    superseded.extend(file.supersedes.iter().copied());
                    self.cache().add_index_file(id, &file)?;
                }
                Err(e) if e.kind() == crate::ErrorKind::Corrupt => corrupt.push((*id, e)),
                // The listing taken at open is older by a key derivation: a
                // prune may have deleted a file in it since (after storing
                // its replacer). Sync again from a fresh listing; what was
                // added so far stays, as after any interrupted sync.
                Err(Error::Storage(s)) if early && s.is_not_found() => {
                    return self.sync_index_skipping();
                }
                Err(e) => return Err(e),
            }
        }
        let listed: HashSet<IndexId> = listed.into_iter().collect();
        let (known, superseded) = {
            let cache = self.cache();
            (cache.known_index_files()?, cache.superseded()?)
        };
        let dead: Vec<IndexId> = known
            .into_iter()
            .filter(|k| superseded.contains(k) || (known_before.contains(k) && !listed.contains(k)))
            .collect();
        if !dead.is_empty() {
            self.cache().forget_index_files(&dead)?;
        }
        // A corrupt file superseded by one read after it is no damage: the
        // replacer (`repair index`) is what the warning asks for.
        corrupt.retain(|(id, _)| !superseded.contains(id));
        for (id, e) in &corrupt {
            tracing::warn!(
                "skipping index file {id}: {e} (run `cairn check`, then `cairn repair index`)"
            );
        }
        Ok(corrupt.into_iter().map(|(id, _)| id).collect())
    }
}

impl Repository {
    /// The index listing started at open (`open.rs`), when it can stand in
    /// for one taken now: it was taken before `known` and `records` were
    /// read, so a file it lacks that they name may have been added since
    /// (by another process sharing the cache) rather than deleted. Then, or
    /// when a replacer is unbacked, `None`: the caller lists again.
    fn index_listing_ahead(
        &self,
        known: &HashSet<IndexId>,
        records: &[(IndexId, IndexId)],
    ) -> Option<Vec<IndexId>> {
        let listed = index_files::ids_of(&self.take_prefetched_index_listing()?);
        let all: HashSet<&IndexId> = listed.iter().collect();
        let whole = known.iter().all(|k| all.contains(k))
            && unbacked_replacers(records, &listed).is_empty();
        whole.then_some(listed)
    }
}

/// The replacers of `records` (superseded, replacer) that the listing does
/// not back: neither listed nor themselves superseded by a backed replacer.
/// Only records read before the listing are judged: a record is written
/// after its replacer is stored, so such a replacer missing from the
/// listing was deleted, or was never in this repository.
fn unbacked_replacers(records: &[(IndexId, IndexId)], listed: &[IndexId]) -> Vec<IndexId> {
    let mut by_superseded: HashMap<IndexId, Vec<IndexId>> = HashMap::new();
    for (old, replacer) in records {
        by_superseded.entry(*old).or_default().push(*replacer);
    }
    let mut backed: HashSet<IndexId> = listed.iter().copied().collect();
    // Walk down the chains: whatever a backed file superseded is backed.
    let mut changed = true;
    while changed {
        changed = false;
        for (old, replacers) in &by_superseded {
            if !backed.contains(old) && replacers.iter().any(|r| backed.contains(r)) {
                backed.insert(*old);
                changed = true;
            }
        }
    }
    let mut unbacked: Vec<IndexId> = records
        .iter()
        .map(|(_, r)| *r)
        .filter(|r| !backed.contains(r))
        .collect();
    unbacked.sort();
    unbacked.dedup();
    unbacked
}
