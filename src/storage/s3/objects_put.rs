//! Writing objects into a bucket that is not a repository (the target of a
//! restore): PUT with HTTP metadata, create-only PUT (`If-None-Match: *`),
//! HEAD, and multipart uploads fed one part at a time, so an object of any
//! size is sent without holding it whole in memory. Same client, request
//! slots, retries and request counters as [`super::objects`].
//!
//! Create-only writes: AWS S3, R2, MinIO and SeaweedFS answer 412 when the
//! object exists. A server that does not implement the condition answers
//! 501 (or 400 `NotImplemented`): that is [`PutOutcome::Unsupported`], and
//! the caller falls back to a HEAD before each write. (A server that
//! silently ignores the header cannot be told apart without writing.)

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;

use super::client::send_upload;
use super::errors::{map_sdk, status_of};
use super::objects::{object_headers, ObjectHeaders, S3Bucket};
use crate::storage::{StorageError, StorageErrorKind, StorageResult};

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Written,
    /// A create-only write found the object there (HTTP 412): nothing written.
    Exists,
    /// The server does not implement create-only writes: nothing written.
    Unsupported,
}

/// What a HEAD says about an existing object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHead {
    pub size: u64,
    /// As the server sent it, quotes included.
    pub etag: String,
    pub headers: ObjectHeaders,
}

/// Sets the headers on a PutObject or CreateMultipartUpload request (two
/// SDK types with the same setters).
macro_rules! with_headers {
    ($req:expr, $h:expr) => {{
        let h: &ObjectHeaders = $h;
        let user: HashMap<String, String> =
            h.user.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        $req.set_content_type(h.content_type.clone())
            .set_cache_control(h.cache_control.clone())
            .set_content_encoding(h.content_encoding.clone())
            .set_content_disposition(h.content_disposition.clone())
            .set_content_language(h.content_language.clone())
            .set_metadata((!user.is_empty()).then_some(user))
    }};
}

/// Does this failed conditional request mean "condition not implemented"?
fn unsupported<E>(
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> bool
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    status_of(e) == Some(501)
        || e.as_service_error()
            .and_then(|s| s.code())
            .is_some_and(|c| c == "NotImplemented")
}

impl S3Bucket {
    /// The object's size and ETag, `None` when there is none.
    pub async fn head_object(&self, key: &str) -> StorageResult<Option<TargetHead>> {
        let b = &self.bucket;
        let _p = b.permit().await;
        self.counters.heads.fetch_add(1, Ordering::Relaxed);
        let out = b
            .client
            .head_object()
            .bucket(&b.loc.bucket)
            .key(b.key(key))
            .send()
            .await;
        match out {
            Ok(o) => Ok(Some(TargetHead {
                size: o.content_length().unwrap_or(0).max(0) as u64,
                etag: o.e_tag().unwrap_or_default().to_string(),
                headers: object_headers!(o),
            })),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => match map_sdk(e, "head", key, &b.cx()) {
                err if err.kind == StorageErrorKind::NotFound => Ok(None),
                err => Err(err),
            },
        }
    }

    /// PUTs `body` under `key` (relative to the prefix) with `headers`;
    /// with `if_absent`, only when no object has that key.
    pub async fn put_object(
        &self,
        key: &str,
        body: Bytes,
        headers: &ObjectHeaders,
        if_absent: bool,
    ) -> StorageResult<PutOutcome> {
        let b = &self.bucket;
        let _p = b.permit().await;
        self.counters.puts.fetch_add(1, Ordering::Relaxed);
        let len = body.len() as u64;
        let mut req = with_headers!(
            b.client.put_object().bucket(&b.loc.bucket).key(b.key(key)),
            headers
        )
        .body(ByteStream::from(body));
        if if_absent {
            req = req.if_none_match("*");
        }
        match send_upload!(b, req) {
            Ok(_) => {
                self.counters.bytes_up.fetch_add(len, Ordering::Relaxed);
                Ok(PutOutcome::Written)
            }
            Err(e) if if_absent && status_of(&e) == Some(412) => Ok(PutOutcome::Exists),
            Err(e) if if_absent && unsupported(&e) => Ok(PutOutcome::Unsupported),
            Err(e) => Err(map_sdk(e, "put", key, &b.cx())),
        }
    }

