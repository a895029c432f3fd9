//! Bounded caches for the mount: decrypted chunks, kept least-recently-used
//! by bytes, with in-flight tracking so that a reader and the read-ahead
//! never fetch the same chunk twice; and a generic weighted LRU the tree
//! cache uses too.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::error::Result;
use crate::format::index::BlobKind;
use crate::ids::{BlobId, ChunkId};
use crate::repo::{PackRead, Repository};

/// A least-recently-used map bounded by the sum of its values' weights.
pub struct Lru<K, V> {
    map: HashMap<K, (V, u64, u64)>,
    /// Use tick → key, oldest first.
    order: BTreeMap<u64, K>,
    tick: u64,
    used: u64,
    capacity: u64,
}

impl<K: Hash + Eq + Clone, V: Clone> Lru<K, V> {
    pub fn new(capacity: u64) -> Self {
        Lru {
            map: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            used: 0,
            capacity,
        }
    }

    /// The value, marked as just used.
    pub fn get(&mut self, k: &K) -> Option<V> {
        self.tick += 1;
        let tick = self.tick;
        let (v, _, t) = self.map.get_mut(k)?;
        self.order.remove(t);
        *t = tick;
        self.order.insert(tick, k.clone());
        Some(v.clone())
    }

    /// Inserts and evicts the least recently used entries until the weights
    /// fit again. A value heavier than the whole capacity is not kept.
    pub fn insert(&mut self, k: K, v: V, weight: u64) {
        self.remove(&k);
        self.tick += 1;
        self.map.insert(k.clone(), (v, weight, self.tick));
        self.order.insert(self.tick, k);
        self.used += weight;
        while self.used > self.capacity {
            let Some((_, old)) = self.order.pop_first() else {
                break;
            };
            if let Some((_, w, _)) = self.map.remove(&old) {
                self.used -= w;
            }
        }
    }

    fn remove(&mut self, k: &K) {
        if let Some((_, w, t)) = self.map.remove(k) {
            self.order.remove(&t);
            self.used -= w;
        }
    }

    /// Total weight held.
    pub fn used(&self) -> u64 {
        self.used
    }
}

struct State {
    lru: Lru<ChunkId, Arc<Vec<u8>>>,
    in_flight: HashSet<ChunkId>,
}

/// Decrypted, verified chunks shared by every open file of a mount.
pub struct ChunkCache {
    state: Mutex<State>,
    /// Signalled whenever a fetch finishes, successfully or not.
    done: Condvar,
    fetched: AtomicU64,
}

impl ChunkCache {
    pub fn new(capacity_bytes: u64) -> Self {
        ChunkCache {
            state: Mutex::new(State {
                lru: Lru::new(capacity_bytes),
                in_flight: HashSet::new(),
            }),
            done: Condvar::new(),
            fetched: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many chunks were read from the repository so far.
    pub fn fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }

    /// Bytes of plaintext currently cached.
    pub fn used(&self) -> u64 {
        self.lock().lru.used()
    }

    /// The chunk's plaintext: from the cache, by waiting for a fetch already
    /// under way, or by reading it from the repository now.
    pub fn get(&self, repo: &Repository, id: ChunkId) -> Result<Arc<Vec<u8>>> {
        let mut st = self.lock();
        loop {
            if let Some(v) = st.lru.get(&id) {
                return Ok(v);
            }
            if st.in_flight.insert(id) {
                break;
            }
            st = self.done.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        drop(st);
        let claim = Claim {
            cache: self,
            ids: vec![id],
        };
        let read = repo.read_blob(BlobKind::Data, &BlobId::from(id));
        self.fetched.fetch_add(1, Ordering::Relaxed);
        let plain = Arc::new(read?);
        claim.complete(id, Some(plain.clone()));
        Ok(plain)
    }

    /// Claims, for a background fetch, those of `ids` that are neither
    /// cached nor being fetched.
    pub fn claim(&self, ids: &[ChunkId]) -> Claim<'_> {
        let mut st = self.lock();
        let mut claimed = Vec::new();
        for id in ids {
            if st.lru.map.contains_key(id) || !st.in_flight.insert(*id) {
                continue;
            }
            claimed.push(*id);
        }
        Claim {
            cache: self,
            ids: claimed,
        }
    }

    /// Fetches the claimed chunks with as few ranged reads as their places
    /// in packs allow. Failures are left for the reader to meet and report.
    pub fn prefetch(&self, repo: &Repository, claim: Claim<'_>) {
        let mut by_pack: HashMap<_, Vec<PackRead>> = HashMap::new();
        for id in &claim.ids {
            let blob = BlobId::from(*id);
            if let Ok(Some(loc)) = repo.locate(BlobKind::Data, &blob) {
                by_pack.entry(loc.pack).or_default().push(PackRead {
                    id: blob,
                    offset: loc.offset,
                    length: loc.length,
                    raw_length: loc.raw_length,
                });
            }
        }
        for (pack, mut reads) in by_pack {
            let _ = repo.read_pack_blobs(&pack, BlobKind::Data, &mut reads, |b, res| {
                self.fetched.fetch_add(1, Ordering::Relaxed);
                claim.complete(ChunkId(b.id.0), res.ok().map(Arc::new));
                Ok(())
            });
        }
        // Dropping the claim releases whatever could not be located.
    }
}

/// Chunks this fetcher promised to bring in. Whatever it has not completed
/// when dropped (an error, a panic) is released so waiters fetch it themselves.
pub struct Claim<'c> {
    cache: &'c ChunkCache,
    ids: Vec<ChunkId>,
}

impl Claim<'_> {
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Stores a fetched chunk (or records that it failed) and wakes waiters.
    fn complete(&self, id: ChunkId, plain: Option<Arc<Vec<u8>>>) {
        let mut st = self.cache.lock();
        if st.in_flight.remove(&id) {
            if let Some(p) = plain {
                let weight = p.len() as u64;
                st.lru.insert(id, p, weight);
            }
        }
        drop(st);
        self.cache.done.notify_all();
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut st = self.cache.lock();
        for id in &self.ids {
            st.in_flight.remove(id);
        }
        drop(st);
        self.cache.done.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_evicts_least_recently_used_by_weight() {
        let mut l: Lru<u32, u32> = Lru::new(10);
        l.insert(1, 10, 4);
        l.insert(2, 20, 4);
        assert_eq!(l.get(&1), Some(10)); // 2 is now the oldest
        l.insert(3, 30, 4);
        assert_eq!(l.get(&2), None);
        assert_eq!(l.get(&1), Some(10));
        assert_eq!(l.get(&3), Some(30));
        assert_eq!(l.used(), 8);
        l.insert(4, 40, 11);
        assert_eq!(l.used(), 0, "heavier than the capacity: not kept");
        l.insert(1, 11, 2);
        l.insert(1, 12, 3);
        assert_eq!((l.get(&1), l.used()), (Some(12), 3));
    }
}
