//! The SDK client and the requests cairn makes with it, as async functions
//! on [`Bucket`]. Every request holds a slot of one [`Limiter`]: the
//! configured connections, or what the adaptive limit has grown or shrunk
//! them to (after a shrink, requests already sent finish first).
//!
//! Retries are the SDK's ("standard" mode: exponential backoff with jitter on
//! timeouts, 5xx, throttling and dropped connections); cairn's own retry
//! wrapper is not stacked on top, so attempts do not multiply.

use std::sync::Arc;
use std::time::Duration;

use super::config::{Env, S3Location, S3Options, Secrets};
use super::errors::{map_sdk, status_of, ErrorContext};
use super::limit::{Limiter, Permit};
use super::wire::CountRequests;
use crate::storage::stats::WireCounter;
use crate::storage::{ObjectInfo, StorageError, StorageErrorKind, StorageResult};
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use bytes::Bytes;

/// Connecting must be quick; a stalled transfer is caught by the SDK's
/// stalled-stream protection; `S3Options::attempt_timeout` caps one attempt
/// of anything else.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One bucket and key prefix, reachable with one client.
pub(super) struct Bucket {
    pub client: Client,
    pub loc: S3Location,
    pub secrets: Secrets,
    pub opts: S3Options,
    pub requests: Arc<Limiter>,
    /// See [`S3Options::sign_payload`].
    pub sign_payload: bool,
}

/// Sends an upload request (PUT or part), its body hash signed or not as
/// the bucket says. A macro because the two ways to send are different types.
macro_rules! send_upload {
    ($bucket:expr, $req:expr) => {
        if $bucket.sign_payload {
            $req.send().await
        } else {
            $req.customize().disable_payload_signing().send().await
        }
    };
}
pub(super) use send_upload;

/// Builds the SDK client: static credentials, no newer-than-needed checksum
/// headers (R2, MinIO and SeaweedFS reject or mishandle them), rustls with
/// ring, bounded connection reuse.
pub(super) fn build(
    loc: S3Location,
    opts: S3Options,
    secrets: Secrets,
    env: Env,
    wire: WireCounter,
) -> Bucket {
    let requests = Arc::new(Limiter::new(opts.connections, opts.adaptive));
    let http = aws_smithy_http_client::Builder::new()
        .pool_max_idle_per_host(requests.ceiling())
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let credentials = Credentials::new(
        secrets.access_key_id.clone(),
        secrets.secret_access_key.as_str(),
        secrets.session_token.as_ref().map(|t| t.to_string()),
        None,
        "cairn-environment",
    );
    let retry = RetryConfig::standard()
        .with_max_attempts(opts.attempts.max(1))
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(20));
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(opts.attempt_timeout)
        .build();
    let mut config = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(loc.region(&opts, env)))
        .credentials_provider(credentials)
        .http_client(http)
        .force_path_style(loc.path_style(&opts))
        .retry_config(retry)
        .timeout_config(timeouts)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .interceptor(CountRequests(wire, requests.clone()));
    if let Some(endpoint) = loc.endpoint() {
        config = config.endpoint_url(endpoint);
    }
    Bucket {
        client: Client::from_conf(config.build()),
        requests,
        sign_payload: loc.sign_payload(&opts),
        loc,
        secrets,
        opts,
    }
}

impl Bucket {
    /// The full object key of a repository key.
    pub fn key(&self, key: &str) -> String {
        format!("{}{key}", self.loc.prefix)
    }

