//! Writing one object from the repository: chunks are read (and verified)
//! one at a time; an object up to [`SINGLE_PUT_MAX`] goes in one PUT, a
//! larger one in parts of at least [`PART_SIZE`], so a worker holds at most
//! one part plus one chunk, whatever the object's size.

use bytes::{Bytes, BytesMut};

use crate::format::index::BlobKind;
use crate::ids::BlobId;
use crate::repo::Repository;
use crate::storage::s3::{PutOutcome, S3Bucket};

use super::plan::PlannedObject;

/// Objects up to this size are sent with one PUT.
pub const SINGLE_PUT_MAX: u64 = 16 * 1024 * 1024;
/// The smallest part of a multipart upload; grown for huge objects so no
/// upload needs more than S3's 10,000 parts.
pub const PART_SIZE: u64 = 8 * 1024 * 1024;

/// Why an upload failed: the repository's data (damaged or missing) or
/// the target.
pub enum UploadError {
    Repository(crate::Error),
    Target(crate::Error),
}

impl From<UploadError> for crate::Error {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::Repository(e) | UploadError::Target(e) => e,
        }
    }
}

/// Writes `obj`; with `if_absent`, only when no object has its key.
pub fn upload(
    repo: &Repository,
    bucket: &S3Bucket,
    obj: &PlannedObject,
    if_absent: bool,
) -> std::result::Result<PutOutcome, UploadError> {
    if obj.size <= SINGLE_PUT_MAX {
        let mut body = BytesMut::with_capacity(obj.size as usize);
        for c in &obj.content {
            body.extend_from_slice(&read_chunk(repo, c)?);
        }
        return bucket
            .block_on(bucket.put_object(&obj.key, body.freeze(), &obj.headers, if_absent))
            .map_err(|e| UploadError::Target(bucket.error(e)));
    }
    let part_size = PART_SIZE.max(obj.size.div_ceil(9_000)) as usize;
    let target = |e| UploadError::Target(bucket.error(e));
    let mut mp = bucket
        .block_on(bucket.start_multipart(&obj.key, &obj.headers))
        .map_err(target)?;
    let mut part = BytesMut::with_capacity(part_size);
    let sent = (|| {
        for c in &obj.content {
            part.extend_from_slice(&read_chunk(repo, c)?);
            while part.len() >= part_size {
                let body = part.split_to(part_size).freeze();
                bucket.block_on(mp.part(bucket, body)).map_err(target)?;
            }
        }
        if !part.is_empty() {
            let body: Bytes = part.split().freeze();
            bucket.block_on(mp.part(bucket, body)).map_err(target)?;
        }
        Ok(())
    })();
    match sent {
        Ok(()) => bucket
            .block_on(mp.complete(bucket, if_absent))
            .map_err(target),
        Err(e) => {
            bucket.block_on(mp.abort(bucket));
            Err(e)
        }
    }
}

fn read_chunk(
    repo: &Repository,
    c: &crate::ids::ChunkId,
) -> std::result::Result<Vec<u8>, UploadError> {
    repo.read_blob(BlobKind::Data, &BlobId::from(*c))
        .map_err(UploadError::Repository)
}
