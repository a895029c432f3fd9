//! Index files in the repository: listing, reading (checked against their
//! name and, for put-only writers, against what only prune may do), and
//! storing them with their id list.

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::format::envelope::{self, ObjectType};
use crate::format::index::IndexFile;
use crate::format::layout;
use crate::ids::{content_hash, IndexId};
use crate::repo::Repository;

impl Repository {
    /// The ids of every index file stored, sorted.
    pub fn index_ids(&self) -> Result<Vec<IndexId>> {
        Ok(ids_of(&self.storage.list(layout::INDEX_PREFIX)?))
    }

    /// Reads, checks and decodes one index file.
    pub fn load_index_file(&self, id: &IndexId) -> Result<IndexFile> {
        let bytes = self.storage.get(&layout::index(id))?;
        if content_hash(&bytes) != id.0 {
            return Err(Error::corrupt(
                "index",
                format!("{id} does not match its name"),
            ));
        }
        let plain = envelope::open(&self.keys, ObjectType::Index, None, &bytes, None)?;
        let file = IndexFile::decode(&plain)?;
        // Only a full key's prune supersedes or condemns; a put-only key
        // could otherwise hide every index file or skip the grace period
        // (format-spec/18-put-only.md, threat model).
        let put_only = bytes.starts_with(&crate::crypto::SEALED_MARK);
        if put_only && (!file.supersedes.is_empty() || !file.condemned.is_empty()) {
            return Err(Error::corrupt(
                "index",
                format!(
                    "{id} was written with a put-only key yet supersedes or condemns: refused \
                     (only a full key's prune may)"
                ),
            ));
        }
        Ok(file)
    }

    /// Seals and stores an index file; records it in the cache once stored.
    /// Public for tools that build indexes (repair, the scale benchmark's
    /// synthetic repositories); backups go through [`BlobWriter`].
    pub fn save_index_file(&self, file: IndexFile) -> Result<IndexId> {
        let sealed = envelope::seal(&self.keys, ObjectType::Index, None, &file.encode(), Some(1));
        let id = IndexId(content_hash(&sealed));
        self.storage.put(&layout::index(&id), Bytes::from(sealed))?;
        // Its id list next, before any snapshot can rely on the file.
        self.store_id_list_if_needed(&id, &file)?;
        // Also drops the rows of the files it supersedes, at once.
        self.cache().add_index_file(&id, &file)?;
        Ok(id)
    }
}

/// The index file ids in a listing of `index/`, sorted.
pub(super) fn ids_of(listed: &[crate::storage::ObjectInfo]) -> Vec<IndexId> {
    let mut ids: Vec<IndexId> = listed
        .iter()
        .filter_map(|o| layout::parse_id(&o.key))
        .collect();
    ids.sort();
    ids
}
