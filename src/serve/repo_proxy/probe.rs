//! The start-up check that the backend's create-only write is real. The
//! append-only policy rests on it: an append token may create any new
//! object, and `put_if_absent` is what keeps "create" from meaning
//! "overwrite". A backend (or an S3-compatible server) that ignores
//! `If-None-Match: *` answers every create with success, so the proxy
//! creates one probe object twice and refuses to serve when the second
//! create also "succeeds". The probe is a `cairn-probe-` object, the kind
//! `cairn repo ping` writes, and is deleted again.

use bytes::Bytes;

use cairn::storage::probe::PROBE_PREFIX;
use cairn::storage::Storage;
use cairn::{Error, Result};

/// Refuses a backend whose create-only write overwrites.
pub fn check_create_only(storage: &dyn Storage) -> Result<()> {
    let key = format!("{PROBE_PREFIX}{:016x}", rand::random::<u64>());
    let body = |n: u8| Bytes::from(format!("cairn serve-repo create-only probe {key} #{n}\n"));
    let outcome = probe(storage, &key, body(1), body(2));
    // Deleted whatever the outcome: a failed probe must not leave litter.
    let cleaned = storage.delete(&key);
    outcome?;
    cleaned.map_err(Error::from)
}

fn probe(storage: &dyn Storage, key: &str, first: Bytes, second: Bytes) -> Result<()> {
    if !storage.put_if_absent(key, first)? {
        return Err(Error::Internal(format!(
            "the create-only probe {key} already existed on {}",
            storage.location()
        )));
    }
    if storage.put_if_absent(key, second)? {
        return Err(Error::Usage(format!(
            "{} ignores create-only writes (If-None-Match: *): creating the probe {key} \
             twice succeeded both times, so an append token could overwrite existing \
             objects; refusing to serve it (use a backend with conditional writes)",
            storage.location()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use cairn::storage::local::LocalStorage;
    use cairn::storage::{ObjectInfo, StorageResult};

    use super::*;

    /// A storage whose create-only write is honest, or (like a server that
    /// ignores `If-None-Match`) always overwrites and reports a creation.
    struct Creates<S> {
        inner: S,
        honest: bool,
        creates: AtomicUsize,
    }

    impl<S: Storage> Storage for Creates<S> {
        fn put(&self, key: &str, data: Bytes) -> StorageResult<()> {
            self.inner.put(key, data)
        }
        fn put_if_absent(&self, key: &str, data: Bytes) -> StorageResult<bool> {
            self.creates.fetch_add(1, Ordering::SeqCst);
            if self.honest {
                return self.inner.put_if_absent(key, data);
            }
            self.inner.put(key, data).map(|()| true)
        }
        fn get(&self, key: &str) -> StorageResult<Vec<u8>> {
            self.inner.get(key)
        }
        fn get_range(&self, key: &str, offset: u64, len: u64) -> StorageResult<Vec<u8>> {
            self.inner.get_range(key, offset, len)
        }
        fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectInfo>> {
            self.inner.list(prefix)
        }
        fn delete(&self, key: &str) -> StorageResult<()> {
            self.inner.delete(key)
        }
        fn location(&self) -> String {
            self.inner.location()
        }
        fn as_dyn(&self) -> &dyn Storage {
            self
        }
    }

    fn local(honest: bool) -> (tempfile::TempDir, Creates<LocalStorage>) {
        let dir = tempfile::tempdir().unwrap();
        let inner = LocalStorage::create(dir.path().join("repo")).unwrap();
        let creates = AtomicUsize::new(0);
        (
            dir,
            Creates {
                inner,
                honest,
                creates,
            },
        )
    }

    #[test]
    fn an_honest_backend_passes_and_the_probe_is_gone() {
        let (_dir, s) = local(true);
        check_create_only(&s).unwrap();
        assert_eq!(s.creates.load(Ordering::SeqCst), 2, "the probe did not run");
        assert!(s.list("").unwrap().is_empty(), "the probe was left behind");
    }

    #[test]
    fn a_backend_that_ignores_if_none_match_is_refused() {
        let (_dir, s) = local(false);
        let err = check_create_only(&s).unwrap_err();
        assert_eq!(err.kind(), cairn::ErrorKind::Usage, "{err}");
        assert!(
            err.to_string().contains("ignores create-only writes"),
            "{err}"
        );
        assert!(s.list("").unwrap().is_empty(), "the probe was left behind");
    }
}
