//! Opening a repository in as few round trips as the protocol allows.
//!
//! Opening needs the config, the key list, a key file the password opens,
//! then (after the KDF) the index listing; most commands then list the
//! snapshots. On object storage 30-80 ms away each of those in sequence is
//! a round trip. So everything whose name is known goes out at once, in the
//! first round trip: the config, the key list, the snapshot and index
//! listings, and the key file that opened this location last time (its
//! name is kept in the local cache directory, per location: the repository
//! id is inside the sealed config, unknown until a key opens it). The KDF
//! then runs while nothing else waits.
//!
//! The remembered key file is a guess and is treated as one: its bytes are
//! used only if the key list just taken still names it (a removed key must
//! not open the repository from a copy that outlived it), and only after
//! they hash to that name and decode, as any key file must. A guess that
//! fails costs nothing but the request: the other listed key files are
//! then read as without it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::config::Config;
use crate::format::keyfile::{KeyFile, Unlocked};
use crate::format::layout;
use crate::ids::{content_hash, KeyId};
use crate::repo::snapshot_cache::{self, PrefetchedListing};
use crate::repo::{default_cache_root, fan_out, IndexCache, OpenOptions, Repository};
use crate::storage::{ObjectInfo, Storage, StorageResult};

/// What the first round trip brought.
struct Started {
    config: StorageResult<Vec<u8>>,
    keys: StorageResult<Vec<ObjectInfo>>,
    /// The remembered key file: its id and what reading it gave.
    guessed: Option<(KeyId, StorageResult<Vec<u8>>)>,
    snapshots: PrefetchedListing,
    index: PrefetchedListing,
    /// The key file remembered from the last open.
    guess: Option<KeyId>,
}

/// The file naming the key that last opened `location`, below `root`.
fn hint_path(root: &Path, location: &str) -> PathBuf {
    root.join("last-key")
        .join(IndexCache::location_tag(location))
}

fn read_hint(root: &Path, location: &str) -> Option<KeyId> {
    let text = std::fs::read_to_string(hint_path(root, location)).ok()?;
    text.trim().parse().ok()
}

/// Remembers `id` for the next open. Best effort: without it the next
/// open costs a round trip more, nothing else.
fn write_hint(root: &Path, location: &str, id: &KeyId) {
    let path = hint_path(root, location);
    let written = std::fs::create_dir_all(path.parent().expect("a parent"))
        .and_then(|()| super::tree_cache::write_file(&path, id.to_string().as_bytes()));
    if let Err(e) = written {
        tracing::debug!("cannot remember the key file in use: {e}");
    }
}

/// Sends every request of the first round trip and waits for those the
/// key needs; the listings go on in the background.
fn start(storage: &Arc<dyn Storage>, guess: Option<KeyId>, snapshots: bool) -> Started {
    let snapshots = match snapshots {
        true => snapshot_cache::prefetch_listing(storage, layout::SNAPSHOTS_PREFIX),
        false => None,
    };
    let index = snapshot_cache::prefetch_listing(storage, layout::INDEX_PREFIX);
    std::thread::scope(|s| {
        let keys = s.spawn(|| storage.list(layout::KEYS_PREFIX));
        let guessed = guess.map(|id| (id, s.spawn(move || storage.get(&layout::key(&id)))));
        let config = storage.get(layout::CONFIG);
        let panicked = || {
            let kind = crate::storage::StorageErrorKind::Permanent;
            crate::storage::StorageError::new(kind, "open", "", "a reader panicked")
        };
        Started {
            config,
            keys: keys.join().unwrap_or_else(|_| Err(panicked())),
            guessed: guessed.map(|(id, h)| (id, h.join().unwrap_or_else(|_| Err(panicked())))),
            snapshots,
            index,
            guess,
        }
    })
}

/// The outcome of trying one key file with the password.
enum Tried {
    Opened(Box<Repository>),
    PutOnly(crate::crypto::PutKeys, Config, KeyId),
    Damaged(Error),
    No,
}

