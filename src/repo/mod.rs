//! A repository: storage plus keys plus config plus the local index cache.
//! The only module that talks to [`Storage`]; everything above it reads and
//! writes typed objects through it.

mod cache;
pub mod lock;
mod prune_cache;
mod reader;
mod repack;
mod retention;
mod snapshots;
#[cfg(test)]
mod tests;
mod tree_blocks;
mod writer;

pub use cache::{BlobLocation, IndexCache};
pub use prune_cache::{PackUsage, UnindexedPack};
pub use reader::PackRead;
pub use repack::Repacker;
pub use snapshots::{SnapshotFilter, SnapshotRef};
pub use writer::{BlobWriter, WriteStats};

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;

use crate::crypto::{KdfParams, Keys, MasterKey};
use crate::error::{Error, Result};
use crate::format::config::{ChunkerParams, Config};
use crate::format::envelope::{self, ObjectType};
use crate::format::index::IndexFile;
use crate::format::keyfile::KeyFile;
use crate::format::{layout, FORMAT_VERSION};
use crate::ids::{content_hash, IndexId, KeyId};
use crate::storage::Storage;

/// Settings for a new repository.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// `None` calibrates Argon2id to about half a second on this machine.
    pub kdf: Option<KdfParams>,
    pub chunker: ChunkerParams,
    pub pack_size: u32,
    pub compression: Option<i32>,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            kdf: None,
            chunker: ChunkerParams::default(),
            pack_size: 16 * 1024 * 1024,
            compression: Some(3),
        }
    }
}

/// Settings for opening a repository.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Where the index cache lives; `None` uses the user's cache directory,
    /// falling back to an in-memory cache when there is none.
    pub cache_dir: Option<PathBuf>,
}

/// An open repository. Cheap to share between threads.
pub struct Repository {
    storage: Arc<dyn Storage>,
    keys: Arc<Keys>,
    config: Config,
    key_id: KeyId,
    cache: Mutex<IndexCache>,
    tree_blocks: tree_blocks::TreeBlocks,
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
        opts.chunker.validate()?;
        let kdf = match opts.kdf {
            Some(k) => k,
            None => KdfParams::calibrate(Duration::from_millis(500))?,
        };
        let master = MasterKey::generate();
        let keys = master.derive();
        let mut repo_id = vec![0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut repo_id);
        let config = Config {
            repo_id,
            version: FORMAT_VERSION,
            chunker: opts.chunker,
            pack_size: opts.pack_size,
            compression: opts.compression,
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
        storage.put(&layout::key(&key_id), Bytes::from(kf_bytes))?;
        if !storage.put_if_absent(layout::CONFIG, Bytes::from(config.encode(&keys)))? {
            storage.delete(&layout::key(&key_id))?;
            return Err(Error::Usage(format!(
                "a repository was created at {} at the same moment; use it",
                storage.location()
            )));
        }
        Self::assemble(storage, keys, config, key_id, &open)
    }

    /// Opens an existing repository with a password.
    pub fn open(
        storage: Arc<dyn Storage>,
        password: &[u8],
        open: OpenOptions,
    ) -> Result<Repository> {
        let config_bytes = match storage.get(layout::CONFIG) {
            Ok(b) => b,
            Err(e) if e.is_not_found() => return Err(Error::NoRepository(storage.location())),
            Err(e) => return Err(e.into()),
        };
        let version = Config::peek_version(&config_bytes)?;
        if version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let mut keys_listed = storage.list(layout::KEYS_PREFIX)?;
        keys_listed.sort_by(|a, b| a.key.cmp(&b.key));
        let mut damaged = None;
        for info in keys_listed {
            let Some(key_id) = layout::parse_id::<KeyId>(&info.key) else {
                continue;
            };
            let bytes = storage.get(&info.key)?;
            if content_hash(&bytes) != key_id.0 {
                damaged = Some(Error::corrupt(
                    "key file",
                    format!("{key_id} does not match its name"),
                ));
                continue;
            }
            let kf = match KeyFile::decode(&bytes) {
                Ok(kf) => kf,
                Err(e) => {
                    damaged = Some(e);
                    continue;
                }
            };
            if let Some(master) = kf.unlock(password)? {
                let keys = master.derive();
                // A key file left by a losing concurrent init opens with the
                // password but not the config: try the next one.
                match Config::decode(&config_bytes, &keys) {
                    Ok(config) => return Self::assemble(storage, keys, config, key_id, &open),
                    Err(e) => damaged = Some(e),
                }
            }
        }
        // A damaged key file is only the answer when no key file opened.
        Err(damaged.unwrap_or(Error::WrongPassword))
    }

