//! Id lists (format-spec/18-put-only.md, "Id lists"): the blob ids of each
//! index file under the dedup key, so a put-only client deduplicates against
//! the whole repository without the key that opens index files.
//!
//! Every index-file writer holding the dedup key stores one right after
//! each index file, but only when the repository has a put-only key: the
//! writer lists `keys/` and looks at the magic of each key file, once per
//! process, at its first index file (no password needed; a repository
//! without put-only clients pays that one listing per backup and no PUT).
//! A put-only client with the dedup key fetches the lists it has not seen
//! into its dedup cache; the listing of `packs/` and `condemned/` it
//! already applies stays the authority over which of those rows it trusts.

use std::collections::HashSet;

use bytes::Bytes;

use crate::error::{Error, ErrorKind, Result};
use crate::format::id_list::IdList;
use crate::format::index::IndexFile;
use crate::format::keyfile::PUT_MAGIC;
use crate::format::layout;
use crate::ids::{content_hash, IdListId, IndexId, KeyId};
use crate::repo::Repository;

impl Repository {
    /// Whether the repository has a put-only key file (recognised by its
    /// magic, without its password): one listing of `keys/` and a GET per
    /// key file until one is found.
    pub fn has_put_only_keys(&self) -> Result<bool> {
        let mut listed = self.storage().list(layout::KEYS_PREFIX)?;
        listed.sort_by(|a, b| a.key.cmp(&b.key));
        for info in listed {
            if layout::parse_id::<KeyId>(&info.key).is_none() {
                continue;
            }
            match self.storage().get(&info.key) {
                Ok(bytes) if bytes.starts_with(PUT_MAGIC) => return Ok(true),
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(false)
    }

    /// Stores the id list of index file `index` when this writer writes id
    /// lists (it has the dedup key, and the repository a put-only key).
    /// Called right after the index file is stored, before any snapshot.
    pub(super) fn store_id_list_if_needed(&self, index: &IndexId, file: &IndexFile) -> Result<()> {
        let Some(key) = self.keys().dedup_key() else {
            return Ok(());
        };
        let needed = {
            let mut known = self
                .id_lists_needed
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            match *known {
                Some(n) => n,
                // A put-only client with the dedup key is itself such a key.
                None => *known.insert(self.is_put_only() || self.has_put_only_keys()?),
            }
        };
        if needed {
            let id = self.store_id_list(key, &IdList::of(*index, file))?;
            if self.is_put_only() {
                // Its own list is known already: never fetched back.
                self.cache()
                    .add_index_file(&IndexId(id.0), &IndexFile::default())?;
            }
        }
        Ok(())
    }

    fn store_id_list(&self, key: &[u8; 32], list: &IdList) -> Result<IdListId> {
        let sealed = list.seal(key);
        let id = IdListId(content_hash(&sealed));
        self.storage()
            .put(&layout::id_list(&id), Bytes::from(sealed))?;
        Ok(id)
    }

    /// Reads, checks (its name is the hash of its bytes) and opens one id list.
    pub fn load_id_list(&self, id: &IdListId) -> Result<IdList> {
        let key = self.keys().dedup_key().ok_or_else(|| {
            Error::PutOnlyKey("reading id lists (a key without the dedup key)".into())
        })?;
        let bytes = self.storage().get(&layout::id_list(id))?;
        if content_hash(&bytes) != id.0 {
            return Err(Error::corrupt(
                "id list",
                format!("{id} does not match its name"),
            ));
        }
        IdList::open(key, &bytes)
    }

    /// The ids of every id list stored, sorted.
    pub fn id_list_ids(&self) -> Result<Vec<IdListId>> {
        let mut ids: Vec<IdListId> = self
            .storage()
            .list(layout::IDS_PREFIX)?
            .iter()
            .filter_map(|o| layout::parse_id(&o.key))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Every stored id list, read in parallel; each with what reading it
    /// gave (a list deleted since the listing is left out).
    pub fn id_lists(&self) -> Result<Vec<(IdListId, Result<IdList>)>> {
        let ids = self.id_list_ids()?;
        self.fetch_id_lists(&ids)
    }

    fn fetch_id_lists(&self, ids: &[IdListId]) -> Result<Vec<(IdListId, Result<IdList>)>> {
        let loaded = super::fan_out::fetch_all(ids, |id| self.load_id_list(id));
        let mut out = Vec::with_capacity(ids.len());
        for (id, r) in ids.iter().zip(loaded) {
            match r {
                Err(e) if is_gone(&e) => {}
                Err(e) if e.kind() != ErrorKind::Corrupt => return Err(e),
                r => out.push((*id, r)),
            }
        }
        Ok(out)
    }

    /// Writes the id list of every live index file that has none (full
    /// key): run when a put-only key is added, so it deduplicates against
    /// what is already stored. Idempotent and resumable: a rerun writes
    /// only what is still missing. Returns how many it wrote.
    pub fn backfill_id_lists(&self) -> Result<u64> {
        self.require_full_key("writing id lists")?;
        let key = *self
            .keys()
            .dedup_key()
            .expect("a full key has the dedup key");
        // Id lists first: one listed now names an index file stored before it.
        let covered: HashSet<IndexId> = self
            .id_lists()?
            .into_iter()
            .filter_map(|(_, l)| l.ok().map(|l| l.index))
            .collect();
        self.sync_index()?;
        let superseded = self.cache().superseded()?;
        let missing: Vec<IndexId> = self
            .index_ids()?
            .into_iter()
            .filter(|i| !covered.contains(i) && !superseded.contains(i))
            .collect();
        let loaded = super::fan_out::fetch_all(&missing, |id| self.load_index_file(id));
        let mut written = 0;
        for (id, file) in missing.iter().zip(loaded) {
            match file {
                Ok(file) => {
                    self.store_id_list(&key, &IdList::of(*id, &file))?;
                    written += 1;
                }
                // Gone since the listing (a prune), or damaged (check says so).
                Err(e) if is_gone(&e) || e.kind() == ErrorKind::Corrupt => {
                    tracing::warn!("no id list for index file {id}: {e}");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(written)
    }

    /// Put-only, with the dedup key: adds the rows of every id list not yet
    /// in the dedup cache. One that fails (its name, its envelope, its
    /// content) is skipped with a warning and never trusted.
    pub(super) fn learn_id_lists(&self) -> Result<()> {
        if self.keys().dedup_key().is_none() {
            return Ok(());
        }
        let known = self.cache().known_index_files()?;
        let listed = self.id_list_ids()?;
        // A list no longer stored (removed by a prune with its index file,
        // or a lying one `check` named and an operator deleted) is forgotten
        // with its rows: trusted no longer. The client's own index files,
        // listed under `index/`, stay.
        let still: HashSet<IndexId> = listed.iter().map(|id| IndexId(id.0)).collect();
        let own: HashSet<IndexId> = self.index_ids()?.into_iter().collect();
        let gone: Vec<IndexId> = known
            .iter()
            .filter(|k| !still.contains(k) && !own.contains(k))
            .copied()
            .collect();
        if !gone.is_empty() {
            self.cache().forget_index_files(&gone)?;
        }
        let new: Vec<IdListId> = listed
            .into_iter()
            .filter(|id| !known.contains(&IndexId(id.0)))
            .collect();
        for (id, list) in self.fetch_id_lists(&new)? {
            match list.and_then(|l| l.to_cache_rows()) {
                Ok(rows) => {
                    self.cache().add_index_file(&IndexId(id.0), &rows)?;
                }
                Err(e) => tracing::warn!("ignoring id list {id}: {e}"),
            }
        }
        Ok(())
    }
}

/// A storage "not found": the object was deleted since it was listed.
fn is_gone(e: &Error) -> bool {
    matches!(e, Error::Storage(s) if s.is_not_found())
}
