//! Trust, but verify, the answer to a conditional (ranged) GET.
//!
//! A store that ignores `If-Match` would hand over an object replaced
//! since the listing, whose body would then be stored under the old ETag
//! and LastModified (same size) or, for a large object read in ranges,
//! mixed from two versions. A store that ignores `Range` would hand over
//! the whole object as if it were one part. So the response's ETag must be
//! the one asked for, and a part must be the range asked for.

use crate::storage::{StorageError, StorageErrorKind, StorageResult};

/// Checks a GET's response headers against what was asked: `if_match`
/// (compared with the response's ETag, when it sent one) and `range` =
/// (offset, length) (compared with its length and Content-Range start).
/// An ETag that differs is [`super::objects::changed_since_listed`].
pub fn check_response(
    key: &str,
    (range, if_match): (Option<(u64, u64)>, Option<&str>),
    etag: &str,
    length: u64,
    content_range: Option<&str>,
) -> StorageResult<()> {
    if let Some(want) = if_match {
        if !etag.is_empty() && bare(etag) != bare(want) {
            return Err(super::objects::changed_since_listed(key));
        }
    }
    let Some((offset, len)) = range.filter(|r| r.1 > 0) else {
        return Ok(());
    };
    let start = content_range.map(range_start);
    if length != len || start.is_some_and(|s| s != Some(offset)) {
        return Err(StorageError::new(
            StorageErrorKind::Permanent,
            "get",
            key,
            format!(
                "asked for {len} bytes at {offset}, the server answered {length} bytes (Content-Range {})",
                content_range.unwrap_or("absent")
            ),
        ));
    }
    Ok(())
}

/// An ETag without its quotes and weak mark (`W/"x"` and `x` are `x`).
fn bare(etag: &str) -> &str {
    etag.trim_start_matches("W/").trim_matches('"')
}

/// The first byte of `bytes START-END/TOTAL`, if it says one.
fn range_start(content_range: &str) -> Option<u64> {
    let spec = content_range.trim().strip_prefix("bytes")?.trim_start();
    spec.split('-').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: &str = "\"0123abcd\"";

    #[test]
    fn a_different_etag_is_a_changed_object() {
        let ok = check_response("k", (None, Some(TAG)), TAG, 5, None);
        assert!(ok.is_ok());
        assert!(check_response("k", (None, Some(TAG)), "0123abcd", 5, None).is_ok());
        let err = check_response("k", (None, Some(TAG)), "\"ffff\"", 5, None).unwrap_err();
        assert_eq!(
            err.message,
            super::super::objects::changed_since_listed("k").message
        );
        // Unconditional reads are not compared.
        assert!(check_response("k", (None, None), "\"ffff\"", 5, None).is_ok());
    }

    #[test]
    fn a_part_must_be_the_range_asked_for() {
        let part = Some((8, 4));
        let cr = Some("bytes 8-11/20");
        assert!(check_response("k", (part, Some(TAG)), TAG, 4, cr).is_ok());
        assert!(check_response("k", (part, Some(TAG)), TAG, 4, None).is_ok());
        // The whole object instead of the part (Range ignored).
        assert!(check_response("k", (part, Some(TAG)), TAG, 20, None).is_err());
        // A shorter part (the object shrank), or another offset.
        assert!(check_response("k", (part, Some(TAG)), TAG, 3, cr).is_err());
        let moved = Some("bytes 0-3/20");
        assert!(check_response("k", (part, Some(TAG)), TAG, 4, moved).is_err());
        // ETag checked on parts too.
        assert!(check_response("k", (part, Some(TAG)), "\"x\"", 4, cr).is_err());
    }
}
