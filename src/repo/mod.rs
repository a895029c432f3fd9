//! A repository: storage plus keys plus config plus the local index cache.
//! The only module that talks to [`Storage`]; everything above it reads and
//! writes typed objects through it.

mod cache;
mod fan_out;
mod id_lists;
mod index_files;
mod keyring;
#[cfg(test)]
mod keyring_lock_tests;
pub mod lock;
pub mod lock_rules;
pub mod marker;
pub mod object_lock;
mod open;
#[cfg(test)]
mod open_tests;
mod prune_cache;
mod put_only;
#[cfg(test)]
mod put_only_tests;
mod reader;
mod repack;
mod retention;
mod snapshot_cache;
mod snapshot_memo;
mod snapshots;
mod sync;
#[cfg(test)]
mod sync_tests;
#[cfg(test)]
mod tests;
mod tree_blocks;
pub mod tree_cache;
mod tree_fetch;
#[cfg(test)]
mod tree_fetch_tests;
mod tree_verify;
pub use tree_verify::{TreePacksRead, TREE_PACK_BYTES_AHEAD};
#[cfg(test)]
mod tree_verify_tests;
mod writer;

pub use cache::{BlobLocation, IndexCache};
pub(crate) use fan_out::fetch_all;
pub use keyring::{KeyInfo, NewKey};
pub use prune_cache::{PackUsage, UnindexedPack};
pub(crate) use reader::joins_read;
pub use reader::PackRead;
#[cfg(test)]
pub(crate) use reader::MAX_MERGED_READ;
pub use repack::Repacker;
pub use snapshot_cache::StorageOnly;
pub use snapshot_memo::SnapshotMemo;
pub use snapshots::{DamagedSnapshots, SnapshotFilter, SnapshotRef};
pub use writer::{BlobWriter, WriteStats};
pub(crate) use writer::{PACKS_PER_INDEX, TREE_PACK_SIZE};

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use crate::crypto::{ChunkingKeys, KdfParams, Keys, MasterKey};
use crate::error::{Error, Result};
use crate::format::config::{ChunkerParams, Config, RetentionLock};
use crate::format::keyfile::KeyFile;
use crate::format::{layout, FORMAT_VERSION, SHARED_CHUNKING_VERSION};
use crate::ids::{content_hash, KeyId};
use crate::storage::Storage;

/// Settings for a new repository.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// `None` is [`KdfParams::DEFAULT`].
    pub kdf: Option<KdfParams>,
    pub chunker: ChunkerParams,
    pub pack_size: u32,
    pub compression: Option<i32>,
    /// The format version to write: [`FORMAT_VERSION`] unless a test needs
    /// an older repository (one of [`crate::format::SUPPORTED_VERSIONS`]).
    pub version: u32,
    /// Retention the storage enforces on immutable objects; Object Lock
    /// needs a bucket created with Object Lock enabled (checked at init).
    pub lock: Option<RetentionLock>,
    /// Another repository's chunker parameters, id key and gear table
    /// ([`Repository::shared_chunking`]): copies from it keep every blob id.
    /// Writes format version 3 (09-config.md).
    pub chunking: Option<(ChunkerParams, ChunkingKeys)>,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            kdf: None,
            chunker: ChunkerParams::default(),
            pack_size: 16 * 1024 * 1024,
            compression: Some(3),
            version: FORMAT_VERSION,
            lock: None,
            chunking: None,
        }
    }
}

/// Settings for opening a repository.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Where the index cache lives; `None` uses the user's cache directory,
    /// falling back to an in-memory cache when there is none.
    pub cache_dir: Option<PathBuf>,
    /// List the snapshots while the key is derived (`snapshot_cache.rs`),
    /// for commands that will read them.
    pub prefetch_snapshots: bool,
}