    /// Starts a multipart upload of `key` with `headers`; feed it with
    /// [`MultipartUpload::part`], then complete or abort it.
    pub async fn start_multipart(
        &self,
        key: &str,
        headers: &ObjectHeaders,
    ) -> StorageResult<MultipartUpload> {
        let b = &self.bucket;
        let _p = b.permit().await;
        self.counters.puts.fetch_add(1, Ordering::Relaxed);
        let req = with_headers!(
            b.client
                .create_multipart_upload()
                .bucket(&b.loc.bucket)
                .key(b.key(key)),
            headers
        );
        let out = req
            .send()
            .await
            .map_err(|e| map_sdk(e, "put", key, &b.cx()))?;
        let upload_id = out.upload_id().map(str::to_string).ok_or_else(|| {
            StorageError::new(
                StorageErrorKind::Permanent,
                "put",
                key,
                "the server started a multipart upload without an id",
            )
        })?;
        Ok(MultipartUpload {
            key: key.to_string(),
            upload_id,
            parts: Vec::new(),
        })
    }
}

/// A multipart upload in progress. Parts are sent in order, one at a time
/// (the caller holds one part's bytes); every part but the last must be at
/// least 5 MiB.
pub struct MultipartUpload {
    key: String,
    upload_id: String,
    parts: Vec<CompletedPart>,
}

impl MultipartUpload {
    /// Sends the next part.
    pub async fn part(&mut self, bucket: &S3Bucket, body: Bytes) -> StorageResult<()> {
        let b = &bucket.bucket;
        let number = self.parts.len() as i32 + 1;
        let len = body.len() as u64;
        let _p = b.permit().await;
        bucket.counters.puts.fetch_add(1, Ordering::Relaxed);
        let req = b
            .client
            .upload_part()
            .bucket(&b.loc.bucket)
            .key(b.key(&self.key))
            .upload_id(&self.upload_id)
            .part_number(number)
            .body(ByteStream::from(body));
        let out = send_upload!(b, req).map_err(|e| map_sdk(e, "put", &self.key, &b.cx()))?;
        bucket.counters.bytes_up.fetch_add(len, Ordering::Relaxed);
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag().map(str::to_string))
                .build(),
        );
        Ok(())
    }

    /// Completes the upload; with `if_absent`, only when no object has the
    /// key by then (else the parts are discarded: [`PutOutcome::Exists`], or
    /// [`PutOutcome::Unsupported`] when the server lacks the condition).
    pub async fn complete(self, bucket: &S3Bucket, if_absent: bool) -> StorageResult<PutOutcome> {
        let b = &bucket.bucket;
        let result = {
            let _p = b.permit().await;
            bucket.counters.puts.fetch_add(1, Ordering::Relaxed);
            let mut req = b
                .client
                .complete_multipart_upload()
                .bucket(&b.loc.bucket)
                .key(b.key(&self.key))
                .upload_id(&self.upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(self.parts.clone()))
                        .build(),
                );
            if if_absent {
                req = req.if_none_match("*");
            }
            req.send().await
        };
        match result {
            Ok(_) => Ok(PutOutcome::Written),
            Err(e) if if_absent && status_of(&e) == Some(412) => {
                self.abort(bucket).await;
                Ok(PutOutcome::Exists)
            }
            Err(e) if if_absent && unsupported(&e) => {
                self.abort(bucket).await;
                Ok(PutOutcome::Unsupported)
            }
            Err(e) => {
                let err = map_sdk(e, "put", &self.key, &b.cx());
                self.abort(bucket).await;
                Err(err)
            }
        }
    }

    /// Abandons the upload so no parts stay billed; a failure is logged.
    pub async fn abort(self, bucket: &S3Bucket) {
        let b = &bucket.bucket;
        let _p = b.permit().await;
        let out = b
            .client
            .abort_multipart_upload()
            .bucket(&b.loc.bucket)
            .key(b.key(&self.key))
            .upload_id(&self.upload_id)
            .send()
            .await;
        if let Err(e) = out {
            let err = map_sdk(e, "abort", &self.key, &b.cx());
            tracing::warn!(key = %self.key, error = %err, "could not abort a multipart upload");
        }
    }
}
