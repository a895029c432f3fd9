//! Downloading objects ahead of the archiver, in parallel and bounded.
//!
//! One scheduler task walks the objects to download in the order the
//! archiver will read them and, part by part (whole small objects, 8 MiB
//! ranges of large ones), takes room from a byte budget, starts the GET
//! and hands it to that object's reader. The archiver consumes parts in
//! the same global order and a part's room is given back once it is read
//! (or its reader dropped), so the oldest unread part always has room or
//! is next in line: no deadlock, at most [`BUDGET`] bytes in memory, and
//! never a whole large object. Requests in flight are bounded by the
//! bucket's connections. Every GET carries `If-Match` with the listed
//! ETag: an object replaced since the listing fails instead of mixing old
//! and new ranges.

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::runtime::Handle;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use crate::storage::s3::objects::changed_since_listed;
use crate::storage::s3::{ObjectHead, ObjectReads, Role};
use crate::storage::{StorageError, StorageResult};

/// Size of the ranges a large object is fetched in.
pub const PART: u64 = 8 * 1024 * 1024;
/// Bytes of fetched, unread parts at most.
pub const BUDGET: u64 = 64 * 1024 * 1024;
/// Parts started and unread at most (small objects are many small parts).
const AHEAD_PARTS: usize = 1024;

/// One object to download: its full key's tail and what the listing said.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub key: String,
    pub size: u64,
    pub etag: String,
}

/// The GETs an object of `size` bytes costs.
pub fn parts_of(size: u64) -> u64 {
    size.div_ceil(PART).max(1)
}

/// A fetched part, holding its room in the budget until dropped.
pub struct Piece {
    head: ObjectHead,
    data: Bytes,
    _room: (OwnedSemaphorePermit, OwnedSemaphorePermit),
}

/// A started GET of one part.
pub type PartTask = JoinHandle<StorageResult<Piece>>;

/// The parts of all objects in one queue, in order, each tagged with its
/// object's index: one channel for the whole bucket, not one per object
/// (which would grow with the bucket before a byte is read).
pub struct Feed {
    rx: UnboundedReceiver<(usize, PartTask)>,
    /// A part of a later object, met while looking for an earlier one's.
    early: Option<(usize, PartTask)>,
    /// The object the archiver reads: the scheduler skips those before it.
    reading: Arc<AtomicUsize>,
}

/// One prefetched object's place in the [`Feed`].
pub struct Slot {
    pub feed: Arc<Mutex<Feed>>,
    pub index: usize,
}

/// Starts downloading `objects` in order; object `i`'s parts are read
/// with `Slot { feed, index: i }` and [`PartsReader::prefetched`].
pub fn start(handle: &Handle, reads: ObjectReads, objects: Vec<Wanted>) -> Arc<Mutex<Feed>> {
    let (tx, rx) = unbounded_channel();
    let reading = Arc::new(AtomicUsize::new(0));
    let bytes = Arc::new(Semaphore::new(BUDGET as usize));
    let count = Arc::new(Semaphore::new(AHEAD_PARTS));
    let (spawner, at) = (handle.clone(), reading.clone());
    handle.spawn(async move {
        for (i, w) in objects.iter().enumerate() {
            let to = (&tx, i, &*at);
            if !schedule(&spawner, &reads, w, to, (&bytes, &count)).await {
                return;
            }
        }
    });
    let feed = Feed {
        rx,
        early: None,
        reading,
    };
    Arc::new(Mutex::new(feed))
}

