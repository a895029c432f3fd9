//! A repository opened with a put-only key (format-spec/18-put-only.md): it
//! can add packs, index files and snapshots, sealed to the repository's
//! public key, and read nothing back.
//!
//! It cannot read index files, so its index cache holds what it wrote
//! itself (recorded as each of its index files is stored), in a directory
//! of its own per key. Before that cache is trusted for dedup, one listing
//! of `packs/` drops the rows of packs no longer stored (a full-key prune
//! may have removed them), and one listing of `condemned/` the rows of
//! packs a prune condemned (which it may delete while this backup runs).
//! With the dedup key its cache also learns every index file's rows from
//! the id lists (`id_lists.rs`), under the same two listings.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use crate::crypto::{Keys, PutKeys};
use crate::error::{Error, Result};
use crate::format::config::Config;
use crate::format::layout;
use crate::ids::{KeyId, PackId};
use crate::repo::{default_cache_root, IndexCache, OpenOptions, Repository};
use crate::storage::Storage;

impl Repository {
    /// Opens with a put-only key's bundle; `version` is the stored config's.
    pub(super) fn assemble_put_only(
        storage: Arc<dyn Storage>,
        put: &PutKeys,
        config: Config,
        version: u32,
        key_id: KeyId,
        open: &OpenOptions,
    ) -> Result<Repository> {
        if config.version != version {
            return Err(Error::Usage(format!(
                "this put-only key was made for format version {}, the repository is now at \
                 {version}: make a new one with `cairn key add --put-only`",
                config.version
            )));
        }
        let keys = Keys::put_only(put)?;
        // What it writes is retained like a full key's writes: a stolen
        // put-only machine must not be able to delete its recent backups.
        super::object_lock::check_supported(storage.as_ref(), config.lock.as_ref())?;
        let storage = super::object_lock::wrap(storage, config.lock.as_ref());
        let root = open.cache_dir.clone().or_else(default_cache_root);
        let dir = root.map(|root| {
            IndexCache::dir_for(&root, &config.repo_id, &storage.location())
                .join(format!("put-{}", &key_id.to_string()[..16]))
        });
        Self::assemble_in(storage, keys, config, key_id, dir, None)
    }

    /// True when the repository was opened with a put-only key.
    pub fn is_put_only(&self) -> bool {
        self.keys().is_put_only()
    }

    /// This repository's local cache directory, when it has one on disk
    /// (a put-only key's is its own, per key).
    pub fn local_dir(&self) -> Option<&Path> {
        self.local_dir.as_deref()
    }

    /// Fails with [`Error::PutOnlyKey`] naming `what` when the key is
    /// put-only: for library entry points that read or delete.
    pub fn require_full_key(&self, what: &str) -> Result<()> {
        if self.is_put_only() {
            return Err(Error::PutOnlyKey(what.to_string()));
        }
        Ok(())
    }

    /// The packs a prune named condemned (`condemned/<id>`, P4 of
    /// format-spec/12-prune.md): what a client that cannot read the
    /// condemnation records must not rely on.
    pub(crate) fn condemned_names(&self) -> Result<HashSet<PackId>> {
        Ok(self
            .storage()
            .list(layout::CONDEMNED_PREFIX)?
            .iter()
            .filter_map(|o| layout::parse_condemned(&o.key))
            .collect())
    }

    /// Drops the cache's rows of packs that are no longer stored or that a
    /// prune condemned (named in `condemned/`: W1 of format-spec/12-prune.md,
    /// which a full key applies from the index's condemnation records).
    pub(super) fn sync_put_only(&self) -> Result<()> {
        // Rows from id lists are filtered below like the client's own.
        self.learn_id_lists()?;
        let cached = self.cache().pack_ids()?;
        if cached.is_empty() {
            return Ok(());
        }
        // Names before packs: prune deletes a pack before its name, so a
        // pack gone from this listing of names is gone from the next one.
        let condemned = self.condemned_names()?;
        let stored: HashSet<PackId> = self
            .storage()
            .list(layout::PACKS_PREFIX)?
            .iter()
            .filter_map(|o| layout::parse_pack(&o.key))
            .collect();
        let gone: Vec<PackId> = cached
            .into_iter()
            .filter(|p| !stored.contains(p) || condemned.contains(p))
            .collect();
        if !gone.is_empty() {
            self.cache().forget_packs(&gone)?;
        }
        Ok(())
    }
}