/// An open repository. Cheap to share between threads.
pub struct Repository {
    storage: Arc<dyn Storage>,
    keys: Arc<Keys>,
    config: Config,
    key_id: KeyId,
    cache: Mutex<IndexCache>,
    tree_blocks: tree_blocks::TreeBlocks,
    /// Tree-pack blocks kept on disk (`None`: no usable cache directory).
    tree_cache: Option<tree_cache::TreeCache>,
    /// Trees decoded by a prefetch, for the walk that follows.
    trees_ahead: tree_fetch::Ahead,
    /// This repository's local cache directory (`None`: in memory only).
    local_dir: Option<PathBuf>,
    /// Whether index files get id lists, decided at the first one
    /// (`id_lists.rs`).
    id_lists_needed: Mutex<Option<bool>>,
    /// Held by [`Repository::read_storage_only`]'s guards: while any is
    /// alive, no local copy answers.
    storage_only: std::sync::atomic::AtomicUsize,
    /// The snapshot listing started at open, if asked for.
    prefetched: Mutex<snapshot_cache::PrefetchedListing>,
    /// The index listing started at open, for its first sync.
    prefetched_index: Mutex<snapshot_cache::PrefetchedListing>,
}

/// The default place for per-repository caches.
pub fn default_cache_root() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("cairn"))
}

impl Repository {
    /// Creates a repository in empty storage and opens it.
    pub fn init(
        storage: Arc<dyn Storage>,
        password: &[u8],
        opts: InitOptions,
        open: OpenOptions,
    ) -> Result<Repository> {
        match storage.get(layout::CONFIG) {
            Ok(_) => {
                return Err(Error::Usage(format!(
                    "a repository already exists at {}",
                    storage.location()
                )))
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        let (version, chunker, chunking) = match opts.chunking {
            Some((params, keys)) => (SHARED_CHUNKING_VERSION, params, Some(keys)),
            None => (opts.version, opts.chunker, None),
        };
        chunker.validate()?;
        if !crate::format::is_supported(version) {
            return Err(Error::Usage(format!(
                "cannot create a repository of format version {version}"
            )));
        }
        object_lock::check_supported(storage.as_ref(), opts.lock.as_ref())?;
        let retained = object_lock::wrap(storage.clone(), opts.lock.as_ref());
        let kdf = match opts.kdf {
            Some(k) => k,
            None => KdfParams::DEFAULT,
        };
        let master = MasterKey::generate();
        let mut keys = master.derive();
        if let Some(c) = &chunking {
            keys.use_chunking(c);
        }
        let mut repo_id = vec![0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut repo_id);
        let config = Config {
            repo_id,
            version,
            chunker,
            pack_size: opts.pack_size,
            compression: opts.compression,
            lock: opts.lock,
            chunking,
        };
        let kf = KeyFile::create(
            &master,
            password,
            kdf,
            crate::time::now().0,
            crate::time::hostname(),
            crate::time::username(),
        )?;
        let kf_bytes = kf.encode();
        let key_id = KeyId(content_hash(&kf_bytes));
        // The key file goes first: a config without a key would be unopenable.
        // The config is create-only: of two inits racing on one location,
        // exactly one wins and the other leaves nothing behind.
        retained.put(&layout::key(&key_id), Bytes::from(kf_bytes))?;
        if !retained.put_if_absent(layout::CONFIG, Bytes::from(config.encode(&keys)))? {
            storage.delete(&layout::key(&key_id))?;
            return Err(Error::Usage(format!(
                "a repository was created at {} at the same moment; use it",
                storage.location()
            )));
        }
        Self::assemble(storage, keys, config, key_id, &open, None)
    }

    /// Opens an existing repository with a password, for any command. A
    /// put-only key is refused here ([`Error::PutOnlyKey`]), before any
    /// data is read: only [`Repository::open_for_backup`] accepts one.
    pub fn open(
        storage: Arc<dyn Storage>,
        password: &[u8],
        open: OpenOptions,
    ) -> Result<Repository> {
        Self::open_as(storage, password, open, false)
    }

    /// Opens an existing repository to add a backup: a put-only key
    /// (format-spec/18-put-only.md) is accepted as well as a full one.
    pub fn open_for_backup(
        storage: Arc<dyn Storage>,
        password: &[u8],
        open: OpenOptions,
    ) -> Result<Repository> {
        Self::open_as(storage, password, open, true)
    }

    fn assemble(
        storage: Arc<dyn Storage>,
        keys: Keys,
        config: Config,
        key_id: KeyId,
        open: &OpenOptions,
        index_listing: snapshot_cache::PrefetchedListing,
    ) -> Result<Repository> {
        // An Object Lock repository reached through storage that cannot set
        // retention (a proxy or bucket without it) is refused here, at open,
        // not at its first write: one request, only for such repositories.
        object_lock::check_supported(storage.as_ref(), config.lock.as_ref())?;
        let storage = object_lock::wrap(storage, config.lock.as_ref());
        let root = open.cache_dir.clone().or_else(default_cache_root);
        let dir = root.map(|root| IndexCache::dir_for(&root, &config.repo_id, &storage.location()));
        Self::assemble_in(storage, keys, config, key_id, dir, index_listing)
    }

    /// Opens the index cache in `dir` (in memory without one) and syncs it,
    /// with the listing of `index/` started at open if there is one.
    fn assemble_in(
        storage: Arc<dyn Storage>,
        keys: Keys,
        config: Config,
        key_id: KeyId,
        dir: Option<PathBuf>,
        index_listing: snapshot_cache::PrefetchedListing,
    ) -> Result<Repository> {
        let cache = match &dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                IndexCache::open(&dir.join("index.sqlite"))?
            }
            None => IndexCache::in_memory()?,
        };
        let repo = Repository {
            storage,
            keys: Arc::new(keys),
            config,
            key_id,
            cache: Mutex::new(cache),
            tree_blocks: Default::default(),
            tree_cache: dir
                .as_deref()
                .and_then(|d| tree_cache::TreeCache::open(d, tree_cache::DEFAULT_LIMIT)),
            trees_ahead: Default::default(),
            local_dir: dir,
            id_lists_needed: Mutex::new(None),
            storage_only: Default::default(),
            prefetched: Mutex::new(None),
            prefetched_index: Mutex::new(index_listing),
        };
        repo.sync_index()?;
        Ok(repo)
    }

