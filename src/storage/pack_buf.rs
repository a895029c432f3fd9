//! Memory for whole packs on their way to storage (see [`PackBuf`]).

use std::sync::Mutex;

use bytes::Bytes;

/// Address space reserved for a staged pack up front. Only the pages
/// written become resident, so a 16 MiB pack costs 16 MiB however large
/// the reservation; a pack that outgrows it moves to a larger one.
const RESERVE: usize = 64 * 1024 * 1024;

/// Stored packs' mappings kept for the next packs. A fresh mapping faults
/// in and zeroes every page it is written to (a quarter million faults per
/// GiB of packs, about 3% of an S3 backup's CPU); a reused one is already
/// resident. Two cover the steady state of one pack filling while another
/// is stored, and bound what stays resident after the last pack (two packs'
/// worth) for an application that keeps running.
static FREE: Pool = Pool::new(2);

/// Spare mappings of exactly [`RESERVE`] bytes, at most `max` of them.
struct Pool {
    max: usize,
    maps: Mutex<Vec<memmap2::MmapMut>>,
}

impl Pool {
    const fn new(max: usize) -> Self {
        Pool {
            max,
            maps: Mutex::new(Vec::new()),
        }
    }

    /// A mapping of the standard reservation: a spare one if there is one.
    fn take(&self) -> std::io::Result<memmap2::MmapMut> {
        let spare = self.maps.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match spare {
            Some(m) => Ok(m),
            None => memmap2::MmapMut::map_anon(RESERVE),
        }
    }

    /// Keeps `map` if it is the standard size and there is room; else it
    /// is unmapped.
    fn give(&self, map: memmap2::MmapMut) {
        if map.len() == RESERVE {
            let mut maps = self.maps.lock().unwrap_or_else(|p| p.into_inner());
            if maps.len() < self.max {
                maps.push(map);
            }
        }
    }
}

/// A pack's bytes in their own anonymous mapping rather than on the heap.
/// Packs are filled on one thread and freed on another (an S3 upload, a
/// repack's store thread); as heap blocks of many MiB that pattern left
/// glibc holding freed packs in per-thread arenas (peak RSS of an S3 backup
/// of the benchmark corpus 220 MiB, against 145 MiB this way). A mapping goes
/// back to the system when the last holder drops it, and never needs
/// copying to grow within its reservation.
pub struct PackBuf {
    map: Option<memmap2::MmapMut>,
    len: usize,
    reserve: usize,
}

impl Default for PackBuf {
    fn default() -> Self {
        PackBuf {
            map: None,
            len: 0,
            reserve: RESERVE,
        }
    }
}

impl PackBuf {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn extend(&mut self, data: &[u8]) -> std::io::Result<()> {
        let need = self.len + data.len();
        let cap = self.map.as_ref().map_or(0, |m| m.len());
        if need > cap {
            let size = need.max(self.reserve).max(2 * cap);
            let mut bigger = if size == RESERVE {
                FREE.take()?
            } else {
                memmap2::MmapMut::map_anon(size)?
            };
            if let Some(old) = &self.map {
                bigger[..self.len].copy_from_slice(&old[..self.len]);
            }
            self.map = Some(bigger);
        }
        if let Some(map) = self.map.as_mut() {
            map[self.len..need].copy_from_slice(data);
        }
        self.len = need;
        Ok(())
    }

    /// The written bytes, shared without a copy for the upload (and for
    /// multipart slices and retries).
    pub fn freeze(self) -> Bytes {
        match self.map {
            Some(map) => Bytes::from_owner(Written {
                map: Some(map),
                len: self.len,
            }),
            None => Bytes::new(),
        }
    }
}

struct Written {
    /// Always `Some` until dropped.
    map: Option<memmap2::MmapMut>,
    len: usize,
}

impl AsRef<[u8]> for Written {
    fn as_ref(&self) -> &[u8] {
        self.map.as_ref().map_or(&[], |m| &m[..self.len])
    }
}

impl Drop for Written {
    /// Back to the pool if it is the standard size and the pool has room.
    fn drop(&mut self) {
        if let Some(map) = self.map.take() {
            FREE.give(map);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{PackBuf, Pool, RESERVE};

    #[test]
    fn pack_buffers_keep_every_byte_across_growth() {
        let mut buf = PackBuf {
            reserve: 10,
            ..PackBuf::default()
        };
        assert!(PackBuf::default().freeze().is_empty());
        let mut want = Vec::new();
        for i in 0..40u8 {
            let piece = vec![i; usize::from(i % 7)];
            buf.extend(&piece).unwrap();
            want.extend_from_slice(&piece);
        }
        assert_eq!(buf.len, want.len());
        let bytes = buf.freeze();
        assert_eq!(&bytes[..], &want[..]);
        assert_eq!(&bytes.slice(3..9)[..], &want[3..9]);
    }

    #[test]
    fn the_pool_keeps_only_standard_mappings_up_to_its_size() {
        let pool = Pool::new(2);
        let a = pool.take().unwrap();
        let addr = a.as_ptr();
        pool.give(a);
        let again = pool.take().unwrap();
        assert_eq!(again.as_ptr(), addr, "a spare mapping is reused");
        assert_eq!(again.len(), RESERVE);
        pool.give(memmap2::MmapMut::map_anon(RESERVE * 2).unwrap());
        assert!(
            pool.maps.lock().unwrap().is_empty(),
            "odd sizes are unmapped"
        );
        for _ in 0..3 {
            pool.give(memmap2::MmapMut::map_anon(RESERVE).unwrap());
        }
        assert_eq!(pool.maps.lock().unwrap().len(), 2);
        drop(again);
    }

    #[test]
    fn a_reused_mapping_shows_only_the_new_pack() {
        // Shorter data after longer, through the shared pool: what a frozen
        // pack shows is its own bytes, never the rest of a used mapping.
        for round in 0..4u8 {
            let mut buf = PackBuf::default();
            let data = vec![round + 1; 1000 - usize::from(round) * 100];
            buf.extend(&data).unwrap();
            let bytes = buf.freeze();
            assert_eq!(&bytes[..], &data[..]);
        }
    }
}
