//! Objects written piece by piece (packs), so a writer need not hold a whole
//! pack in memory. A backend that can do better than buffering (a local
//! temporary file renamed into place, a multipart upload) overrides
//! [`crate::storage::Storage::stage`].
//!
//! A backend with high latency (a bucket) can also commit in the background
//! ([`Staged::commit_background`]): the caller gets a [`Pending`] handle and
//! must wait for it before it relies on the object, such as naming it in an
//! index. Backends without that ability commit at once.

use std::sync::mpsc;

use bytes::Bytes;

use crate::storage::{Storage, StorageError, StorageErrorKind, StorageResult};

/// An object being written. Nothing is visible under any key until
/// [`Staged::commit`] returns; dropping it uncommitted discards it.
pub trait Staged: Send {
    /// Appends bytes.
    fn write(&mut self, data: &[u8]) -> StorageResult<()>;
    /// Bytes written so far.
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Stores everything written under `key`, durably, like `put`.
    fn commit(self: Box<Self>, key: &str) -> StorageResult<()>;
    /// Starts storing under `key` and returns without waiting for the
    /// upload, which is durable only once the [`Pending`] reports success.
    /// It may block while too many uploads are in flight (back-pressure).
    /// The default commits at once.
    fn commit_background(self: Box<Self>, key: &str) -> StorageResult<Pending> {
        Ok(Pending::ready(self.commit(key)))
    }
}

/// The outcome of a commit that may still be running.
pub struct Pending {
    state: State,
    /// Run once with the outcome, when it is first observed.
    hooks: Vec<Hook>,
}

/// An observer of a commit's outcome.
type Hook = Box<dyn FnOnce(&StorageResult<()>) + Send>;

enum State {
    Ready(StorageResult<()>),
    Waiting(mpsc::Receiver<StorageResult<()>>),
    Taken,
}

/// The sending half of a [`Pending`]: the uploader reports through it.
pub struct PendingSender(mpsc::Sender<StorageResult<()>>);

impl PendingSender {
    pub fn send(self, result: StorageResult<()>) {
        // The receiver may be gone (the writer gave up): nobody to tell.
        let _ = self.0.send(result);
    }
}

impl Pending {
    /// An outcome known now.
    pub fn ready(result: StorageResult<()>) -> Pending {
        Pending {
            state: State::Ready(result),
            hooks: Vec::new(),
        }
    }

    /// An outcome another thread or task will send.
    pub fn channel() -> (PendingSender, Pending) {
        let (tx, rx) = mpsc::channel();
        let pending = Pending {
            state: State::Waiting(rx),
            hooks: Vec::new(),
        };
        (PendingSender(tx), pending)
    }

    /// Adds an observer of the outcome (for statistics).
    pub fn on_finish(mut self, hook: impl FnOnce(&StorageResult<()>) + Send + 'static) -> Pending {
        self.hooks.push(Box::new(hook));
        self
    }

    /// The outcome if it is known, without blocking; `Some` only once.
    pub fn try_finish(&mut self) -> Option<StorageResult<()>> {
        let result = match std::mem::replace(&mut self.state, State::Taken) {
            State::Ready(r) => r,
            State::Waiting(rx) => match rx.try_recv() {
                Ok(r) => r,
                Err(mpsc::TryRecvError::Empty) => {
                    self.state = State::Waiting(rx);
                    return None;
                }
                Err(mpsc::TryRecvError::Disconnected) => Err(abandoned()),
            },
            State::Taken => return None,
        };
        Some(self.observed(result))
    }

    /// Blocks until the outcome is known.
    pub fn wait(mut self) -> StorageResult<()> {
        let result = match std::mem::replace(&mut self.state, State::Taken) {
            State::Ready(r) => r,
            State::Waiting(rx) => rx.recv().unwrap_or_else(|_| Err(abandoned())),
            State::Taken => Err(abandoned()),
        };
        self.observed(result)
    }

    fn observed(&mut self, result: StorageResult<()>) -> StorageResult<()> {
        for hook in self.hooks.drain(..) {
            hook(&result);
        }
        result
    }
}

/// The uploader went away without a word (its runtime shut down).
fn abandoned() -> StorageError {
    StorageError::new(
        StorageErrorKind::Transient,
        "commit",
        "",
        "the upload was abandoned before it finished",
    )
}

/// The default: buffer in memory, then one `put`.
pub struct BufferedStaged<'s> {
    storage: &'s dyn Storage,
    buf: Vec<u8>,
}

impl<'s> BufferedStaged<'s> {
    pub fn new(storage: &'s dyn Storage) -> Self {
        BufferedStaged {
            storage,
            buf: Vec::new(),
        }
    }
}

impl Staged for BufferedStaged<'_> {
    fn write(&mut self, data: &[u8]) -> StorageResult<()> {
        self.buf.extend_from_slice(data);
        Ok(())
    }

    fn len(&self) -> u64 {
        self.buf.len() as u64
    }

    fn commit(self: Box<Self>, key: &str) -> StorageResult<()> {
        self.storage.put(key, Bytes::from(self.buf))
    }
}
