//! Backups running while prune runs, read from their markers
//! (format-spec/12-prune.md, "Rules for prune"). A fresh marker protects
//! every pack condemned from its backup's start (minus the clock margin) on:
//! its backup may rely on such a pack, having loaded its index before the
//! condemnation was stored. An unreadable marker protects every pack.

use serde::Serialize;

use crate::error::Result;
use crate::repo::marker::{self, SeenMarker};
use crate::repo::Repository;

/// One running backup, as prune reports it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RunningBackup {
    /// The marker's object key (`running/<id>`).
    pub marker: String,
    /// Host and process of the backup; `None` when the marker is unreadable.
    pub host: Option<String>,
    pub pid: Option<u32>,
    /// When it started, RFC 3339 (UTC), and the same in Unix seconds.
    pub started: Option<String>,
    pub started_unix: Option<i64>,
    /// Why the marker could not be read (then it protects every pack).
    pub error: Option<String>,
}

/// What the markers say at one instant of prune's clock.
#[derive(Debug, Clone, Default)]
pub struct Running {
    /// Fresh markers: backups that may still be running.
    pub backups: Vec<RunningBackup>,
    /// Packs condemned at or after this second are not deleted.
    pub protect_from: Option<i64>,
    /// Markers past their expiry and margin: left by killed backups,
    /// deleted at the end of the prune.
    pub expired: Vec<String>,
}

impl Running {
    /// Lists and reads `running/`. Must happen before prune lists snapshots:
    /// a backup whose marker is already gone has stored its snapshot.
    pub fn read(repo: &Repository, now: i64) -> Result<Running> {
        let mut out = Running::default();
        for m in marker::list(repo)? {
            if m.is_fresh(now) {
                let from = m.protects_from();
                out.protect_from = Some(out.protect_from.map_or(from, |p| p.min(from)));
                out.backups.push(describe(&m));
            } else {
                out.expired.push(m.key);
            }
        }
        Ok(out)
    }

    /// Must a pack condemned at `since` stay, whatever the grace period?
    pub fn protects(&self, since: i64) -> bool {
        self.protect_from.is_some_and(|from| since >= from)
    }

    /// One line for people: who runs since when, the oldest first.
    pub fn summary(&self) -> Option<String> {
        let mut backups: Vec<&RunningBackup> = self.backups.iter().collect();
        backups.sort_by_key(|b| b.started_unix.unwrap_or(i64::MIN));
        let first = backups.first()?;
        let who = match (&first.host, &first.started) {
            (Some(host), Some(started)) => format!("on {host} since {started}"),
            _ => format!(
                "(marker {} cannot be read: {}; delete it if no backup is running)",
                first.marker,
                first.error.as_deref().unwrap_or("?")
            ),
        };
        let more = match backups.len() {
            1 => String::new(),
            n => format!(" and {} more", n - 1),
        };
        Some(format!("a backup is running {who}{more}"))
    }
}

fn describe(m: &SeenMarker) -> RunningBackup {
    match &m.record {
        Ok(r) => RunningBackup {
            marker: m.key.clone(),
            host: Some(r.host.clone()),
            pid: Some(r.pid),
            started: chrono::DateTime::from_timestamp(r.started, 0).map(|d| d.to_rfc3339()),
            started_unix: Some(r.started),
            error: None,
        },
        Err(e) => RunningBackup {
            marker: m.key.clone(),
            host: None,
            pid: None,
            started: None,
            started_unix: None,
            error: Some(e.clone()),
        },
    }
}
