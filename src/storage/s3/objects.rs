//! Buckets that are not repositories: the source of a bucket backup and the
//! target of a restore into a bucket. Same client, retries, request
//! classes and error mapping as [`super::S3Storage`]; what differs is what
//! is asked for: whole listings with ETags and times, and object bodies as
//! streams with their HTTP metadata.
//!
//! Such a bucket has its own credentials, never the repository's: a
//! backup from one account into another must not silently sign the
//! source's requests with the repository's keys. They come from
//! [`S3Options::credentials`] or the environment of its [`Role`]
//! (`CAIRN_SOURCE_*`, `CAIRN_TARGET_*`), else the bucket is not opened.
//!
//! Reads are conditional (`If-Match: ETAG`): an object replaced after it
//! was listed fails with [`changed_since_listed`] instead of being read new.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use serde::Serialize;
use tokio::runtime::Runtime;

use super::client::{self, SharedBucket};
use super::config::{process_env, Env, S3Location, S3Options};
use super::errors::{map_sdk, status_of};
use super::get_check::check_response;
pub use super::role::Role;
use crate::error::{Error, Result};
use crate::storage::stats::WireCounter;
use crate::storage::{StorageError, StorageErrorKind, StorageResult};

/// One listed object. `key` is relative to the location's prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    pub key: String,
    pub size: u64,
    /// Opaque, as the server sent it (quotes included).
    pub etag: String,
    /// Seconds and nanoseconds since the Unix epoch.
    pub last_modified: (i64, u32),
}

/// What a GET returned besides the body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectHead {
    /// Length of this response's body (the range's, for a ranged GET).
    pub length: u64,
    pub etag: String,
    pub last_modified: (i64, u32),
    pub headers: ObjectHeaders,
}

/// An object's HTTP metadata: what a GET or HEAD returns, and what a
/// restore writes it with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectHeaders {
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    /// `x-amz-meta-*` without the prefix.
    pub user: BTreeMap<String, String>,
}

/// The [`ObjectHeaders`] of a GetObject or HeadObject output (two SDK
/// types with the same getters).
macro_rules! object_headers {
    ($out:expr) => {{
        let out = &$out;
        let text = |s: Option<&str>| s.map(str::to_string);
        $crate::storage::s3::ObjectHeaders {
            content_type: text(out.content_type()),
            cache_control: text(out.cache_control()),
            content_encoding: text(out.content_encoding()),
            content_disposition: text(out.content_disposition()),
            content_language: text(out.content_language()),
            user: out
                .metadata()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        }
    }};
}
pub(super) use object_headers;

/// Requests sent to a bucket by kind (the wire counter has them by class).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ObjectStats {
    /// ListObjectsV2 pages.
    pub lists: u64,
    /// GETs of object data (whole or ranged).
    pub gets: u64,
    pub heads: u64,
    pub puts: u64,
    /// Body bytes received.
    pub bytes_down: u64,
    /// Body bytes sent.
    pub bytes_up: u64,
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub lists: AtomicU64,
    pub gets: AtomicU64,
    pub heads: AtomicU64,
    pub puts: AtomicU64,
    pub bytes_down: AtomicU64,
    pub bytes_up: AtomicU64,
}

/// A bucket (and key prefix) that is not a repository, with its own
/// client, credentials and runtime.
pub struct S3Bucket {
    pub(super) bucket: SharedBucket,
    pub(super) role: Role,
    pub(super) wire: WireCounter,
    pub(super) counters: Arc<Counters>,
    pub(super) runtime: Runtime,
}

impl std::fmt::Debug for S3Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S3Bucket({} {})", self.role.word(), self.bucket.loc)
    }
}

impl S3Bucket {
    /// Opens `location` (`s3:…`/`r2:…`) for `role` with the credentials of
    /// `opts`, else from the role's environment variables.
    pub fn open(location: &str, role: Role, opts: &S3Options) -> Result<S3Bucket> {
        Self::open_with_env(location, role, opts, &process_env)
    }

