//! The virtual directories at the top of the mount:
//!
//! ```text
//! snapshots/<time>_<id>/…   every snapshot, oldest first
//! ids/<id>/…                by short id (a full id also resolves)
//! hosts/<host>/<time>/…     per host
//! tags/<tag>/<time>/…       per tag
//! ```
//!
//! with a `latest` symlink to the newest snapshot in every snapshot listing.
//! Times are the snapshot's own local time as `2026-11-22T07-15-00`, free of
//! `:` so the names work in every tool. The snapshot list is re-read when a
//! virtual directory is used and the last read is older than the refresh
//! interval, so new snapshots appear without remounting.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::format::snapshot::Snapshot;
use crate::format::tree::{Meta, Node, NodeKind};
use crate::ids::SnapshotId;
use crate::mount::inode::VirtualDir;
use crate::repo::Repository;

/// The name of the symlink to the newest snapshot in each listing.
pub const LATEST: &str = "latest";

/// What a name in a virtual directory stands for.
#[derive(Debug, Clone)]
pub enum Item {
    Dir(VirtualDir),
    /// A snapshot's root directory.
    Snapshot(Arc<Node>),
    /// The `latest` symlink and its target.
    Latest(String),
}

/// One listing: names in order with the snapshot each one shows.
type Listing = Vec<(String, usize)>;

/// The snapshot list as of one refresh, with every listing precomputed.
#[derive(Default)]
pub struct View {
    snaps: Vec<(SnapshotId, Arc<Snapshot>)>,
    by_time: Listing,
    by_id: Listing,
    hosts: BTreeMap<String, Listing>,
    tags: BTreeMap<String, Listing>,
    /// Newest snapshot time, for the virtual directories' mtimes.
    pub newest: Option<crate::format::tree::Timestamp>,
}

impl View {
    fn build(mut snaps: Vec<(SnapshotId, Arc<Snapshot>)>) -> View {
        snaps.sort_by_key(|a| (a.1.time, a.0));
        let mut v = View {
            newest: snaps.last().map(|s| s.1.time),
            ..View::default()
        };
        let mut short_count: HashMap<String, usize> = HashMap::new();
        for (id, _) in &snaps {
            *short_count.entry(id.short()).or_default() += 1;
        }
        let mut per_host: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut per_tag: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, (id, s)) in snaps.iter().enumerate() {
            v.by_time
                .push((format!("{}_{}", time_name(s), id.short()), i));
            let short = id.short();
            let name = if short_count[&short] > 1 {
                id.to_hex()
            } else {
                short
            };
            v.by_id.push((name, i));
            per_host.entry(sanitize(&s.host)).or_default().push(i);
            for t in &s.tags {
                let list = per_tag.entry(sanitize(t)).or_default();
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
        }
        v.by_id.sort();
        let by_time = |list: Vec<usize>| -> Listing {
            let mut out: Listing = Vec::with_capacity(list.len());
            for i in list {
                let mut name = time_name(&snaps[i].1);
                if out.iter().any(|(n, _)| *n == name) {
                    name = format!("{name}_{}", snaps[i].0.short());
                }
                out.push((name, i));
            }
            out
        };
        v.hosts = per_host.into_iter().map(|(h, l)| (h, by_time(l))).collect();
        v.tags = per_tag.into_iter().map(|(t, l)| (t, by_time(l))).collect();
        v.snaps = snaps;
        v
    }

    fn listing(&self, dir: &VirtualDir) -> Option<&Listing> {
        match dir {
            VirtualDir::Snapshots => Some(&self.by_time),
            VirtualDir::Ids => Some(&self.by_id),
            VirtualDir::Host(h) => self.hosts.get(h),
            VirtualDir::Tag(t) => self.tags.get(t),
            _ => None,
        }
    }

