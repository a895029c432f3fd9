//! Tree packs read a block at a time. A backup comparing against its parent
//! and a restore both load every directory of a snapshot, one small tree blob
//! each; on object storage one request per directory costs more than the
//! bytes. Tree blobs are read instead as aligned blocks of their pack, kept
//! in a small LRU, so a snapshot's trees cost a handful of requests.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::ids::PackId;

/// Bytes per block: trees of a few thousand directories per request.
pub const BLOCK: u64 = 1024 * 1024;
/// Blocks kept: bounds the memory to 16 MiB (plus blobs larger than a block).
const KEPT: usize = 16;

/// A block of a tree pack: `bytes` from offset `start`.
struct Block {
    pack: PackId,
    start: u64,
    bytes: Arc<Vec<u8>>,
}

/// The recently read blocks, most recent first.
#[derive(Default)]
pub struct TreeBlocks {
    blocks: Mutex<VecDeque<Block>>,
}

impl TreeBlocks {
    /// The sealed bytes at `offset..offset+len` of `pack`, if a kept block
    /// holds all of them.
    pub fn get(&self, pack: &PackId, offset: u64, len: u64) -> Option<Vec<u8>> {
        let mut blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        let at = blocks.iter().position(|b| {
            b.pack == *pack && b.start <= offset && offset + len <= b.start + b.bytes.len() as u64
        })?;
        let block = blocks.remove(at)?;
        let from = (offset - block.start) as usize;
        let out = block.bytes[from..from + len as usize].to_vec();
        blocks.push_front(block);
        Some(out)
    }

    /// Keeps a block just read, dropping the least recently used.
    pub fn put(&self, pack: PackId, start: u64, bytes: Vec<u8>) {
        let mut blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        blocks.push_front(Block {
            pack,
            start,
            bytes: Arc::new(bytes),
        });
        blocks.truncate(KEPT);
    }

    /// Forgets every kept block (they are read again when next needed).
    pub fn clear(&self) {
        self.blocks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

/// The range to read for a blob at `offset..offset+len` of a pack of
/// `pack_size` bytes: the aligned block holding its start, stretched to its
/// end, never past the pack's end.
pub fn block_range(offset: u64, len: u64, pack_size: u64) -> (u64, u64) {
    let start = offset - offset % BLOCK;
    let end = (start + BLOCK).min(pack_size).max(offset + len);
    (start, end - start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleared_blocks_are_gone() {
        let blocks = TreeBlocks::default();
        let pack = PackId([7; 32]);
        blocks.put(pack, 0, vec![1, 2, 3, 4]);
        assert_eq!(blocks.get(&pack, 1, 2), Some(vec![2, 3]));
        blocks.clear();
        assert_eq!(blocks.get(&pack, 1, 2), None);
    }

    #[test]
    fn ranges_are_aligned_and_cover_the_blob() {
        assert_eq!(block_range(10, 20, 5 * BLOCK), (0, BLOCK));
        assert_eq!(block_range(BLOCK + 5, 20, 5 * BLOCK), (BLOCK, BLOCK));
        // Near the end of the pack: never past it.
        assert_eq!(block_range(BLOCK + 5, 20, BLOCK + 100), (BLOCK, 100));
        // A blob straddling the block's end is read whole.
        assert_eq!(block_range(BLOCK - 10, 30, 5 * BLOCK), (0, BLOCK + 20));
    }

    #[test]
    fn kept_blocks_answer_and_the_oldest_go() {
        let t = TreeBlocks::default();
        let pack = PackId([1; 32]);
        t.put(pack, BLOCK, (0..100u8).collect());
        assert_eq!(t.get(&pack, BLOCK + 10, 3), Some(vec![10, 11, 12]));
        assert_eq!(t.get(&pack, BLOCK + 99, 2), None, "runs past the block");
        assert_eq!(t.get(&PackId([2; 32]), BLOCK + 10, 3), None);
        for i in 0..KEPT as u64 {
            t.put(PackId([3; 32]), i * BLOCK, vec![0; 4]);
        }
        assert_eq!(t.get(&pack, BLOCK + 10, 3), None, "evicted");
    }
}