    /// [`S3Bucket::open`] with another source of environment variables.
    pub fn open_with_env(
        location: &str,
        role: Role,
        opts: &S3Options,
        env: Env,
    ) -> Result<S3Bucket> {
        let loc = S3Location::parse(location, env).map_err(Error::Usage)?;
        let secrets = match &opts.credentials {
            Some(given) => given.clone(),
            None => role.secrets_from_env(env).map_err(Error::Usage)?,
        };
        let mut opts = opts.clone();
        if opts.region.is_none() {
            opts.region = role.region_from_env(env);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(format!("cairn-{}", role.word()))
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("starting the S3 runtime: {e}")))?;
        let wire = WireCounter::default();
        Ok(S3Bucket {
            bucket: Arc::new(client::build(loc, opts, secrets, env, wire.clone())),
            role,
            wire,
            counters: Arc::default(),
            runtime,
        })
    }

    pub fn location(&self) -> &S3Location {
        &self.bucket.loc
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Requests sent, by billing class.
    pub fn wire(&self) -> WireCounter {
        self.wire.clone()
    }

    /// The most requests in flight at once (limit.rs).
    pub fn peak_in_flight(&self) -> usize {
        self.bucket.requests.peak()
    }

    /// Requests sent, by kind.
    pub fn stats(&self) -> ObjectStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ObjectStats {
            lists: get(&c.lists),
            gets: get(&c.gets),
            heads: get(&c.heads),
            puts: get(&c.puts),
            bytes_down: get(&c.bytes_down),
            bytes_up: get(&c.bytes_up),
        }
    }

    /// Runs a future of this bucket's requests to completion.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// The runtime's handle, for spawning many requests at once.
    pub fn handle(&self) -> tokio::runtime::Handle {
        self.runtime.handle().clone()
    }

    /// A storage error as an error naming this bucket and its role.
    pub fn error(&self, source: StorageError) -> Error {
        Error::Bucket {
            role: self.role.word(),
            bucket: self.bucket.loc.to_string(),
            source,
        }
    }

    /// Every object under the location's prefix, in key order, one LIST
    /// request per 1,000 keys.
    pub fn list(&self) -> Result<Vec<ListedObject>> {
        let mut all = Vec::new();
        self.block_on(self.list_pages(|page| all.extend(page)))
            .map_err(|e| self.error(e))?;
        Ok(all)
    }

    async fn list_pages(&self, mut each: impl FnMut(Vec<ListedObject>)) -> StorageResult<()> {
        let b = &self.bucket;
        let mut token: Option<String> = None;
        loop {
            let _p = b.permit().await;
            self.counters.lists.fetch_add(1, Ordering::Relaxed);
            let mut req = b
                .client
                .list_objects_v2()
                .bucket(&b.loc.bucket)
                .set_continuation_token(token.take());
            if !b.loc.prefix.is_empty() {
                req = req.prefix(&b.loc.prefix);
            }
            let page = req
                .send()
                .await
                .map_err(|e| map_sdk(e, "list", &b.loc.prefix, &b.cx()))?;
            let objects = page.contents().iter().filter_map(|o| {
                let key = o.key()?.strip_prefix(b.loc.prefix.as_str())?;
                Some(ListedObject {
                    key: key.to_string(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    etag: o.e_tag().unwrap_or_default().to_string(),
                    last_modified: o.last_modified().map_or((0, 0), unix_time),
                })
            });
            each(objects.collect());
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => return Ok(()),
            }
        }
    }

    /// A handle for reads that can move into spawned tasks (it holds no
    /// runtime, so dropping it inside one is fine).
    pub fn reads(&self) -> ObjectReads {
        ObjectReads {
            bucket: self.bucket.clone(),
            counters: self.counters.clone(),
        }
    }

    /// See [`ObjectReads::get`].
    pub async fn get(
        &self,
        key: &str,
        range: Option<(u64, u64)>,
        if_match: Option<&str>,
    ) -> StorageResult<(ObjectHead, ObjectBody)> {
        self.reads().get(key, range, if_match).await
    }

    /// See [`ObjectReads::get_bytes`].
    pub async fn get_bytes(
        &self,
        key: &str,
        range: Option<(u64, u64)>,
        if_match: Option<&str>,
    ) -> StorageResult<(ObjectHead, Bytes)> {
        self.reads().get_bytes(key, range, if_match).await
    }
}

/// Reads of one [`S3Bucket`]'s objects, counted with its statistics.
#[derive(Clone)]
pub struct ObjectReads {
    bucket: SharedBucket,
    counters: Arc<Counters>,
}

impl ObjectReads {
    /// GETs `key` (relative to the prefix), `range` = (offset, length) or
    /// the whole object, only if its ETag is still `if_match` when given.
    /// The body streams; the request slot is held until the headers came.
    pub async fn get(
        &self,
        key: &str,
        range: Option<(u64, u64)>,
        if_match: Option<&str>,
    ) -> StorageResult<(ObjectHead, ObjectBody)> {
        let _p = self.bucket.permit().await;
        send_get(&self.bucket, &self.counters, key, range, if_match).await
    }