    /// Everything in a virtual directory, or `None` if it no longer exists.
    pub fn list(&self, dir: &VirtualDir) -> Option<Vec<(String, Item)>> {
        let dirs = |names: Vec<(&str, VirtualDir)>| {
            names
                .into_iter()
                .map(|(n, d)| (n.to_string(), Item::Dir(d)))
                .collect()
        };
        match dir {
            VirtualDir::Root => Some(dirs(vec![
                ("hosts", VirtualDir::Hosts),
                ("ids", VirtualDir::Ids),
                ("snapshots", VirtualDir::Snapshots),
                ("tags", VirtualDir::Tags),
            ])),
            VirtualDir::Hosts => Some(dirs(
                self.hosts
                    .keys()
                    .map(|h| (h.as_str(), VirtualDir::Host(h.clone())))
                    .collect(),
            )),
            VirtualDir::Tags => Some(dirs(
                self.tags
                    .keys()
                    .map(|t| (t.as_str(), VirtualDir::Tag(t.clone())))
                    .collect(),
            )),
            _ => {
                let listing = self.listing(dir)?;
                let mut out: Vec<(String, Item)> = listing
                    .iter()
                    .map(|(n, i)| (n.clone(), self.snapshot_item(n, *i)))
                    .collect();
                if let Some(target) = self.latest_in(listing) {
                    out.push((LATEST.to_string(), Item::Latest(target)));
                }
                Some(out)
            }
        }
    }

    /// One name in a virtual directory.
    pub fn find(&self, dir: &VirtualDir, name: &str) -> Option<Item> {
        let listing = self.listing(dir);
        if let Some(listing) = listing {
            if name == LATEST {
                return self.latest_in(listing).map(Item::Latest);
            }
            if let Some((n, i)) = listing.iter().find(|(n, _)| n == name) {
                return Some(self.snapshot_item(n, *i));
            }
            if *dir == VirtualDir::Ids {
                let i = self.snaps.iter().position(|(id, _)| id.to_hex() == name)?;
                return Some(self.snapshot_item(name, i));
            }
            return None;
        }
        self.list(dir)?
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|e| e.1)
    }

    /// The name of the newest snapshot of a listing.
    fn latest_in(&self, listing: &Listing) -> Option<String> {
        let newest = listing.iter().map(|(_, i)| *i).max()?;
        listing
            .iter()
            .find(|(_, i)| *i == newest)
            .map(|(n, _)| n.clone())
    }

    fn snapshot_item(&self, name: &str, i: usize) -> Item {
        Item::Snapshot(Arc::new(root_node(name, &self.snaps[i].1)))
    }
}

/// A snapshot's root directory as a node: the snapshot's own tree, shown
/// read-only with the snapshot's time.
pub fn root_node(name: &str, s: &Snapshot) -> Node {
    Node {
        name: name.as_bytes().to_vec(),
        kind: NodeKind::Dir { subtree: s.tree },
        meta: virtual_meta(s.time),
    }
}

/// Metadata for directories the mount makes up: owned by whoever mounted.
pub fn virtual_meta(t: crate::format::tree::Timestamp) -> Meta {
    Meta {
        mode: libc::S_IFDIR | 0o555,
        uid: nix::unistd::getuid().as_raw(),
        gid: nix::unistd::getgid().as_raw(),
        mtime: t,
        ctime: t,
        links: 2,
        ..Meta::default()
    }
}

/// `2026-11-22T07-15-00` in the snapshot's recorded UTC offset.
fn time_name(s: &Snapshot) -> String {
    let local = s.time.secs.saturating_add(s.utc_offset_secs as i64);
    match chrono::DateTime::from_timestamp(local, 0) {
        Some(d) => d.format("%Y-%m-%dT%H-%M-%S").to_string(),
        None => format!("@{}", s.time.secs),
    }
}

/// A host or tag as a single safe path component.
fn sanitize(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c == '/' || c == '\0' { '_' } else { c })
        .collect();
    match clean.as_str() {
        "" | "." | ".." => format!("_{clean}"),
        _ => clean,
    }
}

/// The snapshot list, re-read at most once per interval.
pub struct Layout {
    repo: Arc<Repository>,
    interval: Duration,
    state: Mutex<State>,
}

struct State {
    refreshed: Option<Instant>,
    loaded: HashMap<SnapshotId, Arc<Snapshot>>,
    view: Arc<View>,
}

impl Layout {
    pub fn new(repo: Arc<Repository>, interval: Duration) -> Self {
        Layout {
            repo,
            interval,
            state: Mutex::new(State {
                refreshed: None,
                loaded: HashMap::new(),
                view: Arc::new(View::default()),
            }),
        }
    }

