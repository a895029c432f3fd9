//! The harness's view of the backend under test: which one it is, and
//! backend-neutral access to a test repository's objects.

use std::sync::Arc;

use cairn::storage::Storage;

use crate::util::{Env, PASSWORD};

/// The S3 endpoint when the suite runs against S3 (`CAIRN_TEST_BACKEND=s3`).
pub fn s3_endpoint() -> Option<String> {
    match std::env::var("CAIRN_TEST_BACKEND").as_deref() {
        Ok("s3") => Some(
            std::env::var("CAIRN_TEST_S3")
                .expect("CAIRN_TEST_BACKEND=s3 needs CAIRN_TEST_S3 (scripts/test sets both)"),
        ),
        Ok("local") | Ok("") | Err(_) => None,
        Ok(other) => panic!("unknown CAIRN_TEST_BACKEND {other:?}"),
    }
}

/// The bucket the S3 runs share; each test has its own prefix in it.
pub const S3_TEST_BUCKET: &str = "cairn-integration";

impl Env {
    pub fn is_s3(&self) -> bool {
        self.location.starts_with("s3:")
    }

    /// The repository's storage, as the library opens it.
    pub fn storage(&self) -> Arc<dyn Storage> {
        cairn::storage::open_location(&self.location, self.is_s3())
            .unwrap_or_else(|e| panic!("open {}: {e}", self.location))
    }

    /// A library handle on the test's repository, with its cache.
    pub fn open_repo(&self) -> cairn::repo::Repository {
        let open = cairn::repo::OpenOptions {
            cache_dir: Some(self.cache.clone()),
            ..Default::default()
        };
        cairn::repo::Repository::open(self.storage(), crate::util::PASSWORD.as_bytes(), open)
            .expect("open the repository")
    }

    /// Keys (and sizes) of the objects under `prefix`, on any backend.
    pub fn objects(&self, prefix: &str) -> Vec<(String, u64)> {
        let mut v: Vec<_> = self
            .storage()
            .list(prefix)
            .expect("list")
            .into_iter()
            .map(|o| (o.key, o.size))
            .collect();
        v.sort();
        v
    }

    /// A library handle on a new repository at this location (cheap KDF).
    pub fn library_repo(&self) -> cairn::repo::Repository {
        let init = cairn::repo::InitOptions {
            kdf: Some(cairn::crypto::KdfParams::insecure_for_tests()),
            ..Default::default()
        };
        let open = cairn::repo::OpenOptions {
            cache_dir: Some(self.cache.clone()),
            ..Default::default()
        };
        let storage = if self.is_s3() {
            self.storage()
        } else {
            Arc::new(
                cairn::storage::local::LocalStorage::create(self.repo.clone()).expect("create"),
            )
        };
        cairn::repo::Repository::init(storage, PASSWORD.as_bytes(), init, open).expect("init")
    }
}