    fn assemble(
        storage: Arc<dyn Storage>,
        keys: Keys,
        config: Config,
        key_id: KeyId,
        open: &OpenOptions,
    ) -> Result<Repository> {
        let root = open.cache_dir.clone().or_else(default_cache_root);
        let cache = match root {
            Some(root) => {
                let dir = root.join(hex::encode(&config.repo_id));
                std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
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
        };
        repo.sync_index()?;
        Ok(repo)
    }

    pub fn config(&self) -> &Config {
        &self.config
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

    /// Brings the index cache up to date with the repository's index files:
    /// loads new ones, and rebuilds from scratch when one disappeared or a new
    /// one supersedes another.
    pub fn sync_index(&self) -> Result<()> {
        let listed: HashSet<IndexId> = self.index_ids()?.into_iter().collect();
        let (known, superseded) = {
            let cache = self.cache();
            (cache.known_index_files()?, cache.superseded()?)
        };
        // A superseded file still listed (its replacer crashed before deleting
        // it) must never come back: its packs may be gone.
        let new: Vec<IndexId> = listed
            .iter()
            .filter(|id| !known.contains(id) && !superseded.contains(id))
            .copied()
            .collect();
        // Vanished, or superseded while still loaded: rebuild either way.
        let vanished = known
            .iter()
            .any(|k| !listed.contains(k) || superseded.contains(k));
        if new.is_empty() && !vanished {
            return Ok(());
        }
        let mut loaded = Vec::with_capacity(new.len());
        let mut skipped = HashSet::new();
        for id in &new {
            match self.load_index_file_or_skip(id)? {
                Some(f) => loaded.push((*id, f)),
                None => {
                    skipped.insert(*id);
                }
            }
        }
        if !vanished && loaded.iter().all(|(_, f)| f.supersedes.is_empty()) {
            return self.cache().add_index_files(&loaded);
        }
        // Reload everything, skipping superseded files.
        let mut all = Vec::with_capacity(listed.len());
        // Files the new ones supersede are not even read: `repair index`
        // supersedes corrupt files, which would only warn again.
        let retired: HashSet<IndexId> = loaded
            .iter()
            .flat_map(|(_, f)| f.supersedes.iter().copied())
            .chain(superseded.iter().copied())
            .collect();
        for id in listed
            .iter()
            .filter(|id| !skipped.contains(id) && !retired.contains(id))
        {
            match loaded.iter().position(|(l, _)| l == id) {
                Some(p) => all.push(loaded.swap_remove(p)),
                None => {
                    if let Some(f) = self.load_index_file_or_skip(id)? {
                        all.push((*id, f));
                    }
                }
            }
        }
        let superseded: HashSet<IndexId> = all
            .iter()
            .flat_map(|(_, f)| f.supersedes.iter().copied())
            .chain(retired)
            .collect();
        all.retain(|(id, _)| !superseded.contains(id));
        self.cache().replace_all(&all, &superseded)
    }

    /// Loads an index file, or warns and returns `None` when it is corrupt:
    /// one damaged index file must not stop every command. It is never
    /// recorded as known, so every sync warns again until `repair index`
    /// supersedes it; `check` reports it as damage.
    fn load_index_file_or_skip(&self, id: &IndexId) -> Result<Option<IndexFile>> {
        match self.load_index_file(id) {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == crate::ErrorKind::Corrupt => {
                tracing::warn!(
                    "skipping index file {id}: {e} (run `cairn check`, then `cairn repair index`)"
                );
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The ids of every index file stored, sorted.
    pub fn index_ids(&self) -> Result<Vec<IndexId>> {
        let mut ids: Vec<IndexId> = self
            .storage
            .list(layout::INDEX_PREFIX)?
            .iter()
            .filter_map(|o| layout::parse_id(&o.key))
            .collect();
        ids.sort();
        Ok(ids)
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
        IndexFile::decode(&plain)
    }

    /// Seals and stores an index file; records it in the cache once stored.
    /// Public for tools that build indexes (repair, the scale benchmark's
    /// synthetic repositories); backups go through [`BlobWriter`].
    pub fn save_index_file(&self, file: IndexFile) -> Result<IndexId> {
        let sealed = envelope::seal(&self.keys, ObjectType::Index, None, &file.encode(), Some(1));
        let id = IndexId(content_hash(&sealed));
        self.storage.put(&layout::index(&id), Bytes::from(sealed))?;
        if file.supersedes.is_empty() {
            self.cache().add_index_files(&[(id, file)])?;
        } else {
            self.sync_index()?;
        }
        Ok(id)
    }

    /// Number of distinct blobs and packs the index knows.
    pub fn index_counts(&self) -> Result<(u64, u64)> {
        self.cache().counts()
    }
}
