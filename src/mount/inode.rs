//! Inode numbers for the mount. An entry's number is a hash of its parent's
//! number and its name, so it is the same every time it is looked up during
//! a mount (even after the kernel forgot it) while the table only holds the
//! entries the kernel currently knows: memory stays bounded by the kernel's
//! own inode cache, not by how much of the repository was browsed.

use std::collections::HashMap;
use std::sync::Arc;

use crate::format::tree::Node;

/// The root directory's inode number, fixed by FUSE.
pub const ROOT: u64 = 1;

/// The virtual directories above the snapshots' own trees.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VirtualDir {
    Root,
    /// `snapshots/`: every snapshot as `<time>_<id>`.
    Snapshots,
    /// `ids/`: every snapshot by short id.
    Ids,
    /// `hosts/` and `hosts/<host>/`.
    Hosts,
    Host(String),
    /// `tags/` and `tags/<tag>/`.
    Tags,
    Tag(String),
}

/// What an inode stands for.
#[derive(Debug, Clone)]
pub enum Kind {
    Virtual(VirtualDir),
    /// A `latest` symlink and its target name.
    Latest(Vec<u8>),
    /// A node of a snapshot's tree; a snapshot's root is a synthetic
    /// directory node named after the snapshot.
    Node(Arc<Node>),
}

/// One inode the kernel knows.
#[derive(Debug, Clone)]
pub struct Entry {
    pub parent: u64,
    pub name: Vec<u8>,
    pub kind: Kind,
    /// Lookups the kernel has not yet forgotten.
    lookups: u64,
}

/// The inodes the kernel currently holds references to.
pub struct Inodes {
    map: HashMap<u64, Entry>,
}

impl Default for Inodes {
    fn default() -> Self {
        Self::new()
    }
}

impl Inodes {
    pub fn new() -> Self {
        let mut map = HashMap::new();
        map.insert(
            ROOT,
            Entry {
                parent: ROOT,
                name: Vec::new(),
                kind: Kind::Virtual(VirtualDir::Root),
                lookups: 1,
            },
        );
        Inodes { map }
    }

    pub fn get(&self, ino: u64) -> Option<&Entry> {
        self.map.get(&ino)
    }

    /// Records a lookup of `name` in `parent` and returns its inode number.
    /// A hash collision with a different live entry moves on to the next
    /// free number, which only costs that entry its stability.
    pub fn lookup(&mut self, parent: u64, name: &[u8], kind: Kind) -> u64 {
        let mut ino = child_ino(parent, name);
        loop {
            match self.map.get_mut(&ino) {
                Some(e) if e.parent == parent && e.name == name => {
                    e.lookups += 1;
                    e.kind = kind;
                    return ino;
                }
                Some(_) => ino = ino.wrapping_add(1).max(ROOT + 1),
                None => {
                    self.map.insert(
                        ino,
                        Entry {
                            parent,
                            name: name.to_vec(),
                            kind,
                            lookups: 1,
                        },
                    );
                    return ino;
                }
            }
        }
    }

    /// The kernel dropped `n` references; the entry goes when none are left.
    pub fn forget(&mut self, ino: u64, n: u64) {
        if ino == ROOT {
            return;
        }
        if let Some(e) = self.map.get_mut(&ino) {
            e.lookups = e.lookups.saturating_sub(n);
            if e.lookups == 0 {
                self.map.remove(&ino);
            }
        }
    }

    /// Inodes held, for tests.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// The inode number `name` in `parent` gets, as readdir reports it too.
pub fn child_ino(parent: u64, name: &[u8]) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(&parent.to_le_bytes());
    h.update(name);
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.finalize().as_bytes()[..8]);
    // Skip 0 (invalid) and 1 (the root).
    u64::from_le_bytes(b).max(ROOT + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_stable_across_forget_and_distinct_per_path() {
        let mut t = Inodes::new();
        let v = |d| Kind::Virtual(d);
        let a = t.lookup(ROOT, b"snapshots", v(VirtualDir::Snapshots));
        let b = t.lookup(ROOT, b"ids", v(VirtualDir::Ids));
        assert_ne!(a, b);
        assert_eq!(a, child_ino(ROOT, b"snapshots"));
        assert_eq!(t.lookup(ROOT, b"snapshots", v(VirtualDir::Snapshots)), a);
        t.forget(a, 1);
        assert!(t.get(a).is_some(), "one lookup left");
        t.forget(a, 1);
        assert!(t.get(a).is_none());
        assert_eq!(t.lookup(ROOT, b"snapshots", v(VirtualDir::Snapshots)), a);
        // The same name under another parent is another inode.
        assert_ne!(t.lookup(b, b"snapshots", v(VirtualDir::Ids)), a);
        t.forget(ROOT, 100);
        assert!(t.get(ROOT).is_some());
        assert_eq!(t.len(), 4);
    }
}
