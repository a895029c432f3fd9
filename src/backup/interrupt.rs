//! What an interrupted backup leaves and says: no snapshot, but every pack
//! whose upload finished is indexed, so the next backup deduplicates
//! against it instead of uploading it again.

use crate::error::Error;
use crate::repo::BlobWriter;

/// Abandons `writer` after the archiver stopped on request: finishes the
/// uploads under way, indexes them and discards the rest.
pub(super) fn abandon(writer: BlobWriter<'_>) -> Error {
    match writer.abandon() {
        Ok(indexed) => nothing_recorded(indexed),
        Err(e) => Error::Interrupted(format!(
            "nothing recorded; indexing what was uploaded failed: {e}"
        )),
    }
}

/// The error of a backup stopped before its snapshot was written, with
/// the bytes of the packs it indexed.
pub(super) fn nothing_recorded(indexed: u64) -> Error {
    Error::Interrupted(format!(
        "nothing recorded; the next backup reuses {} already uploaded",
        mib(indexed)
    ))
}

/// `43 MiB`, or `0.3 MiB` for small amounts (so a partial pack is not "0").
fn mib(bytes: u64) -> String {
    let m = bytes as f64 / (1024.0 * 1024.0);
    if m < 10.0 {
        format!("{m:.1} MiB")
    } else {
        format!("{} MiB", m.round() as u64)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn mib_rounds_readably() {
        assert_eq!(super::mib(0), "0.0 MiB");
        assert_eq!(super::mib(300 * 1024), "0.3 MiB");
        assert_eq!(super::mib(43 * 1024 * 1024 + 1), "43 MiB");
    }
}
