//! Saving, listing and selecting snapshots: by unique id prefix, `latest`,
//! or the newest at or before a point in time, always narrowed by host, tag
//! and path filters.

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::format::envelope::{self, ObjectType};
use crate::format::layout;
use crate::format::snapshot::Snapshot;
use crate::format::tree::Timestamp;
use crate::ids::{content_hash, SnapshotId};
use crate::repo::Repository;

/// A snapshot and its id.
#[derive(Debug, Clone)]
pub struct SnapshotRef {
    pub id: SnapshotId,
    pub snapshot: Snapshot,
}

/// Snapshots that could not be read, and why.
pub type DamagedSnapshots = Vec<(SnapshotId, Error)>;

/// Narrows a snapshot selection; empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct SnapshotFilter {
    /// Any of these hosts.
    pub hosts: Vec<String>,
    /// Every one of these tags.
    pub tags: Vec<String>,
    /// Snapshots whose path list contains every one of these paths.
    pub paths: Vec<String>,
    /// Only snapshots taken at or before this time.
    pub as_of: Option<Timestamp>,
}

impl SnapshotFilter {
    pub fn matches(&self, s: &Snapshot) -> bool {
        (self.hosts.is_empty() || self.hosts.contains(&s.host))
            && self.tags.iter().all(|t| s.tags.contains(t))
            && self
                .paths
                .iter()
                .all(|p| s.paths.contains(&normalize_path(p)))
            && self.as_of.is_none_or(|t| s.time <= t)
    }
}

/// A `--path` filter as backup records paths: absolute, without `.`, `..`
/// or a trailing slash, with the parent directory's symlinks resolved when
/// it still exists (backup canonicalises it); otherwise lexically, since a
/// snapshot may well be of a directory that is gone.
pub fn normalize_path(p: &str) -> String {
    use std::path::{Component, PathBuf};
    let abs = match std::env::current_dir() {
        Ok(cwd) => cwd.join(p),
        Err(_) => PathBuf::from(p),
    };
    let mut out = PathBuf::from("/");
    for c in abs.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    if let (Some(parent), Some(name)) = (out.parent(), out.file_name()) {
        if let Ok(real) = std::fs::canonicalize(parent) {
            return real.join(name).to_string_lossy().into_owned();
        }
    }
    out.to_string_lossy().into_owned()
}

impl Repository {
    /// Seals and stores a snapshot. Call only after the writer that stored
    /// its blobs has finished.
    pub fn save_snapshot(&self, snap: &Snapshot) -> Result<SnapshotId> {
        let sealed = envelope::seal(
            self.keys(),
            ObjectType::Snapshot,
            None,
            &snap.encode(),
            Some(3),
        );
        let id = SnapshotId(content_hash(&sealed));
        self.storage()
            .put(&layout::snapshot(&id), Bytes::from(sealed))?;
        Ok(id)
    }

    /// Reads, checks and decodes one snapshot: from its local copy when
    /// there is a sound one (`snapshot_cache.rs`), else from the storage.
    pub fn load_snapshot(&self, id: &SnapshotId) -> Result<Snapshot> {
        let bytes = match self.cached_snapshot(id) {
            Some(bytes) => bytes,
            None => {
                let bytes = self.storage().get(&layout::snapshot(id))?;
                if content_hash(&bytes) != id.0 {
                    return Err(Error::corrupt(
                        "snapshot",
                        format!("{id} does not match its name"),
                    ));
                }
                self.keep_snapshot(id, &bytes);
                bytes
            }
        };
        let plain = envelope::open(self.keys(), ObjectType::Snapshot, None, &bytes, None)?;
        Snapshot::decode(&plain)
    }

    /// Ids of every snapshot in the repository.
    pub fn snapshot_ids(&self) -> Result<Vec<SnapshotId>> {
        let listed = match self.take_prefetched_listing() {
            Some(listed) => listed,
            None => self.storage().list(layout::SNAPSHOTS_PREFIX)?,
        };
        let mut ids: Vec<SnapshotId> = listed
            .iter()
            .filter_map(|o| layout::parse_id(&o.key))
            .collect();
        ids.sort();
        self.forget_unlisted_snapshots(&ids);
        Ok(ids)
    }

    /// Every snapshot matching `filter`, oldest first. A damaged snapshot
    /// is an error: listing and selection must not silently skip one.
    pub fn snapshots(&self, filter: &SnapshotFilter) -> Result<Vec<SnapshotRef>> {
        let (list, damaged) = self.readable_snapshots(filter)?;
        match damaged.into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(list),
        }
    }

    /// Like [`Repository::snapshots`], but damaged snapshots are returned
    /// apart instead of failing the call, for callers (finding a backup's
    /// parent) that must keep working when one snapshot is unreadable.
    pub fn readable_snapshots(
        &self,
        filter: &SnapshotFilter,
    ) -> Result<(Vec<SnapshotRef>, DamagedSnapshots)> {
        let mut out = Vec::new();
        let mut damaged = Vec::new();
        let ids = self.snapshot_ids()?;
        let loaded = super::fan_out::fetch_all(&ids, |id| self.load_snapshot(id));
        for (id, loaded) in ids.into_iter().zip(loaded) {
            match loaded {
                Ok(snapshot) if filter.matches(&snapshot) => out.push(SnapshotRef { id, snapshot }),
                Ok(_) => {}
                Err(e) if e.kind() == crate::ErrorKind::Corrupt => damaged.push((id, e)),
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.snapshot.time.cmp(&b.snapshot.time).then(a.id.cmp(&b.id)));
        Ok((out, damaged))
    }

    /// Resolves `latest` or a unique id prefix, within `filter`.
    pub fn find_snapshot(&self, spec: &str, filter: &SnapshotFilter) -> Result<SnapshotRef> {
        if spec == "latest" {
            return self.snapshots(filter)?.pop().ok_or_else(|| {
                Error::Usage(match filter.as_of {
                    Some(_) => "no snapshot matches at or before that time".into(),
                    None => "no snapshot matches".into(),
                })
            });
        }
        let prefix = spec.to_ascii_lowercase();
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::Usage(format!(
                "{spec:?} is not a snapshot id, id prefix or \"latest\""
            )));
        }
        let matching: Vec<SnapshotId> = self
            .snapshot_ids()?
            .into_iter()
            .filter(|id| id.to_hex().starts_with(&prefix))
            .collect();
        match matching.as_slice() {
            [id] => {
                let snapshot = self.load_snapshot(id)?;
                if !filter.matches(&snapshot) {
                    return Err(Error::Usage(format!(
                        "snapshot {spec} does not match the filters"
                    )));
                }
                Ok(SnapshotRef { id: *id, snapshot })
            }
            [] => Err(Error::Usage(format!("no snapshot with id {spec}"))),
            _ => Err(Error::Usage(format!(
                "snapshot id prefix {spec} is ambiguous ({} matches)",
                matching.len()
            ))),
        }
    }
}