    /// Whether `storage` holds a repository (its config object).
    pub fn exists(storage: &dyn Storage) -> Result<bool> {
        match storage.get(layout::CONFIG) {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// What `init --copy-chunking-from` copies: the chunker parameters, id
    /// key and gear table this repository cuts and names blobs with.
    pub fn shared_chunking(&self) -> Result<(ChunkerParams, ChunkingKeys)> {
        self.require_full_key("sharing its chunking")?;
        Ok((self.config.chunker, self.keys.chunking_keys()))
    }

    pub fn keys(&self) -> &Arc<Keys> {
        &self.keys
    }

    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The key file this session was opened with.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    pub(crate) fn cache(&self) -> MutexGuard<'_, IndexCache> {
        // A panic while holding the lock leaves SQLite consistent (every write
        // is one transaction), so a poisoned lock is safe to keep using.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Gives back the index cache's page caches (up to 24 MiB), the kept
    /// tree-pack blocks (up to 16 MiB; a check or prune reading the tree
    /// packs ahead keeps up to 32 MiB more while it runs) and any trees
    /// decoded ahead of a walk that did not need them (up to 16 MiB), which
    /// refill as used: a service calls it when a job ends, so an idle
    /// process holding open repositories stays small.
    pub fn release_memory(&self) -> Result<()> {
        self.tree_blocks.clear();
        self.trees_ahead.clear();
        self.cache().release_memory()
    }

    /// Number of distinct blobs and packs the index knows.
    pub fn index_counts(&self) -> Result<(u64, u64)> {
        self.cache().counts()
    }
}
