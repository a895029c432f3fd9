//! Tree packs read a block at a time. A backup comparing against its parent
//! and a restore both load every directory of a snapshot, one small tree blob
//! each; on object storage one request per directory costs more than the
//! bytes. Tree blobs are read instead as aligned blocks of their pack, kept
//! in a small LRU, so a snapshot's trees cost a handful of requests.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::ids::PackId;

/// Bytes per block: trees of a few thousand directories per request.
pub const BLOCK: u64 = 1024 * 1024;
/// Blocks kept: bounds the memory to 16 MiB.
pub const KEPT: usize = 16;

/// A block of a tree pack: `bytes` from offset `start`.
struct Block {
    pack: PackId,
    start: u64,
    bytes: Arc<Vec<u8>>,
    /// Read from the local disk cache rather than the repository: a
    /// command that verifies the repository must not trust it.
    from_disk: bool,
}

/// A kept block that covers a blob.
pub struct Kept {
    pub start: u64,
    pub bytes: Arc<Vec<u8>>,
    pub from_disk: bool,
}

impl Kept {
    /// The sealed bytes at `offset..offset+len` of the pack.
    pub fn slice(&self, offset: u64, len: u64) -> Vec<u8> {
        let from = (offset - self.start) as usize;
        self.bytes
            .get(from..from + len as usize)
            .map(<[u8]>::to_vec)
            .unwrap_or_default()
    }
}

/// One lock per block being read: a second reader of the same block waits
/// for the first instead of sending a second request (single flight).
type Gates = HashMap<(PackId, u64), Arc<Mutex<()>>>;

/// The recently read blocks, most recent first.
#[derive(Default)]
pub struct TreeBlocks {
    blocks: Mutex<VecDeque<Block>>,
    gates: Mutex<Gates>,
    /// Blocks kept beyond [`KEPT`] while a reader that read them all
    /// ahead still needs them ([`TreeBlocks::widen`]).
    extra: AtomicUsize,
}

impl TreeBlocks {
    /// The kept block holding all of `offset..offset+len` of `pack`
    /// (`disk_ok`: also one read from the disk cache), now most recent.
    pub fn find(&self, pack: &PackId, offset: u64, len: u64, disk_ok: bool) -> Option<Kept> {
        let mut blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        let at = blocks.iter().position(|b| {
            b.pack == *pack
                && (disk_ok || !b.from_disk)
                && b.start <= offset
                && offset + len <= b.start + b.bytes.len() as u64
        })?;
        let block = blocks.remove(at)?;
        let kept = Kept {
            start: block.start,
            bytes: block.bytes.clone(),
            from_disk: block.from_disk,
        };
        blocks.push_front(block);
        Some(kept)
    }

    /// The sealed bytes at `offset..offset+len` of `pack`, if a kept block
    /// holds all of them.
    #[cfg(test)]
    pub fn get(&self, pack: &PackId, offset: u64, len: u64) -> Option<Vec<u8>> {
        self.find(pack, offset, len, true)
            .map(|k| k.slice(offset, len))
    }

    /// Keeps a block just read, dropping the least recently used.
    pub fn put(&self, pack: PackId, start: u64, bytes: Arc<Vec<u8>>, from_disk: bool) {
        let mut blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        blocks.retain(|b| b.pack != pack || b.start != start);
        blocks.push_front(Block {
            pack,
            start,
            bytes,
            from_disk,
        });
        blocks.truncate(KEPT + self.extra.load(Ordering::SeqCst));
    }

    /// Blocks kept now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.blocks.lock().unwrap().len()
    }

    /// Keeps `n` more blocks than [`KEPT`], until [`TreeBlocks::narrow`]
    /// gives them back (widenings add up).
    pub fn widen(&self, n: usize) {
        self.extra.fetch_add(n, Ordering::SeqCst);
    }

    /// Undoes a [`TreeBlocks::widen`] of `n`, dropping the least recently
    /// used blocks beyond what is kept now.
    pub fn narrow(&self, n: usize) {
        let mut blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        let extra = self.extra.fetch_sub(n, Ordering::SeqCst) - n;
        blocks.truncate(KEPT + extra);
    }

    /// Forgets the block of `pack` starting at `start` (found damaged).
    pub fn forget(&self, pack: &PackId, start: u64) {
        let mut blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        blocks.retain(|b| b.pack != *pack || b.start != start);
    }

    /// The lock to hold while reading the block of `pack` at `start`;
    /// give it back with [`TreeBlocks::release`].
    pub fn gate(&self, pack: &PackId, start: u64) -> Arc<Mutex<()>> {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        gates.entry((*pack, start)).or_default().clone()
    }

    /// Drops the gate once no other reader holds it.
    pub fn release(&self, pack: &PackId, start: u64, gate: Arc<Mutex<()>>) {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        // Two references: the map's and ours; more are readers waiting.
        if Arc::strong_count(&gate) == 2 {
            gates.remove(&(*pack, start));
        }
    }

    /// Forgets every kept block (they are read again when next needed).
    pub fn clear(&self) {
        self.blocks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

/// The blocks holding `offset..offset+len` of a pack of `pack_size`
/// bytes: aligned, each [`BLOCK`] long but the pack's last, so a block is
/// one and the same range whichever blob asks for it, and read once.
pub fn blocks_of(offset: u64, len: u64, pack_size: u64) -> Vec<(u64, u64)> {
    let first = offset / BLOCK;
    let last = (offset + len.max(1) - 1) / BLOCK;
    (first..=last)
        .map(|k| k * BLOCK)
        .filter(|&start| start < pack_size)
        .map(|start| (start, BLOCK.min(pack_size - start)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleared_blocks_are_gone() {
        let blocks = TreeBlocks::default();
        let pack = PackId([7; 32]);
        blocks.put(pack, 0, Arc::new(vec![1, 2, 3, 4]), false);
        assert_eq!(blocks.get(&pack, 1, 2), Some(vec![2, 3]));
        blocks.clear();
        assert_eq!(blocks.get(&pack, 1, 2), None);
    }

    #[test]
    fn blocks_are_aligned_and_cover_the_blob() {
        assert_eq!(blocks_of(10, 20, 5 * BLOCK), vec![(0, BLOCK)]);
        assert_eq!(blocks_of(BLOCK + 5, 20, 5 * BLOCK), vec![(BLOCK, BLOCK)]);
        // Near the end of the pack: never past it.
        assert_eq!(blocks_of(BLOCK + 5, 20, BLOCK + 100), vec![(BLOCK, 100)]);
        // A blob straddling a block's end needs both blocks.
        assert_eq!(
            blocks_of(BLOCK - 10, 30, 5 * BLOCK),
            vec![(0, BLOCK), (BLOCK, BLOCK)]
        );
        assert_eq!(blocks_of(0, BLOCK, 5 * BLOCK), vec![(0, BLOCK)]);
    }

    #[test]
    fn kept_blocks_answer_and_the_oldest_go() {
        let t = TreeBlocks::default();
        let pack = PackId([1; 32]);
        t.put(pack, BLOCK, Arc::new((0..100u8).collect()), false);
        assert_eq!(t.get(&pack, BLOCK + 10, 3), Some(vec![10, 11, 12]));
        assert_eq!(t.get(&pack, BLOCK + 99, 2), None, "runs past the block");
        assert_eq!(t.get(&PackId([2; 32]), BLOCK + 10, 3), None);
        for i in 0..KEPT as u64 {
            t.put(PackId([3; 32]), i * BLOCK, Arc::new(vec![0; 4]), false);
        }
        assert_eq!(t.get(&pack, BLOCK + 10, 3), None, "evicted");
    }
}
