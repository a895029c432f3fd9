//! Which objects a bucket restore writes, under which keys, with which
//! HTTP metadata: the directory restore's selection ([`crate::restore::plan`]),
//! then one key per selected file.
//!
//! A bucket snapshot's object keeps its exact key (`cairn.s3.key` when the
//! tree path does not spell it, format-spec/17-bucket.md); below
//! `SNAP:prefix` the key loses that prefix's segments. A file of a
//! directory snapshot is written under its path relative to the restore's
//! start (keys must be UTF-8: other names are refused and reported). A key
//! with a `.` or `..` segment is refused and reported too (see
//! [`dot_segment`]).

use std::os::unix::ffi::OsStrExt;

use crate::error::Result;
use crate::explore::resolve;
use crate::format::object::ObjectMeta;
use crate::format::tree::NodeKind;
use crate::ids::{ChunkId, TreeId};
use crate::repo::Repository;
use crate::restore::plan::plan_for;
use crate::restore::Selection;
use crate::storage::s3::ObjectHeaders;

/// One object to write.
#[derive(Debug, Clone)]
pub struct PlannedObject {
    /// Relative to the target's prefix.
    pub key: String,
    pub size: u64,
    pub content: Vec<ChunkId>,
    pub headers: ObjectHeaders,
    /// The source's ETag, for a bucket snapshot's object.
    pub etag: Option<String>,
}

/// Everything a bucket restore writes.
#[derive(Debug, Default)]
pub struct BucketPlan {
    pub objects: Vec<PlannedObject>,
    /// Selected files that cannot be objects: (snapshot path, why).
    pub refused: Vec<(String, String)>,
    pub total_bytes: u64,
}

/// Plans restoring `root` (below `sel.sub_path`) into a bucket.
pub fn plan_objects(repo: &Repository, root: TreeId, sel: &Selection) -> Result<BucketPlan> {
    let start = start_segments(repo, root, sel.sub_path.as_deref())?;
    let files = plan_for(repo, root, sel, false)?.files;
    let mut out = BucketPlan::default();
    for f in files {
        let rel = f.path.as_os_str().as_bytes();
        let mut tree_path = start.join(&b'/');
        if !tree_path.is_empty() {
            tree_path.push(b'/');
        }
        tree_path.extend_from_slice(rel);
        let (key, headers, etag) = match ObjectMeta::from_xattrs(&tree_path, &f.meta) {
            Some(m) => match strip_segments(&m.key, start.len()) {
                Some(key) => (key.to_string(), headers(&m), Some(m.etag.clone())),
                None => {
                    let why = format!("its key {:?} is not below the restored prefix", m.key);
                    out.refused.push((lossy(&tree_path), why));
                    continue;
                }
            },
            None => match std::str::from_utf8(rel) {
                Ok(k) => (k.to_string(), ObjectHeaders::default(), None),
                Err(_) => {
                    let why = "its name is not UTF-8, which an object key must be".to_string();
                    out.refused.push((lossy(&tree_path), why));
                    continue;
                }
            },
        };
        if let Some(why) = dot_segment(&key) {
            out.refused.push((lossy(&tree_path), why));
            continue;
        }
        out.total_bytes += f.size;
        out.objects.push(PlannedObject {
            key,
            size: f.size,
            content: f.content,
            headers,
            etag,
        });
    }
    Ok(out)
}

/// Why `key` cannot be written: a `.` or `..` segment, which stores that
/// normalise paths resolve, so `PREFIX/` + `a/../x` would land at `x`,
/// outside the target's prefix (and replace a foreign object there with
/// `--overwrite always`). Refused with or without a prefix, as the
/// directory restore refuses such keys.
fn dot_segment(key: &str) -> Option<String> {
    key.split('/')
        .any(|s| s == "." || s == "..")
        .then(|| format!("its key {key:?} has a . or .. segment, which a store may resolve outside the target's prefix"))
}

fn lossy(b: &[u8]) -> String {
    format!("/{}", String::from_utf8_lossy(b))
}

/// The tree names from the root to where the restore starts: the sub-path's
/// directory, or the directory holding the file it names.
fn start_segments(repo: &Repository, root: TreeId, sub: Option<&str>) -> Result<Vec<Vec<u8>>> {
    let Some(sub) = sub else {
        return Ok(Vec::new());
    };
    let (path, node) = resolve(repo, root, sub)?;
    let mut parts: Vec<Vec<u8>> = path
        .as_os_str()
        .as_bytes()
        .split(|&c| c == b'/')
        .filter(|p| !p.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    if !matches!(node.kind, NodeKind::Dir { .. }) {
        parts.pop();
    }
    Ok(parts)
}

/// `key` without its first `n` `/`-separated segments (each tree name is
/// one key segment, escaped or not).
fn strip_segments(key: &str, n: usize) -> Option<&str> {
    if n == 0 {
        return Some(key);
    }
    key.splitn(n + 1, '/').nth(n)
}

/// The HTTP metadata a snapshot kept for an object, as it is written back.
fn headers(m: &ObjectMeta) -> ObjectHeaders {
    ObjectHeaders {
        content_type: m.content_type.clone(),
        cache_control: m.cache_control.clone(),
        content_encoding: m.content_encoding.clone(),
        content_disposition: m.content_disposition.clone(),
        content_language: m.content_language.clone(),
        user: m.user.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::{dot_segment, strip_segments};

    #[test]
    fn keys_with_dot_segments_are_refused() {
        for key in ["a/../x", "..", "../x", "a/.", "./a", "a/./b", "a/.."] {
            assert!(dot_segment(key).is_some(), "{key} accepted");
        }
        for key in ["a..b/x", ".hidden", "a/...", "a//b", "/x", "..a/b.", "x"] {
            assert_eq!(dot_segment(key), None, "{key} refused");
        }
    }

    #[test]
    fn strips_whole_segments_even_empty_ones() {
        assert_eq!(strip_segments("a/b/c", 0), Some("a/b/c"));
        assert_eq!(strip_segments("a/b/c", 1), Some("b/c"));
        assert_eq!(strip_segments("a//c", 2), Some("c"));
        assert_eq!(strip_segments("/x", 1), Some("x"));
        assert_eq!(strip_segments("a", 1), None);
    }
}
