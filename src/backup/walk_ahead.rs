//! Runs a source's walk on its own thread, ahead of the archiver.
//!
//! The walk (directory reads, one lstat per entry) and the archiver (parent
//! tree loads, index lookups, reading files) each keep a core busy: an
//! unchanged re-backup on one thread waits on syscalls and SQLite in turn.

use std::thread::Scope;

use crossbeam_channel::{bounded, Receiver};

use super::read_ahead::{Early, ReadAhead};
use crate::error::{Error, Result};
use crate::source::{Event, Source};

/// Events cross in batches: a walk that is ahead waits on a full queue, and
/// one event per wake-up would cost two context switches per file.
const BATCH: usize = 128;
/// Batches queued ahead of the archiver: 4,096 entries, each a name, a
/// path and metadata (xattrs included), so a MiB or two, plus in a first
/// backup up to 1 MiB of small files' content per batch (read_ahead.rs).
const AHEAD: usize = 32;

/// One message from the walking thread.
enum Msg {
    /// Events, each with its file if it was read ahead.
    Events(Vec<Event>, Vec<Option<Early>>),
    /// The source ended. Without it a closed channel means the walking
    /// thread died (a panic in the source), not the end of the walk.
    End,
}

/// The archiver's end of the walk. Dropping it stops the walking thread
/// within one batch.
pub struct WalkAhead {
    rx: Receiver<Msg>,
    batch: std::iter::Zip<std::vec::IntoIter<Event>, std::vec::IntoIter<Option<Early>>>,
    ended: bool,
}

impl WalkAhead {
    /// Starts walking `source` on a thread of scope `s`, reading small
    /// files ahead with `read_ahead` if given (read_ahead.rs).
    pub fn spawn<'scope, 'env>(
        s: &'scope Scope<'scope, 'env>,
        source: &'env mut dyn Source,
        read_ahead: Option<ReadAhead>,
    ) -> WalkAhead {
        let (tx, rx) = bounded::<Msg>(AHEAD);
        s.spawn(move || {
            let msg = |batch: Vec<Event>| {
                let early = match &read_ahead {
                    Some(r) => r.read(&batch),
                    None => batch.iter().map(|_| None).collect(),
                };
                Msg::Events(batch, early)
            };
            let mut batch = Vec::with_capacity(BATCH);
            for event in source {
                batch.push(event);
                if batch.len() == BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    // The archiver dropped its end: it stopped on an error.
                    if tx.send(msg(full)).is_err() {
                        return;
                    }
                }
            }
            if tx.send(msg(batch)).is_ok() {
                let _ = tx.send(Msg::End);
            }
        });
        WalkAhead {
            rx,
            batch: Vec::new().into_iter().zip(Vec::new()),
            ended: false,
        }
    }

    /// The next event and its file if read ahead; `Ok(None)` at the end of
    /// the walk, an error if the walking thread stopped without reaching it.
    pub fn next_event(&mut self) -> Result<Option<(Event, Option<Early>)>> {
        loop {
            if let Some(e) = self.batch.next() {
                return Ok(Some(e));
            }
            if self.ended {
                return Ok(None);
            }
            match self.rx.recv() {
                Ok(Msg::Events(b, early)) => self.batch = b.into_iter().zip(early),
                Ok(Msg::End) => self.ended = true,
                Err(_) => return Err(Error::Internal("the source walk stopped early".into())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source of `n` skipped entries that panics after `panic_at` if set.
    struct Numbers {
        n: usize,
        at: usize,
        panic_at: Option<usize>,
    }

    impl Iterator for Numbers {
        type Item = Event;
        fn next(&mut self) -> Option<Event> {
            if Some(self.at) == self.panic_at {
                panic!("source failed");
            }
            (self.at < self.n).then(|| {
                self.at += 1;
                Event::Skipped {
                    path: format!("{}", self.at).into(),
                    error: String::new(),
                }
            })
        }
    }

    impl Source for Numbers {
        fn paths(&self) -> Vec<String> {
            Vec::new()
        }
    }

    fn drain(n: usize, panic_at: Option<usize>) -> (Vec<String>, Result<()>) {
        let mut src = Numbers { n, at: 0, panic_at };
        let mut seen = Vec::new();
        let mut end = Ok(());
        let joined = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            std::thread::scope(|s| {
                let mut w = WalkAhead::spawn(s, &mut src, None);
                loop {
                    match w.next_event() {
                        Ok(Some((Event::Skipped { path, .. }, _))) => {
                            seen.push(path.display().to_string())
                        }
                        Ok(Some(_)) => unreachable!("only skipped entries"),
                        Ok(None) => break,
                        Err(e) => {
                            end = Err(e);
                            break;
                        }
                    }
                }
            })
        }));
        assert_eq!(
            joined.is_err(),
            panic_at.is_some(),
            "the scope re-raises the panic"
        );
        (seen, end)
    }

    #[test]
    fn every_event_arrives_in_order_across_batches() {
        for n in [0, 1, BATCH - 1, BATCH, BATCH + 1, 10 * BATCH + 7] {
            let (seen, end) = drain(n, None);
            assert!(end.is_ok());
            let want: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
            assert_eq!(seen, want, "n = {n}");
        }
    }

    #[test]
    fn a_dying_walk_is_an_error_not_an_early_end() {
        let (seen, end) = drain(1000, Some(300));
        assert_eq!(seen.len(), 256, "the two full batches before the panic");
        assert!(end.is_err());
    }
}
