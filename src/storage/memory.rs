//! An in-memory storage, so engine tests (backup, restore, prune, check) run
//! without a disk. It applies the same key rules as the local backend, so a
//! key that works in a test also works on a real repository.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;

use super::local::check_key;
use super::{ObjectInfo, Storage, StorageError, StorageErrorKind, StorageResult};

/// A [`Storage`] holding objects in a map.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    objects: Mutex<BTreeMap<String, Bytes>>,
}

impl MemoryStorage {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of stored objects.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Sum of object sizes, for tests asserting on repository growth.
    pub fn total_bytes(&self) -> u64 {
        self.lock().values().map(|v| v.len() as u64).sum()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Bytes>> {
        // Every critical section is a single map operation, so a panic in
        // another thread cannot leave the map half-updated.
        self.objects
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn object(&self, op: &'static str, key: &str) -> StorageResult<Bytes> {
        check_key(op, key)?;
        self.lock()
            .get(key)
            .cloned()
            .ok_or_else(|| StorageError::new(StorageErrorKind::NotFound, op, key, "no such object"))
    }
}

impl Storage for MemoryStorage {
    fn put(&self, key: &str, data: Bytes) -> StorageResult<()> {
        check_key("put", key)?;
        self.lock().insert(key.to_string(), data);
        Ok(())
    }

    fn put_if_absent(&self, key: &str, data: Bytes) -> StorageResult<bool> {
        check_key("put_if_absent", key)?;
        let mut map = self.lock();
        if map.contains_key(key) {
            return Ok(false);
        }
        map.insert(key.to_string(), data);
        Ok(true)
    }

    fn get(&self, key: &str) -> StorageResult<Vec<u8>> {
        Ok(self.object("get", key)?.to_vec())
    }

    fn get_range(&self, key: &str, offset: u64, len: u64) -> StorageResult<Vec<u8>> {
        let data = self.object("get_range", key)?;
        let size = data.len() as u64;
        match offset.checked_add(len) {
            Some(end) if end <= size => Ok(data[offset as usize..end as usize].to_vec()),
            _ => Err(StorageError::new(
                StorageErrorKind::Permanent,
                "get_range",
                key,
                format!("range {offset}+{len} passes the end of a {size}-byte object"),
            )),
        }
    }

    fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectInfo>> {
        let map = self.lock();
        Ok(map
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| ObjectInfo {
                key: k.clone(),
                size: v.len() as u64,
                modified: None,
            })
            .collect())
    }

    fn delete(&self, key: &str) -> StorageResult<()> {
        check_key("delete", key)?;
        self.lock().remove(key);
        Ok(())
    }

    fn location(&self) -> String {
        "memory:".to_string()
    }

    fn as_dyn(&self) -> &dyn Storage {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::conformance;

    #[test]
    fn passes_conformance_suite() {
        let s = MemoryStorage::new();
        conformance::run_all(&s);
    }

    #[test]
    fn rejects_the_keys_local_rejects() {
        let s = MemoryStorage::new();
        for key in ["", "../x", "a//b", ".tmp-1"] {
            let err = s.put(key, Bytes::from_static(b"x")).unwrap_err();
            assert_eq!(err.kind, StorageErrorKind::Permanent, "{key:?}");
        }
        assert!(s.is_empty());
    }

    #[test]
    fn counts_objects_and_bytes() {
        let s = MemoryStorage::new();
        s.put("a", Bytes::from_static(b"123")).unwrap();
        s.put("b/c", Bytes::from_static(b"45")).unwrap();
        s.put("a", Bytes::from_static(b"1")).unwrap();
        assert_eq!((s.len(), s.total_bytes()), (2, 3));
    }
}
