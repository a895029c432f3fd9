//! Open repositories, cached by name: opening one costs the password's
//! KDF (seconds by design), so jobs and API calls share one open handle per
//! repository section. A cached handle re-reads the index files other
//! writers added before it is handed out. A reloaded configuration empties
//! the cache (a section may now point elsewhere). Each handle keeps its
//! snapshot list in memory too ([`SnapshotMemo`]): the API lists 10,000
//! snapshots without reading 10,000 files.
//!
//! A section's password may open a put-only key (format-spec/18-put-only.md):
//! the handle is opened with [`Repository::open_for_backup`] either way, so
//! the KDF runs once, and every caller but a backup job asks through
//! [`Repos::open`]/[`Repos::handle`], which answer [`Error::PutOnlyKey`]
//! (HTTP 403) for such a handle before any read is tried.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cairn::repo::{Repository, SnapshotMemo};
use cairn::storage::stats::StatsHandle;
use cairn::{Error, Result};

use crate::config::{open_for_backup, Config};

/// An open repository and the request counters of its storage.
#[derive(Clone)]
pub struct OpenRepo {
    pub repo: Arc<Repository>,
    pub stats: StatsHandle,
    pub snapshots: Arc<SnapshotMemo>,
}

#[derive(Default)]
pub struct Repos {
    open: Mutex<HashMap<String, OpenRepo>>,
}

impl Repos {
    /// The repository section `name` of `config`, opened (or from the cache,
    /// its index brought up to date).
    /// A put-only key is refused here.
    pub fn open(&self, config: &Config, name: &str) -> Result<OpenRepo> {
        full_key(name, self.open_for_backup(config, name)?)
    }

    /// Like [`Repos::open`], but a put-only key is accepted: for backup
    /// jobs and for listing the packs' sizes.
    pub fn open_for_backup(&self, config: &Config, name: &str) -> Result<OpenRepo> {
        let cached = self.lock().get(name).cloned();
        if let Some(o) = cached {
            o.repo.sync_index()?;
            return Ok(o);
        }
        self.handle_any(config, name)
    }

    /// True when `name`'s open handle holds a put-only key (false when it
    /// is not open yet: this never runs the KDF).
    pub fn is_put_only(&self, name: &str) -> bool {
        self.lock().get(name).is_some_and(|o| o.repo.is_put_only())
    }

    /// Like [`Repos::open`], but a cached handle is handed out as it is:
    /// for callers that read no index (a snapshot listing), so an API call
    /// does not cost a LIST of the index files.
    /// A put-only key is refused here.
    pub fn handle(&self, config: &Config, name: &str) -> Result<OpenRepo> {
        full_key(name, self.handle_any(config, name)?)
    }

    fn handle_any(&self, config: &Config, name: &str) -> Result<OpenRepo> {
        if let Some(o) = self.lock().get(name).cloned() {
            return Ok(o);
        }
        let access = config.access(name)?;
        let (repo, stats) = open_for_backup(&access, config.server.cache_dir.clone())?;
        let o = OpenRepo {
            repo: Arc::new(repo),
            stats,
            snapshots: Arc::new(SnapshotMemo::new()),
        };
        // Two callers may open it at once; the first one kept wins.
        Ok(self.lock().entry(name.to_string()).or_insert(o).clone())
    }

    /// Makes the next snapshot listing of `name` read the repository (a
    /// job may have added or forgotten snapshots).
    pub fn snapshots_changed(&self, name: &str) {
        if let Some(o) = self.lock().get(name) {
            o.snapshots.invalidate();
        }
    }

    /// Gives back the memory repository `name` keeps between jobs (its
    /// index cache's page caches and tree blocks); see
    /// [`Repository::release_memory`].
    pub fn release_memory(&self, name: &str) {
        let open = self.lock().get(name).map(|o| o.repo.clone());
        if let Some(Err(e)) = open.map(|r| r.release_memory()) {
            tracing::warn!("repository {name}: releasing cache memory: {e}");
        }
    }

    /// Forgets every open handle (after a configuration reload).
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, OpenRepo>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `o` if it holds a full key; else the put-only refusal naming `name`.
fn full_key(name: &str, o: OpenRepo) -> Result<OpenRepo> {
    if o.repo.is_put_only() {
        return Err(Error::PutOnlyKey(format!(
            "anything else on repository {name:?} (reading snapshots, restore, forget, \
             prune, check)"
        )));
    }
    Ok(o)
}

/// The repository's stored bytes and pack count, as its packs are listed
/// (one list request per thousand packs on S3).
pub fn pack_totals(repo: &Repository) -> Result<(u64, u64)> {
    let packs = repo.storage().list(cairn::format::layout::PACKS_PREFIX)?;
    Ok((packs.iter().map(|o| o.size).sum(), packs.len() as u64))
}
