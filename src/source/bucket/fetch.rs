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
use std::sync::Arc;

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

/// Starts downloading `objects` in order; one receiver per object, in the
/// same order, for [`PartsReader::prefetched`].
pub fn start(
    handle: &Handle,
    reads: ObjectReads,
    objects: Vec<Wanted>,
) -> Vec<UnboundedReceiver<PartTask>> {
    let mut senders = Vec::with_capacity(objects.len());
    let mut receivers = Vec::with_capacity(objects.len());
    for _ in &objects {
        let (tx, rx) = unbounded_channel();
        senders.push(tx);
        receivers.push(rx);
    }
    let bytes = Arc::new(Semaphore::new(BUDGET as usize));
    let count = Arc::new(Semaphore::new(AHEAD_PARTS));
    let spawner = handle.clone();
    handle.spawn(async move {
        for (w, tx) in objects.into_iter().zip(senders) {
            schedule(&spawner, &reads, &w, tx, (&bytes, &count)).await;
        }
    });
    receivers
}

async fn schedule(
    spawner: &Handle,
    reads: &ObjectReads,
    w: &Wanted,
    tx: UnboundedSender<PartTask>,
    (bytes, count): (&Arc<Semaphore>, &Arc<Semaphore>),
) {
    for (offset, len) in ranges(w.size) {
        if tx.is_closed() {
            return; // the archiver did not want this object after all
        }
        let room = len.clamp(1, BUDGET) as u32;
        let (Ok(b), Ok(c)) = (
            bytes.clone().acquire_many_owned(room).await,
            count.clone().acquire_owned().await,
        ) else {
            return;
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
        if tx.send(task).is_err() {
            return;
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
    /// Started by the scheduler, in order.
    Prefetched(UnboundedReceiver<PartTask>),
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
    pub fn prefetched(
        (handle, location): (Handle, Arc<str>),
        w: &Wanted,
        rx: UnboundedReceiver<PartTask>,
    ) -> Self {
        Self::new((handle, location), w, Parts::Prefetched(rx))
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
            Parts::Prefetched(rx) => match self.handle.block_on(rx.recv()) {
                None => return Ok(false),
                Some(task) => match self.handle.block_on(task) {
                    Ok(r) => r.map(|p| (p.head, p.data)),
                    Err(e) => return Err(std::io::Error::other(e.to_string())),
                },
            },
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
