//! Amazon S3 and S3-compatible stores (Cloudflare R2, MinIO, SeaweedFS)
//! behind the same [`Storage`] trait as a local directory: the engine never
//! knows which one it talks to.
//!
//! The SDK is async; cairn's storage API is blocking. Each [`S3Storage`]
//! owns a small tokio runtime and blocks on it per call, so callers on many
//! threads get that many requests in flight (up to `connections`). Staged
//! packs upload in the background ([`Staged::commit_background`]), which is
//! what keeps a backup busy despite per-request latency.
//!
//! Object keys are the repository's keys under an optional prefix: the
//! layout in a bucket is byte for byte the layout in a directory.

mod client;
pub mod config;
mod errors;
mod get_check;
mod limit;
pub mod objects;
pub mod objects_put;
mod retention;
#[cfg(test)]
mod retry_tests;
mod role;
#[cfg(test)]
mod tests;
mod upload;
mod wire;

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;

pub use config::{is_s3_location, S3Location, S3Options, Secrets};
pub use limit::ADAPTIVE_CEILING;
pub use objects::{
    ListedObject, ObjectBody, ObjectHead, ObjectHeaders, ObjectReads, ObjectStats, Role, S3Bucket,
};
pub use objects_put::{MultipartUpload, PutOutcome, TargetHead};

use crate::error::{Error, Result};
use crate::storage::stats::WireCounter;
use crate::storage::{ObjectInfo, Staged, Storage, StorageResult};
use client::SharedBucket;
use config::{process_env, Env};

/// A bucket (and key prefix) as a [`Storage`].
pub struct S3Storage {
    bucket: SharedBucket,
    /// Permits for pack uploads running in the background.
    upload_slots: Arc<Semaphore>,
    /// Every HTTP request sent, by billing class.
    wire: WireCounter,
    runtime: Runtime,
}

impl std::fmt::Debug for S3Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S3Storage({})", self.bucket.loc)
    }
}

impl S3Storage {
    /// Opens `location` (`s3:…` or `r2:…`) with the credentials of `opts`,
    /// else from the environment. With `create`, makes the bucket if it does not exist.
    pub fn open(location: &str, opts: &S3Options, create: bool) -> Result<S3Storage> {
        Self::open_with_env(location, opts, create, &process_env)
    }

    /// [`S3Storage::open`] with another source of environment variables.
    pub fn open_with_env(
        location: &str,
        opts: &S3Options,
        create: bool,
        env: Env,
    ) -> Result<S3Storage> {
        let loc = S3Location::parse(location, env).map_err(Error::Usage)?;
        let secrets = match &opts.credentials {
            Some(given) => given.clone(),
            None => {
                Secrets::from_env(&loc, env).map_err(|e| Error::Usage(format!("{loc}: {e}")))?
            }
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("cairn-s3")
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("starting the S3 runtime: {e}")))?;
        let connections = opts.connections.max(1);
        // Each pack upload in flight holds a whole pack in memory, so
        // uploads get half the connections (at least two); reads (restore,
        // check) still get every connection.
        let wire = WireCounter::default();
        let storage = S3Storage {
            bucket: Arc::new(client::build(loc, opts.clone(), secrets, env, wire.clone())),
            upload_slots: Arc::new(Semaphore::new(upload_slots(connections))),
            wire,
            runtime,
        };
        if create {
            storage.ensure_bucket()?;
        }
        Ok(storage)
    }

    /// Creates the bucket if it is missing. Credentials limited to objects
    /// may not look at the bucket itself: then carry on, and let the first
    /// object request say whether access works.
    fn ensure_bucket(&self) -> Result<()> {
        match self.block_on(self.bucket.bucket_exists()) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => {
                tracing::info!(error = %e, "cannot check the bucket; assuming it exists");
                return Ok(());
            }
        }
        tracing::info!(bucket = %self.bucket.loc.bucket, "creating the bucket");
        if let Err(e) = self.block_on(self.bucket.create_bucket()) {
            // Someone else may have created it meanwhile.
            if !self.block_on(self.bucket.bucket_exists())? {
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// The counter of HTTP requests this storage sends.
    pub fn wire(&self) -> WireCounter {
        self.wire.clone()
    }

    /// The most requests this storage had in flight at once (limit.rs).
    pub fn peak_in_flight(&self) -> usize {
        self.bucket.requests.peak()
    }

    /// The parsed location.
    pub fn s3_location(&self) -> &S3Location {
        &self.bucket.loc
    }

    /// Does the bucket exist? (`false` also when it is not visible to us.)
    pub fn bucket_exists(&self) -> StorageResult<bool> {
        self.block_on(self.bucket.bucket_exists())
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }
}

impl Storage for S3Storage {
    fn put(&self, key: &str, data: Bytes) -> StorageResult<()> {
        self.block_on(upload::upload(&self.bucket, key, data))
    }

    fn put_if_absent(&self, key: &str, data: Bytes) -> StorageResult<bool> {
        self.block_on(self.bucket.put_if_absent(key, data))
    }

    fn get(&self, key: &str) -> StorageResult<Vec<u8>> {
        self.block_on(self.bucket.get(key))
    }

    fn get_range(&self, key: &str, offset: u64, len: u64) -> StorageResult<Vec<u8>> {
        self.block_on(self.bucket.get_range(key, offset, len))
    }

    fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectInfo>> {
        self.block_on(self.bucket.list(prefix))
    }

    fn delete(&self, key: &str) -> StorageResult<()> {
        self.block_on(self.bucket.delete(key))
    }

    fn location(&self) -> String {
        self.bucket.loc.to_string()
    }

    fn stage(&self) -> StorageResult<Box<dyn Staged + '_>> {
        Ok(Box::new(upload::S3Staged::new(self)))
    }

    fn as_dyn(&self) -> &dyn Storage {
        self
    }

    fn lock_supported(&self) -> StorageResult<bool> {
        self.block_on(self.bucket.lock_supported())
    }

    fn set_retention(
        &self,
        key: &str,
        until: i64,
        mode: crate::storage::RetentionMode,
    ) -> StorageResult<()> {
        self.block_on(self.bucket.set_retention(key, until, mode))
    }

    fn retention(&self, key: &str) -> StorageResult<Option<i64>> {
        self.block_on(self.bucket.retention(key))
    }
}

/// Pack uploads allowed in flight for `connections` request slots.
fn upload_slots(connections: usize) -> usize {
    (connections / 2).max(2).min(connections)
}
