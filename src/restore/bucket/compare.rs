//! Does an object in the target bucket hold exactly a snapshot's content?
//! The body is streamed, cut where the snapshot's chunks end (their sizes
//! are in the index), and each piece's keyed BLAKE3 is compared with the
//! chunk's id: no repository data is read, and a large object is never
//! held whole in memory. `--verify` and `--overwrite if-changed` use it.

use crate::error::{Error, Result};
use crate::format::index::BlobKind;
use crate::ids::{BlobId, ChunkId};
use crate::repo::Repository;
use crate::storage::s3::S3Bucket;

/// Why an object does not match, or `None` when it does.
pub fn mismatch(
    repo: &Repository,
    bucket: &S3Bucket,
    key: &str,
    content: &[ChunkId],
    size: u64,
) -> Result<Option<String>> {
    let mut sizes = Vec::with_capacity(content.len());
    for c in content {
        let loc = repo
            .locate(BlobKind::Data, &BlobId::from(*c))?
            .ok_or_else(|| Error::corrupt("repository", format!("chunk {c} is in no index")))?;
        sizes.push(loc.raw_length as usize);
    }
    bucket.block_on(async {
        let (head, mut body) = match bucket.get(key, None, None).await {
            Ok(got) => got,
            Err(e) if e.is_not_found() => return Ok(Some("the object is missing".into())),
            Err(e) => return Err(bucket.error(e)),
        };
        if head.length != size {
            return Ok(Some(format!(
                "{} bytes, the snapshot has {size}",
                head.length
            )));
        }
        let mut piece = Vec::new();
        let mut next = 0;
        while let Some(bytes) = body.next(key).await {
            let mut bytes = &bytes.map_err(|e| bucket.error(e))?[..];
            while !bytes.is_empty() {
                let Some(&want) = sizes.get(next) else {
                    return Ok(Some("longer than the snapshot's content".into()));
                };
                let take = (want - piece.len()).min(bytes.len());
                piece.extend_from_slice(&bytes[..take]);
                bytes = &bytes[take..];
                if piece.len() == want {
                    if repo.keys().blob_id(&piece) != content[next].0 {
                        return Ok(Some(format!(
                            "its content differs from the snapshot's (chunk {} of {})",
                            next + 1,
                            content.len()
                        )));
                    }
                    piece.clear();
                    next += 1;
                }
            }
        }
        if next != content.len() {
            return Ok(Some("shorter than the snapshot's content".into()));
        }
        Ok(None)
    })
}
