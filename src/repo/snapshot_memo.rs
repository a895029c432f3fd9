//! Snapshots kept in memory by a long-running process (the service), so a
//! listing costs one LIST of the snapshot directory, or nothing while the
//! memo is fresh, instead of one GET and one decryption per snapshot.
//!
//! Safe because a snapshot file is named by the hash of its sealed bytes:
//! a name once read never means other bytes. A refresh lists the names,
//! loads only the new ones (in parallel) and drops the gone ones, so
//! snapshots written or forgotten by another process appear or vanish at
//! the next refresh.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::error::Result;
use crate::ids::SnapshotId;
use crate::repo::{DamagedSnapshots, Repository, SnapshotFilter, SnapshotRef};

/// The snapshots of one repository as of the last refresh.
#[derive(Default)]
pub struct SnapshotMemo {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    known: HashMap<SnapshotId, crate::format::snapshot::Snapshot>,
    /// Damaged snapshots are tried again at each refresh.
    damaged: Vec<SnapshotId>,
    refreshed: Option<Instant>,
}

impl SnapshotMemo {
    pub fn new() -> SnapshotMemo {
        SnapshotMemo::default()
    }

    /// Makes the next [`SnapshotMemo::list`] refresh, whatever its age
    /// (call it after writing or forgetting snapshots).
    pub fn invalidate(&self) {
        self.lock().refreshed = None;
    }

    /// The snapshots matching `filter`, oldest first, like
    /// [`Repository::readable_snapshots`]. Refreshes from the repository
    /// first when the last refresh is older than `max_age`.
    pub fn list(
        &self,
        repo: &Repository,
        filter: &SnapshotFilter,
        max_age: Duration,
    ) -> Result<(Vec<SnapshotRef>, DamagedSnapshots)> {
        let fresh = self
            .lock()
            .refreshed
            .is_some_and(|t| t.elapsed() <= max_age);
        let mut damaged = Vec::new();
        if !fresh {
            damaged = self.refresh(repo)?;
        } else {
            let state = self.lock();
            for id in &state.damaged {
                let why = crate::Error::corrupt("snapshot", format!("{id} could not be read"));
                damaged.push((*id, why));
            }
        }
        let state = self.lock();
        let mut out: Vec<SnapshotRef> = state
            .known
            .iter()
            .filter(|(_, s)| filter.matches(s))
            .map(|(id, s)| SnapshotRef {
                id: *id,
                snapshot: s.clone(),
            })
            .collect();
        out.sort_by(|a, b| a.snapshot.time.cmp(&b.snapshot.time).then(a.id.cmp(&b.id)));
        Ok((out, damaged))
    }