    pub fn cx(&self) -> ErrorContext<'_> {
        ErrorContext {
            bucket: &self.loc.bucket,
            secrets: &self.secrets,
        }
    }

    /// Waits for a request slot.
    pub async fn permit(&self) -> Permit<'_> {
        self.requests.acquire().await
    }

    pub async fn put(&self, key: &str, data: Bytes) -> StorageResult<()> {
        let _p = self.permit().await;
        let req = self
            .client
            .put_object()
            .bucket(&self.loc.bucket)
            .key(self.key(key))
            .body(ByteStream::from(data));
        send_upload!(self, req).map_err(|e| map_sdk(e, "put", key, &self.cx()))?;
        Ok(())
    }

    /// A conditional put (`If-None-Match: *`); `false` when the object exists.
    pub async fn put_if_absent(&self, key: &str, data: Bytes) -> StorageResult<bool> {
        let _p = self.permit().await;
        let req = self
            .client
            .put_object()
            .bucket(&self.loc.bucket)
            .key(self.key(key))
            .if_none_match("*")
            .body(ByteStream::from(data));
        let result = send_upload!(self, req);
        match result {
            Ok(_) => Ok(true),
            Err(e) if status_of(&e) == Some(412) => Ok(false),
            Err(e) => Err(map_sdk(e, "put_if_absent", key, &self.cx())),
        }
    }

    pub async fn get(&self, key: &str) -> StorageResult<Vec<u8>> {
        self.get_inner(key, None).await
    }

    /// `len` bytes from `offset`; anything short of that is an error.
    pub async fn get_range(&self, key: &str, offset: u64, len: u64) -> StorageResult<Vec<u8>> {
        if len == 0 {
            let size = self.head(key).await?;
            if offset > size {
                return Err(past_end(key, offset, len, size));
            }
            return Ok(Vec::new());
        }
        let data = self.get_inner(key, Some((offset, len))).await?;
        if data.len() as u64 != len {
            return Err(StorageError::new(
                StorageErrorKind::Permanent,
                "get_range",
                key,
                format!(
                    "asked for {len} bytes at {offset}, got {}: range past the end of the object",
                    data.len()
                ),
            ));
        }
        Ok(data)
    }

    async fn get_inner(&self, key: &str, range: Option<(u64, u64)>) -> StorageResult<Vec<u8>> {
        let op = if range.is_some() { "get_range" } else { "get" };
        let _p = self.permit().await;
        let mut req = self
            .client
            .get_object()
            .bucket(&self.loc.bucket)
            .key(self.key(key));
        if let Some((offset, len)) = range {
            req = req.range(format!("bytes={offset}-{}", offset + len - 1));
        }
        let out = req
            .send()
            .await
            .map_err(|e| map_sdk(e, op, key, &self.cx()))?;
        let ranged = out.content_range().is_some();
        let body = out.body.collect().await.map_err(|e| {
            StorageError::new(
                StorageErrorKind::Transient,
                op,
                key,
                format!("reading the body: {e}"),
            )
        })?;
        let bytes = body.into_bytes();
        match range {
            // A server that ignored the Range header sent the whole object.
            Some((offset, len)) if !ranged => {
                let start = offset.min(bytes.len() as u64) as usize;
                let end = (offset + len).min(bytes.len() as u64) as usize;
                Ok(bytes.slice(start..end).to_vec())
            }
            _ => Ok(Vec::from(bytes)),
        }
    }

    /// The object's size.
    pub async fn head(&self, key: &str) -> StorageResult<u64> {
        let _p = self.permit().await;
        let out = self
            .client
            .head_object()
            .bucket(&self.loc.bucket)
            .key(self.key(key))
            .send()
            .await
            .map_err(|e| map_sdk(e, "head", key, &self.cx()))?;
        Ok(out.content_length().unwrap_or(0).max(0) as u64)
    }

    pub async fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectInfo>> {
        let full = self.key(prefix);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let _p = self.permit().await;
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.loc.bucket)
                .prefix(&full)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| map_sdk(e, "list", prefix, &self.cx()))?;
            for obj in page.contents() {
                let Some(key) = obj.key().and_then(|k| k.strip_prefix(&self.loc.prefix)) else {
                    continue;
                };
                out.push(ObjectInfo {
                    key: key.to_string(),
                    size: obj.size().unwrap_or(0).max(0) as u64,
                    modified: obj.last_modified().map(|t| t.secs()),
                });
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    pub async fn delete(&self, key: &str) -> StorageResult<()> {
        let _p = self.permit().await;
        self.client
            .delete_object()
            .bucket(&self.loc.bucket)
            .key(self.key(key))
            .send()
            .await
            .map_err(|e| map_sdk(e, "delete", key, &self.cx()))?;
        Ok(())
    }

    /// Does the bucket exist (and may we see it)?
    pub async fn bucket_exists(&self) -> StorageResult<bool> {
        let _p = self.permit().await;
        match self
            .client
            .head_bucket()
            .bucket(&self.loc.bucket)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if status_of(&e) == Some(404) => Ok(false),
            Err(e) => Err(map_sdk(e, "head_bucket", &self.loc.bucket, &self.cx())),
        }
    }

    /// Creates the bucket; one that already exists and is ours is fine.
    pub async fn create_bucket(&self) -> StorageResult<()> {
        use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
        let _p = self.permit().await;
        let mut req = self.client.create_bucket().bucket(&self.loc.bucket);
        // Amazon wants the region named unless it is the default one.
        let region = self.client.config().region().map(|r| r.to_string());
        if self.loc.endpoint().is_none() {
            if let Some(r) = region.filter(|r| r != "us-east-1") {
                let constraint = BucketLocationConstraint::from(r.as_str());
                req = req.create_bucket_configuration(
                    CreateBucketConfiguration::builder()
                        .location_constraint(constraint)
                        .build(),
                );
            }
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_bucket_already_owned_by_you()) =>
            {
                Ok(())
            }
            Err(e) => Err(map_sdk(e, "create_bucket", &self.loc.bucket, &self.cx())),
        }
    }
}

fn past_end(key: &str, offset: u64, len: u64, size: u64) -> StorageError {
    StorageError::new(
        StorageErrorKind::Permanent,
        "get_range",
        key,
        format!("{len} bytes at {offset} is past the end of the {size}-byte object"),
    )
}

/// Keeps `Arc<Bucket>` usable from spawned tasks.
pub(super) type SharedBucket = Arc<Bucket>;
