//! Writing objects: one PUT for small ones, a multipart upload for large
//! ones, and staged packs that upload in the background so several packs
//! are in flight while the backup goes on sealing the next ones.
//!
//! Pack bytes are buffered once, frozen into `Bytes` and handed to the SDK
//! as a `ByteStream` without copying; multipart parts are slices of the same
//! buffer, and a retried request resends the same memory.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;

use super::client::{send_upload, Bucket, SharedBucket};
use super::config::MIN_PART_SIZE;
use super::errors::map_sdk;
use super::S3Storage;
use crate::storage::{PackBuf, Pending, Staged, StorageError, StorageErrorKind, StorageResult};

/// Stores `data` under `key` with a PUT, or in parts when it is large.
pub(super) async fn upload(bucket: &Bucket, key: &str, data: Bytes) -> StorageResult<()> {
    if data.len() > bucket.opts.multipart_threshold {
        multipart(bucket, key, data).await
    } else {
        bucket.put(key, data).await
    }
}

/// A multipart upload; aborted on failure so no parts are left billed.
async fn multipart(bucket: &Bucket, key: &str, data: Bytes) -> StorageResult<()> {
    let full = bucket.key(key);
    let created = {
        let _p = bucket.permit().await;
        bucket
            .client
            .create_multipart_upload()
            .bucket(&bucket.loc.bucket)
            .key(&full)
            .send()
            .await
            .map_err(|e| map_sdk(e, "put", key, &bucket.cx()))?
    };
    let upload_id = created
        .upload_id()
        .ok_or_else(|| {
            StorageError::new(
                StorageErrorKind::Permanent,
                "put",
                key,
                "the server started a multipart upload without an id",
            )
        })?
        .to_string();
    let result = upload_parts(bucket, key, &full, &upload_id, &data).await;
    if result.is_err() {
        let _p = bucket.permit().await;
        let abort = bucket
            .client
            .abort_multipart_upload()
            .bucket(&bucket.loc.bucket)
            .key(&full)
            .upload_id(&upload_id)
            .send()
            .await;
        if let Err(e) = abort {
            tracing::warn!(key, error = %map_sdk(e, "abort", key, &bucket.cx()), "could not abort a failed multipart upload");
        }
    }
    result
}

async fn upload_parts(
    bucket: &Bucket,
    key: &str,
    full: &str,
    upload_id: &str,
    data: &Bytes,
) -> StorageResult<()> {
    let part_size = bucket.opts.part_size.max(MIN_PART_SIZE);
    let mut parts = Vec::new();
    for (i, start) in (0..data.len()).step_by(part_size).enumerate() {
        let end = (start + part_size).min(data.len());
        let number = i as i32 + 1;
        let _p = bucket.permit().await;
        let req = bucket
            .client
            .upload_part()
            .bucket(&bucket.loc.bucket)
            .key(full)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(data.slice(start..end)));
        let out = send_upload!(bucket, req).map_err(|e| map_sdk(e, "put", key, &bucket.cx()))?;
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag().map(str::to_string))
                .build(),
        );
    }
    let _p = bucket.permit().await;
    bucket
        .client
        .complete_multipart_upload()
        .bucket(&bucket.loc.bucket)
        .key(full)
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .map_err(|e| map_sdk(e, "put", key, &bucket.cx()))?;
    Ok(())
}

/// A pack being written: buffered in memory, uploaded on commit.
pub(super) struct S3Staged<'s> {
    storage: &'s S3Storage,
    buf: PackBuf,
}

impl<'s> S3Staged<'s> {
    pub fn new(storage: &'s S3Storage) -> Self {
        S3Staged {
            storage,
            buf: PackBuf::default(),
        }
    }
}

impl Staged for S3Staged<'_> {
    fn write(&mut self, data: &[u8]) -> StorageResult<()> {
        self.buf.extend(data).map_err(|e| {
            StorageError::new(
                StorageErrorKind::Permanent,
                "stage",
                "pack",
                format!("cannot map memory for a pack: {e}"),
            )
        })
    }

    fn len(&self) -> u64 {
        self.buf.len() as u64
    }

    fn commit(self: Box<Self>, key: &str) -> StorageResult<()> {
        self.commit_background(key)?.wait()
    }

    /// Waits for an upload slot (half of `connections`, at least two, hold
    /// pack bytes at once), then uploads on the runtime.
    fn commit_background(self: Box<Self>, key: &str) -> StorageResult<Pending> {
        let S3Staged { storage, buf } = *self;
        let bucket: SharedBucket = storage.bucket.clone();
        let slots = storage.upload_slots.clone();
        let permit = storage
            .runtime
            .block_on(slots.acquire_owned())
            .map_err(|_| {
                StorageError::new(StorageErrorKind::Permanent, "put", key, "storage is closed")
            })?;
        let (tx, pending) = Pending::channel();
        let key = key.to_string();
        let data = buf.freeze();
        storage.runtime.spawn(async move {
            let result = upload(&bucket, &key, data).await;
            drop(permit);
            tx.send(result);
        });
        Ok(pending)
    }
}