    /// The current view, re-reading the repository first if it is stale.
    /// A failed re-read keeps the previous view: browsing goes on.
    pub fn view(&self) -> Arc<View> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.refreshed.is_none_or(|t| t.elapsed() >= self.interval) {
            st.refreshed = Some(Instant::now());
            if let Err(e) = self.refresh(&mut st) {
                tracing::warn!("mount: re-reading the snapshot list failed: {e}");
            }
        }
        st.view.clone()
    }

    fn refresh(&self, st: &mut State) -> crate::Result<()> {
        // New snapshots need their index entries before their files open.
        self.repo.sync_index()?;
        let ids = self.repo.snapshot_ids()?;
        let mut loaded = HashMap::with_capacity(ids.len());
        for id in ids {
            if let Some(s) = st.loaded.get(&id) {
                loaded.insert(id, s.clone());
                continue;
            }
            match self.repo.load_snapshot(&id) {
                Ok(s) => {
                    loaded.insert(id, Arc::new(s));
                }
                Err(e) => tracing::warn!("mount: leaving out snapshot {}: {e}", id.short()),
            }
        }
        st.view = Arc::new(View::build(
            loaded.iter().map(|(id, s)| (*id, s.clone())).collect(),
        ));
        st.loaded = loaded;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::tree::Timestamp;

    fn snap(id: u8, secs: i64, host: &str, tags: &[&str]) -> (SnapshotId, Arc<Snapshot>) {
        let mut s = crate::format::snapshot::tests::sample();
        s.time = Timestamp { secs, nanos: 0 };
        s.utc_offset_secs = 3600;
        s.host = host.into();
        s.tags = tags.iter().map(|t| t.to_string()).collect();
        (SnapshotId([id; 32]), Arc::new(s))
    }

    fn names(v: &View, dir: &VirtualDir) -> Vec<String> {
        v.list(dir).unwrap().into_iter().map(|(n, _)| n).collect()
    }

    #[test]
    fn listings_names_and_latest() {
        // 1_700_000_000 is 2023-11-14 22:13:20 UTC; shown at UTC+1.
        let v = View::build(vec![
            snap(0xbb, 1_700_000_060, "h/1", &["t"]),
            snap(0xaa, 1_700_000_000, "h/1", &["t", "t"]),
            snap(0xcc, 1_700_000_000, "", &[]),
        ]);
        assert_eq!(
            names(&v, &VirtualDir::Snapshots),
            [
                "2023-11-14T23-13-20_aaaaaaaa",
                "2023-11-14T23-13-20_cccccccc",
                "2023-11-14T23-14-20_bbbbbbbb",
                "latest"
            ]
        );
        assert_eq!(names(&v, &VirtualDir::Hosts), ["_", "h_1"]);
        assert_eq!(
            names(&v, &VirtualDir::Host("h_1".into())),
            ["2023-11-14T23-13-20", "2023-11-14T23-14-20", "latest"]
        );
        assert_eq!(names(&v, &VirtualDir::Tags), ["t"]);
        assert_eq!(names(&v, &VirtualDir::Tag("t".into())).len(), 3);
        assert_eq!(
            names(&v, &VirtualDir::Ids),
            ["aaaaaaaa", "bbbbbbbb", "cccccccc", "latest"]
        );
        match v.find(&VirtualDir::Ids, LATEST) {
            Some(Item::Latest(t)) => assert_eq!(t, "bbbbbbbb"),
            other => panic!("{other:?}"),
        }
        match v.find(&VirtualDir::Ids, &"cc".repeat(32)) {
            Some(Item::Snapshot(n)) => assert_eq!(n.meta.mtime.secs, 1_700_000_000),
            other => panic!("{other:?}"),
        }
        assert!(v.find(&VirtualDir::Host("nope".into()), LATEST).is_none());
        assert!(v.list(&VirtualDir::Tag("nope".into())).is_none());
        assert!(matches!(
            v.find(&VirtualDir::Root, "tags"),
            Some(Item::Dir(VirtualDir::Tags))
        ));
    }

    #[test]
    fn same_second_snapshots_of_a_host_get_distinct_names() {
        let v = View::build(vec![
            snap(0x01, 1_700_000_000, "h", &[]),
            snap(0x02, 1_700_000_000, "h", &[]),
        ]);
        assert_eq!(
            names(&v, &VirtualDir::Host("h".into())),
            [
                "2023-11-14T23-13-20",
                "2023-11-14T23-13-20_02020202",
                "latest"
            ]
        );
        let empty = View::build(vec![]);
        assert_eq!(names(&empty, &VirtualDir::Snapshots), Vec::<String>::new());
    }
}
