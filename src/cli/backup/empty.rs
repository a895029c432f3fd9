//! Noticing, before anything is saved, that the excludes left nothing to
//! back up. Such a snapshot would be empty and, worse, become the parent of
//! the next backup; so the walk is peeked until its first entry at or below
//! a given path (ancestor directories come first and do not count): an
//! entry inside a given directory, a given file, or something unreadable.

use std::collections::VecDeque;
use std::path::Path;

use cairn::source::{Event, Source};

/// A source whose first events were read ahead; it replays them, then
/// continues with the rest of the walk.
pub struct Peeked {
    inner: Box<dyn Source>,
    ahead: VecDeque<Event>,
}

/// Reads `source` ahead until it yields content; returns the source to back up and whether
/// it is empty.
pub fn peek(mut source: Box<dyn Source>) -> (Peeked, bool) {
    let roots = source.paths();
    let mut ahead = VecDeque::new();
    let mut empty = true;
    for ev in source.by_ref() {
        // A given directory alone is not content: `--exclude '*'` keeps
        // nothing inside it. A given file is.
        let content = match &ev {
            Event::Enter(e) => roots.iter().any(|r| below(&e.path, r)),
            Event::Leaf(e) | Event::Stream(e, _) | Event::Deferred(e, _) => {
                roots.iter().any(|r| e.path.starts_with(Path::new(r)))
            }
            Event::Skipped { .. } => true,
            Event::Leave => false,
        };
        ahead.push_back(ev);
        if content {
            empty = false;
            break;
        }
    }
    (
        Peeked {
            inner: source,
            ahead,
        },
        empty,
    )
}

/// Is `path` strictly below the given path `root`?
fn below(path: &Path, root: &str) -> bool {
    path.starts_with(Path::new(root)) && path != Path::new(root)
}

impl Iterator for Peeked {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        self.ahead.pop_front().or_else(|| self.inner.next())
    }
}

impl Source for Peeked {
    fn paths(&self) -> Vec<String> {
        self.inner.paths()
    }
}