impl Repository {
    pub(super) fn open_as(
        storage: Arc<dyn Storage>,
        password: &[u8],
        open: OpenOptions,
        put_only_ok: bool,
    ) -> Result<Repository> {
        let root = open.cache_dir.clone().or_else(default_cache_root);
        let location = storage.location();
        let guess = root.as_deref().and_then(|r| read_hint(r, &location));
        let mut started = start(&storage, guess, open.prefetch_snapshots);
        let config_bytes = match std::mem::replace(&mut started.config, Ok(Vec::new())) {
            Ok(b) => b,
            Err(e) if e.is_not_found() => return Err(Error::NoRepository(location)),
            Err(e) => return Err(e.into()),
        };
        let version = Config::peek_version(&config_bytes)?;
        if !crate::format::is_supported(version) {
            return Err(Error::UnsupportedVersion {
                found: version,
                supported: crate::format::NEWEST_VERSION,
            });
        }
        let listed = std::mem::replace(&mut started.keys, Ok(Vec::new()))?;
        let mut listed: Vec<(KeyId, String)> = listed
            .into_iter()
            .filter_map(|info| Some((layout::parse_id::<KeyId>(&info.key)?, info.key)))
            .collect();
        listed.sort_by(|a, b| a.1.cmp(&b.1));
        let ctx = (&storage, password, &config_bytes, &open);
        let (mut damaged, mut put_only) = (None, None);
        // The guess first, and only if the key list still names it.
        let guessed = started.guessed.take();
        let mut tried = None;
        if let Some((id, Ok(bytes))) = guessed.filter(|(id, _)| listed.iter().any(|l| l.0 == *id)) {
            tried = Some(id);
            match Self::try_key(ctx, id, &bytes, &mut started)? {
                Tried::Opened(repo) => return Ok(*repo),
                Tried::PutOnly(p, c, k) => put_only = Some((p, c, k)),
                Tried::Damaged(e) => damaged = Some(e),
                Tried::No => {}
            }
        }
        listed.retain(|(id, _)| Some(*id) != tried);
        let key_files = fan_out::fetch_all(&listed, |(_, key)| storage.get(key));
        for ((key_id, _), bytes) in listed.into_iter().zip(key_files) {
            match Self::try_key(ctx, key_id, &bytes?, &mut started)? {
                Tried::Opened(repo) => return Ok(*repo),
                // A full key wins over a put-only one the same password opens.
                Tried::PutOnly(p, c, k) if put_only.is_none() => put_only = Some((p, c, k)),
                Tried::Damaged(e) => damaged = Some(e),
                _ => {}
            }
        }
        match put_only {
            Some(_) if !put_only_ok => Err(Error::PutOnlyKey("this command".into())),
            Some((put, config, key_id)) => {
                let repo = Self::assemble_put_only(storage, &put, config, version, key_id, &open)?;
                if let Some(root) = root.as_deref().filter(|_| guess != Some(key_id)) {
                    write_hint(root, &location, &key_id);
                }
                Ok(repo)
            }
            // A damaged key file is only the answer when no key file opened.
            None => Err(damaged.unwrap_or(Error::WrongPassword)),
        }
    }

    /// Tries key file `key_id` (`bytes` as read) with the password; a full
    /// key that opens the config assembles the repository, handing it the
    /// listings under way and remembering the key for the next open.
    fn try_key(
        (storage, password, config_bytes, open): (&Arc<dyn Storage>, &[u8], &Vec<u8>, &OpenOptions),
        key_id: KeyId,
        bytes: &[u8],
        started: &mut Started,
    ) -> Result<Tried> {
        if content_hash(bytes) != key_id.0 {
            return Ok(Tried::Damaged(Error::corrupt(
                "key file",
                format!("{key_id} does not match its name"),
            )));
        }
        let kf = match KeyFile::decode(bytes) {
            Ok(kf) => kf,
            Err(e) => return Ok(Tried::Damaged(e)),
        };
        match kf.open_secret(password)? {
            Some(Unlocked::Full(master)) => {
                let mut keys = master.derive();
                // A key file left by a losing concurrent init opens with the
                // password but not the config: try the next one.
                let config = match Config::decode(config_bytes, &keys) {
                    Ok(config) => config,
                    Err(e) => return Ok(Tried::Damaged(e)),
                };
                if let Some(c) = &config.chunking {
                    keys.use_chunking(c);
                }
                let index = started.index.take();
                let repo = Self::assemble(storage.clone(), keys, config, key_id, open, index)?;
                *repo.prefetched.lock().unwrap_or_else(|p| p.into_inner()) =
                    started.snapshots.take();
                let root = open.cache_dir.clone().or_else(default_cache_root);
                if let Some(root) = root.filter(|_| started.guess != Some(key_id)) {
                    write_hint(&root, &storage.location(), &key_id);
                }
                Ok(Tried::Opened(Box::new(repo)))
            }
            Some(Unlocked::PutOnly(put, config)) => Ok(Tried::PutOnly(put, config, key_id)),
            None => Ok(Tried::No),
        }
    }
}