/// Starts `w`'s parts; `false` once nobody reads any more.
async fn schedule(
    spawner: &Handle,
    reads: &ObjectReads,
    w: &Wanted,
    (tx, index, reading): (&UnboundedSender<(usize, PartTask)>, usize, &AtomicUsize),
    (bytes, count): (&Arc<Semaphore>, &Arc<Semaphore>),
) -> bool {
    for (offset, len) in ranges(w.size) {
        if reading.load(Ordering::Relaxed) > index {
            return true; // the archiver did not want this object after all
        }
        let room = len.clamp(1, BUDGET) as u32;
        let (Ok(b), Ok(c)) = (
            bytes.clone().acquire_many_owned(room).await,
            count.clone().acquire_owned().await,
        ) else {
            return false;
        };
        let (reads, key, etag) = (reads.clone(), w.key.clone(), w.etag.clone());
        let whole = w.size <= PART;
        let task = spawner.spawn(async move {
            let range = (!whole).then_some((offset, len));
            let etag = Some(etag.as_str()).filter(|e| !e.is_empty());
            let (head, data) = reads.get_bytes(&key, range, etag).await?;
            Ok(Piece {
                head,
                data,
                _room: (b, c),
            })
        });
        if tx.send((index, task)).is_err() {
            return false;
        }
    }
    true
}

/// The next part of object `index`: parts of earlier objects (not read to
/// their end) are dropped, giving their room back; `None` when the next
/// part is a later object's or all are done.
fn next_of(handle: &Handle, feed: &Mutex<Feed>, index: usize) -> Option<PartTask> {
    let mut f = feed.lock().unwrap_or_else(|p| p.into_inner());
    f.reading.fetch_max(index, Ordering::Relaxed);
    loop {
        let (i, task) = match f.early.take() {
            Some(early) => early,
            None => handle.block_on(f.rx.recv())?,
        };
        match i.cmp(&index) {
            std::cmp::Ordering::Less => continue,
            std::cmp::Ordering::Equal => return Some(task),
            std::cmp::Ordering::Greater => {
                f.early = Some((i, task));
                return None;
            }
        }
    }
}

/// (offset, length) of each GET: the whole object up to [`PART`], else ranges.
fn ranges(size: u64) -> Vec<(u64, u64)> {
    if size <= PART {
        return vec![(0, size)];
    }
    (0..size)
        .step_by(PART as usize)
        .map(|o| (o, PART.min(size - o)))
        .collect()
}

/// Where a reader's parts come from.
enum Parts {
    /// Started by the scheduler, in order; `left` parts still to read.
    Prefetched { slot: Slot, left: u64 },
    /// Fetched one at a time when read (an object the source did not
    /// expect to be read: the parent had it, but its chunks are gone).
    OnDemand {
        reads: ObjectReads,
        etag: String,
        next: std::vec::IntoIter<(u64, u64)>,
        whole: bool,
    },
}

/// An object's body as a [`Read`], part by part, checked against the
/// listed size.
pub struct PartsReader {
    handle: Handle,
    /// The bucket's location, for errors.
    location: Arc<str>,
    key: String,
    size: u64,
    parts: Parts,
    current: Bytes,
    read: u64,
    head: Option<ObjectHead>,
}

impl PartsReader {
    pub fn prefetched((handle, location): (Handle, Arc<str>), w: &Wanted, slot: Slot) -> Self {
        let left = parts_of(w.size);
        Self::new((handle, location), w, Parts::Prefetched { slot, left })
    }

    pub fn on_demand(
        (handle, location): (Handle, Arc<str>),
        reads: ObjectReads,
        w: &Wanted,
    ) -> Self {
        let parts = Parts::OnDemand {
            reads,
            etag: w.etag.clone(),
            next: ranges(w.size).into_iter(),
            whole: w.size <= PART,
        };
        Self::new((handle, location), w, parts)
    }

    fn new((handle, location): (Handle, Arc<str>), w: &Wanted, parts: Parts) -> Self {
        PartsReader {
            handle,
            location,
            key: w.key.clone(),
            size: w.size,
            parts,
            current: Bytes::new(),
            read: 0,
            head: None,
        }
    }

    /// The first response's headers (fetching the first part if needed).
    pub fn head(&mut self) -> std::io::Result<ObjectHead> {
        if self.head.is_none() && !self.next_part()? {
            return Err(std::io::Error::other(format!("{}: no response", self.key)));
        }
        Ok(self.head.clone().unwrap_or_default())
    }