    /// [`ObjectReads::get`], collecting the body while the request slot is
    /// held (for ranges and small objects). The SDK retries a request but
    /// not its body stream: a body cut off (connection reset) is asked for
    /// again, a few times with backoff (still `If-Match`, so the same object).
    pub async fn get_bytes(
        &self,
        key: &str,
        range: Option<(u64, u64)>,
        if_match: Option<&str>,
    ) -> StorageResult<(ObjectHead, Bytes)> {
        for retry in 1.. {
            let p = self.bucket.permit().await;
            let (head, body) = send_get(&self.bucket, &self.counters, key, range, if_match).await?;
            match body.collect(key).await {
                Ok(bytes) => return Ok((head, bytes)),
                Err(e) if retry > BODY_RETRIES => return Err(e),
                Err(_) => drop(p),
            }
            tokio::time::sleep(std::time::Duration::from_millis(100 << retry)).await;
        }
        unreachable!("the loop returns")
    }
}

/// Body reads cut off that [`ObjectReads::get_bytes`] asks for again.
const BODY_RETRIES: u32 = 3;

/// An object's body as it arrives.
pub struct ObjectBody {
    stream: ByteStream,
    counters: Arc<Counters>,
}

impl ObjectBody {
    /// The next piece of the body; `None` at its end.
    pub async fn next(&mut self, key: &str) -> Option<StorageResult<Bytes>> {
        let piece = self.stream.next().await?;
        Some(match piece {
            Ok(b) => {
                self.counters
                    .bytes_down
                    .fetch_add(b.len() as u64, Ordering::Relaxed);
                Ok(b)
            }
            Err(e) => Err(StorageError::new(
                StorageErrorKind::Transient,
                "get",
                key,
                format!("reading the body: {e}"),
            )),
        })
    }

    /// The whole (remaining) body in one buffer.
    pub async fn collect(mut self, key: &str) -> StorageResult<Bytes> {
        let mut out = bytes::BytesMut::new();
        while let Some(piece) = self.next(key).await {
            out.extend_from_slice(&piece?);
        }
        Ok(out.freeze())
    }
}

async fn send_get(
    b: &client::Bucket,
    counters: &Arc<Counters>,
    key: &str,
    range: Option<(u64, u64)>,
    if_match: Option<&str>,
) -> StorageResult<(ObjectHead, ObjectBody)> {
    let full = b.key(key);
    counters.gets.fetch_add(1, Ordering::Relaxed);
    let mut req = b.client.get_object().bucket(&b.loc.bucket).key(&full);
    if let Some((offset, len)) = range.filter(|r| r.1 > 0) {
        req = req.range(format!("bytes={offset}-{}", offset + len - 1));
    }
    if let Some(etag) = if_match {
        req = req.if_match(etag);
    }
    let out = match req.send().await {
        Ok(out) => out,
        Err(e) if status_of(&e) == Some(412) => return Err(changed_since_listed(key)),
        Err(e) => {
            let err = map_sdk(e, "get", key, &b.cx());
            return Err(match err.kind {
                StorageErrorKind::NotFound => StorageError::new(
                    StorageErrorKind::NotFound,
                    "get",
                    key,
                    "the object vanished since it was listed",
                ),
                _ => err,
            });
        }
    };
    let head = ObjectHead {
        length: out.content_length().unwrap_or(0).max(0) as u64,
        etag: out.e_tag().unwrap_or_default().to_string(),
        last_modified: out.last_modified().map_or((0, 0), unix_time),
        headers: object_headers!(out),
    };
    let asked = (range, if_match);
    check_response(key, asked, &head.etag, head.length, out.content_range())?;
    let body = ObjectBody {
        stream: out.body,
        counters: counters.clone(),
    };
    Ok((head, body))
}

/// The error of a conditional read whose object was replaced after it was
/// listed (HTTP 412).
pub fn changed_since_listed(key: &str) -> StorageError {
    StorageError::new(
        StorageErrorKind::Permanent,
        "get",
        key,
        "the object changed since it was listed (its ETag no longer matches)",
    )
}

fn unix_time(t: &aws_sdk_s3::primitives::DateTime) -> (i64, u32) {
    (t.secs(), t.subsec_nanos())
}
