//! The bucket's objects as walk events: sorted paths become directory
//! enters and leaves around [`Event::Deferred`] files, whose openers read
//! the prefetched parts (or fetch on demand what was not prefetched).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::runtime::Handle;

use super::fetch::{self, PartsReader, Wanted};
use super::{listed_meta, object_meta, Object};
use crate::format::object::join_path;
use crate::format::tree::Meta;
use crate::source::{Entry, EntryKind, Event, OpenFn};
use crate::storage::s3::{ObjectReads, S3Bucket};

/// Directories have no metadata in a bucket: fixed values, so unchanged
/// directories encode to the same tree bytes every time.
const DIR_MODE: u32 = 0o040755;

pub(super) struct Walk {
    objects: std::vec::IntoIter<(Object, Option<fetch::Slot>)>,
    handle: Handle,
    reads: ObjectReads,
    location: Arc<str>,
    /// The full key prefix, for entry paths in messages.
    prefix: String,
    /// Names of the directories entered.
    dirs: Vec<Vec<u8>>,
    pending: VecDeque<Event>,
}

impl Walk {
    /// Starts fetching the objects that changed, in walk order.
    pub(super) fn start(bucket: &S3Bucket, objects: Vec<Object>) -> Walk {
        let handle = bucket.handle();
        let wanted: Vec<Wanted> = objects
            .iter()
            .filter(|o| o.unchanged.is_none())
            .map(|o| wanted(&o.listed))
            .collect();
        let feed = fetch::start(&handle, bucket.reads(), wanted);
        let mut index = 0..;
        let paired: Vec<_> = objects
            .into_iter()
            .map(|o| {
                let slot = o.unchanged.is_none().then(|| fetch::Slot {
                    feed: feed.clone(),
                    index: index.next().unwrap_or_default(),
                });
                (o, slot)
            })
            .collect();
        Walk {
            objects: paired.into_iter(),
            handle,
            reads: bucket.reads(),
            location: bucket.location().to_string().into(),
            prefix: bucket.location().prefix.clone(),
            dirs: Vec::new(),
            pending: VecDeque::new(),
        }
    }

    fn entry(&self, name: &[u8], key: String, kind: EntryKind, meta: Meta) -> Entry {
        Entry {
            name: name.to_vec(),
            path: PathBuf::from(format!("{}{key}", self.prefix)),
            kind,
            meta,
            xattrs_deferred: false,
        }
    }

    /// Queues the events for one object: leaves and enters to reach its
    /// directory, then the object itself.
    fn queue(&mut self, o: Object, rx: Option<fetch::Slot>) {
        let Some((name, dir)) = o.path.split_last() else {
            return;
        };
        let common = self
            .dirs
            .iter()
            .zip(dir)
            .take_while(|(a, b)| a == b)
            .count();
        while self.dirs.len() > common {
            self.dirs.pop();
            self.pending.push_back(Event::Leave);
        }
        for d in &dir[common..] {
            self.dirs.push(d.clone());
            let meta = Meta {
                mode: DIR_MODE,
                links: 1,
                ..Meta::default()
            };
            let key = String::from_utf8_lossy(&join_path(&self.dirs)).into_owned();
            let e = self.entry(d, key, EntryKind::Dir, meta);
            self.pending.push_back(Event::Enter(e));
        }
        let meta = match &o.unchanged {
            Some(parent) => parent.clone(),
            None => listed_meta(&o.listed, &o.path),
        };
        let size = o.listed.size;
        let e = self.entry(name, o.listed.key.clone(), EntryKind::File { size }, meta);
        let open = self.opener(o, rx);
        self.pending.push_back(Event::Deferred(e, open));
    }

    fn opener(&self, o: Object, rx: Option<fetch::Slot>) -> OpenFn {
        let ctx = (self.handle.clone(), self.location.clone());
        let reads = self.reads.clone();
        Box::new(move |meta: &mut Meta| {
            let w = wanted(&o.listed);
            let mut reader = match rx {
                Some(rx) => PartsReader::prefetched(ctx, &w, rx),
                None => PartsReader::on_demand(ctx, reads, &w),
            };
            let head = reader.head()?;
            let mut m = object_meta(&o.listed);
            if m.etag.is_empty() {
                m.etag = head.etag.clone();
            }
            let h = head.headers;
            m.content_type = h.content_type;
            m.cache_control = h.cache_control;
            m.content_encoding = h.content_encoding;
            m.content_disposition = h.content_disposition;
            m.content_language = h.content_language;
            m.user = h.user;
            *meta = m.to_meta(&join_path(&o.path));
            Ok(Box::new(reader) as Box<dyn std::io::Read + Send>)
        })
    }
}

fn wanted(o: &crate::storage::s3::ListedObject) -> Wanted {
    Wanted {
        key: o.key.clone(),
        size: o.size,
        etag: o.etag.clone(),
    }
}

impl Iterator for Walk {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            match self.objects.next() {
                Some((o, rx)) => self.queue(o, rx),
                None if !self.dirs.is_empty() => {
                    self.dirs.pop();
                    return Some(Event::Leave);
                }
                None => return None,
            }
        }
    }
}