    /// An object that changed or vanished since the listing skips it; any
    /// other failure (after the client's retries) fails the backup, since
    /// it says nothing about this object in particular.
    fn failed(&self, e: StorageError) -> std::io::Error {
        let listed = e.is_not_found() || e.message == changed_since_listed(&self.key).message;
        if listed {
            return std::io::Error::other(e.message);
        }
        std::io::Error::other(crate::Error::Bucket {
            role: Role::Source.word(),
            bucket: self.location.to_string(),
            source: e,
        })
    }

    /// Loads the next part into `current`; `false` at the end.
    fn next_part(&mut self) -> std::io::Result<bool> {
        let fetched = match &mut self.parts {
            Parts::Prefetched { left: 0, .. } => return Ok(false),
            Parts::Prefetched { slot, left } => {
                let Some(task) = next_of(&self.handle, &slot.feed, slot.index) else {
                    return Ok(false);
                };
                *left -= 1;
                match self.handle.block_on(task) {
                    Ok(r) => r.map(|p| (p.head, p.data)),
                    Err(e) => return Err(std::io::Error::other(e.to_string())),
                }
            }
            Parts::OnDemand {
                reads,
                etag,
                next,
                whole,
            } => {
                let Some((offset, len)) = next.next() else {
                    return Ok(false);
                };
                let range = (!*whole).then_some((offset, len));
                let etag = Some(etag.as_str()).filter(|e| !e.is_empty());
                self.handle
                    .block_on(reads.get_bytes(&self.key, range, etag))
            }
        };
        let (head, data) = fetched.map_err(|e| self.failed(e))?;
        self.head.get_or_insert(head);
        self.current = data;
        Ok(true)
    }
}

impl Read for PartsReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            if !self.next_part()? {
                if self.read != self.size {
                    return Err(std::io::Error::other(format!(
                        "read {} bytes of an object listed with {}",
                        self.read, self.size
                    )));
                }
                return Ok(0);
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        self.read += n as u64;
        if self.read > self.size {
            return Err(std::io::Error::other(format!(
                "the object is longer than the {} bytes listed",
                self.size
            )));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Object 1's reader skips what object 0 left unread, stops at object
    /// 2's first part, which object 2's reader then gets.
    #[test]
    fn one_feed_hands_each_reader_its_own_parts() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let room = Arc::new(Semaphore::new(100));
        let (tx, rx) = unbounded_channel();
        for (i, byte) in [(0, b'a'), (1, b'b'), (1, b'c'), (2, b'd')] {
            let room = (room.clone(), room.clone());
            let task = rt.spawn(async move {
                let (b, c) = (room.0.acquire_many_owned(1), room.1.acquire_owned());
                let data = Bytes::from(vec![byte]);
                let (head, _room) = (ObjectHead::default(), (b.await.unwrap(), c.await.unwrap()));
                Ok(Piece { head, data, _room })
            });
            tx.send((i, task)).unwrap();
        }
        drop(tx);
        let feed = Mutex::new(Feed {
            rx,
            early: None,
            reading: Arc::new(AtomicUsize::new(0)),
        });
        let h = rt.handle();
        let byte = |t: PartTask| h.block_on(t).unwrap().unwrap().data[0];
        assert_eq!(next_of(h, &feed, 1).map(byte), Some(b'b'));
        assert_eq!(next_of(h, &feed, 1).map(byte), Some(b'c'));
        assert!(next_of(h, &feed, 1).is_none());
        assert_eq!(next_of(h, &feed, 2).map(byte), Some(b'd'));
        assert!(next_of(h, &feed, 2).is_none());
        assert_eq!(feed.lock().unwrap().reading.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn ranges_cover_objects_exactly() {
        assert_eq!(ranges(0), vec![(0, 0)]);
        assert_eq!(ranges(PART), vec![(0, PART)]);
        assert_eq!(ranges(PART + 1), vec![(0, PART), (PART, 1)]);
        assert_eq!(ranges(3 * PART).len(), 3);
        for size in [0, 1, PART, PART + 1, 5 * PART - 1] {
            assert_eq!(ranges(size).len() as u64, parts_of(size));
            assert_eq!(ranges(size).iter().map(|r| r.1).sum::<u64>(), size);
        }
    }
}