    /// Lists the snapshot names, loads the new ones and drops the gone ones.
    fn refresh(&self, repo: &Repository) -> Result<DamagedSnapshots> {
        let ids = repo.snapshot_ids()?;
        let missing: Vec<SnapshotId> = {
            let state = self.lock();
            ids.iter()
                .filter(|id| !state.known.contains_key(id))
                .copied()
                .collect()
        };
        let loaded: Vec<(SnapshotId, Result<_>)> = missing
            .par_iter()
            .map(|id| (*id, repo.load_snapshot(id)))
            .collect();
        let mut damaged = Vec::new();
        let mut state = self.lock();
        let present: std::collections::HashSet<SnapshotId> = ids.into_iter().collect();
        state.known.retain(|id, _| present.contains(id));
        state.damaged.clear();
        for (id, r) in loaded {
            match r {
                Ok(s) => {
                    state.known.insert(id, s);
                }
                Err(e) if e.kind() == crate::ErrorKind::Corrupt => {
                    state.damaged.push(id);
                    damaged.push((id, e));
                }
                // A snapshot forgotten between the LIST and the GET is simply gone.
                Err(crate::Error::Storage(e)) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        state.refreshed = Some(Instant::now());
        Ok(damaged)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::SnapshotMemo;
    use crate::crypto::KdfParams;
    use crate::format::layout;
    use crate::format::snapshot::{Snapshot, Summary};
    use crate::format::tree::Timestamp;
    use crate::ids::{SnapshotId, TreeId};
    use crate::repo::{InitOptions, OpenOptions, Repository, SnapshotFilter};
    use crate::storage::memory::MemoryStorage;
    use crate::storage::Storage;

    fn snapshot(secs: i64, host: &str) -> Snapshot {
        Snapshot {
            time: Timestamp { secs, nanos: 0 },
            utc_offset_secs: 0,
            host: host.into(),
            username: "u".into(),
            tags: vec![],
            paths: vec!["/data".into()],
            excludes: vec![],
            parent: None,
            tree: TreeId([7; 32]),
            original: None,
            program: "test".into(),
            summary: Summary::default(),
        }
    }

    fn repo(storage: Arc<MemoryStorage>, cache: &std::path::Path) -> Repository {
        let init = InitOptions {
            kdf: Some(KdfParams::insecure_for_tests()),
            ..Default::default()
        };
        let open = OpenOptions {
            cache_dir: Some(cache.to_path_buf()),
            ..Default::default()
        };
        Repository::init(storage, b"pw", init, open).unwrap()
    }

    fn ids(list: &[crate::repo::SnapshotRef]) -> Vec<SnapshotId> {
        list.iter().map(|s| s.id).collect()
    }

    #[test]
    fn follows_snapshots_added_and_removed_by_others_and_loads_each_once() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Arc::new(MemoryStorage::new());
        let repo = repo(storage.clone(), dir.path());
        let a = repo.save_snapshot(&snapshot(10, "a")).unwrap();
        let b = repo.save_snapshot(&snapshot(20, "b")).unwrap();
        let memo = SnapshotMemo::new();
        let all = SnapshotFilter::default();
        let (list, damaged) = memo.list(&repo, &all, Duration::ZERO).unwrap();
        assert_eq!(ids(&list), vec![a, b]);
        assert!(damaged.is_empty());

        // Another process adds one and forgets one.
        let c = repo.save_snapshot(&snapshot(30, "a")).unwrap();
        storage.delete(&layout::snapshot(&a)).unwrap();
        // While fresh, the memo answers without looking.
        let (list, _) = memo.list(&repo, &all, Duration::from_secs(3600)).unwrap();
        assert_eq!(ids(&list), vec![a, b]);
        // Stale (or invalidated), it follows the repository.
        memo.invalidate();
        let (list, _) = memo.list(&repo, &all, Duration::from_secs(3600)).unwrap();
        assert_eq!(ids(&list), vec![b, c]);
        let host_a = SnapshotFilter {
            hosts: vec!["a".into()],
            ..Default::default()
        };
        let (list, _) = memo.list(&repo, &host_a, Duration::ZERO).unwrap();
        assert_eq!(ids(&list), vec![c]);

        // Known snapshots are not read again: a damaged copy of b's file
        // under its own name would be noticed if it were.
        let key = layout::snapshot(&b);
        let mut bytes = storage.get(&key).unwrap().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        storage.delete(&key).unwrap();
        storage.put(&key, bytes.into()).unwrap();
        let (list, damaged) = memo.list(&repo, &all, Duration::ZERO).unwrap();
        assert_eq!(ids(&list), vec![b, c]);
        assert!(damaged.is_empty());
    }

    #[test]
    fn a_damaged_snapshot_is_reported_at_every_listing() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Arc::new(MemoryStorage::new());
        let repo = repo(storage.clone(), dir.path());
        let good = repo.save_snapshot(&snapshot(10, "a")).unwrap();
        let bad = repo.save_snapshot(&snapshot(20, "a")).unwrap();
        let key = layout::snapshot(&bad);
        let mut bytes = storage.get(&key).unwrap().to_vec();
        bytes[40] ^= 1;
        storage.delete(&key).unwrap();
        storage.put(&key, bytes.into()).unwrap();
        let memo = SnapshotMemo::new();
        let all = SnapshotFilter::default();
        for max_age in [Duration::ZERO, Duration::from_secs(3600)] {
            let (list, damaged) = memo.list(&repo, &all, max_age).unwrap();
            assert_eq!(ids(&list), vec![good]);
            assert_eq!(damaged.iter().map(|d| d.0).collect::<Vec<_>>(), vec![bad]);
        }
    }
}
