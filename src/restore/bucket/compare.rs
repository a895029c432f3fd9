//! Does an object in the target bucket hold exactly a snapshot's content?
//! The body is streamed, cut where the snapshot's chunks end (their sizes
//! are in the index), and each piece's keyed BLAKE3 is compared with the
//! chunk's id: no repository data is read, and a large object is never
//! held whole in memory. `--verify` and `--overwrite if-changed` use it.
//! The object's HTTP metadata must match too: a restore that left an old
//! Content-Type or user metadata behind has not restored the object.

use crate::error::{Error, Result};
use crate::format::index::BlobKind;
use crate::ids::BlobId;
use crate::repo::Repository;
use crate::storage::s3::{ObjectHeaders, S3Bucket};

use super::plan::PlannedObject;

/// Why the object's HTTP metadata differs from the snapshot's, or `None`.
/// A header the snapshot does not have is not compared (servers fill in a
/// default Content-Type); user metadata must be exactly the same.
pub fn headers_differ(want: &ObjectHeaders, have: &ObjectHeaders) -> Option<String> {
    let fields = [
        ("Content-Type", &want.content_type, &have.content_type),
        ("Cache-Control", &want.cache_control, &have.cache_control),
        (
            "Content-Encoding",
            &want.content_encoding,
            &have.content_encoding,
        ),
        (
            "Content-Disposition",
            &want.content_disposition,
            &have.content_disposition,
        ),
        (
            "Content-Language",
            &want.content_language,
            &have.content_language,
        ),
    ];
    for (name, w, h) in fields {
        if w.is_some() && w != h {
            return Some(format!("its {name} is {h:?}, the snapshot has {w:?}"));
        }
    }
    (want.user != have.user).then(|| "its user metadata (x-amz-meta-*) differs".to_string())
}

/// Why the object `o` names does not match, or `None` when it does.
pub fn mismatch(repo: &Repository, bucket: &S3Bucket, o: &PlannedObject) -> Result<Option<String>> {
    let (key, content, size) = (o.key.as_str(), &o.content[..], o.size);
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
        if let Some(why) = headers_differ(&o.headers, &head.headers) {
            return Ok(Some(why));
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
