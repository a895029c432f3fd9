//! How an object of a bucket snapshot is recorded (format-spec/17-bucket.md):
//! a plain `File` node whose path is the key split on `/`, whose mtime and
//! ctime are the object's LastModified, and whose S3 metadata rides in
//! xattrs of the reserved `cairn.s3.` namespace (no Linux filesystem
//! accepts an xattr outside `user.`, `trusted.`, `security.`, `system.`, so
//! no file can carry one). No new node kind, no format version bump.
//!
//! Keys are arbitrary UTF-8; tree names must be safe (`tree::is_safe_name`).
//! A key segment that is not (empty, `.`, `..`, with NUL) or that starts
//! with the escape mark `%` is escaped; an object whose name equals a
//! "directory" beside it (`a` and `a/b`) gets its own suffix. Whenever the
//! tree path does not spell the key, `cairn.s3.key` holds it exactly.

use std::collections::BTreeMap;

use crate::format::tree::{Meta, Node, Timestamp, Xattr};

/// The reserved xattr namespace of bucket objects.
pub const XATTR_PREFIX: &str = "cairn.s3.";
pub const XATTR_ETAG: &str = "cairn.s3.etag";
pub const XATTR_KEY: &str = "cairn.s3.key";
pub const XATTR_CONTENT_TYPE: &str = "cairn.s3.content-type";
pub const XATTR_CACHE_CONTROL: &str = "cairn.s3.cache-control";
pub const XATTR_CONTENT_ENCODING: &str = "cairn.s3.content-encoding";
pub const XATTR_CONTENT_DISPOSITION: &str = "cairn.s3.content-disposition";
pub const XATTR_CONTENT_LANGUAGE: &str = "cairn.s3.content-language";
/// User metadata (`x-amz-meta-NAME`) is `cairn.s3.meta.NAME`.
pub const XATTR_META_PREFIX: &str = "cairn.s3.meta.";

/// The mode every object gets: a regular file, rw-r--r--.
pub const OBJECT_MODE: u32 = 0o100644;

/// Marks an escaped tree name; never the first byte of a literal one.
const ESCAPE: u8 = b'%';

/// What a bucket snapshot keeps of one object besides its body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The key relative to the backed-up prefix, exactly.
    pub key: String,
    /// Opaque, quotes included as the server sent it; never interpreted
    /// (multipart ETags are not MD5s).
    pub etag: String,
    pub last_modified: Timestamp,
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    /// `x-amz-meta-*` without the prefix, names lower-cased as S3 returns them.
    pub user: BTreeMap<String, String>,
}

impl ObjectMeta {
    /// The xattrs for a node at `tree_path` (escaped segments joined by
    /// `/`), sorted by name: `cairn.s3.key` only when the path does not
    /// spell the key.
    pub fn to_xattrs(&self, tree_path: &[u8]) -> Vec<Xattr> {
        let mut out = Vec::new();
        let mut put = |name: &str, value: &str| {
            out.push(Xattr {
                name: name.as_bytes().to_vec(),
                value: value.as_bytes().to_vec(),
            })
        };
        put(XATTR_ETAG, &self.etag);
        if tree_path != self.key.as_bytes() {
            put(XATTR_KEY, &self.key);
        }
        let optional = [
            (XATTR_CONTENT_TYPE, &self.content_type),
            (XATTR_CACHE_CONTROL, &self.cache_control),
            (XATTR_CONTENT_ENCODING, &self.content_encoding),
            (XATTR_CONTENT_DISPOSITION, &self.content_disposition),
            (XATTR_CONTENT_LANGUAGE, &self.content_language),
        ];
        for (name, value) in optional {
            if let Some(v) = value {
                put(name, v);
            }
        }
        for (k, v) in &self.user {
            put(&format!("{XATTR_META_PREFIX}{k}"), v);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The node metadata of this object at `tree_path`: a regular file,
    /// mode 0644, owner 0, mtime = ctime = LastModified, no inode (every
    /// object has inode 0, so change detection rests on size, times and
    /// the xattrs, the ETag among them).
    pub fn to_meta(&self, tree_path: &[u8]) -> Meta {
        Meta {
            mode: OBJECT_MODE,
            mtime: self.last_modified,
            ctime: self.last_modified,
            links: 1,
            xattrs: self.to_xattrs(tree_path),
            ..Meta::default()
        }
    }

    /// Reads an object's metadata back from a node at `tree_path` (segments
    /// joined by `/`, relative to the snapshot's root); `None` when the node
    /// is not an object of a bucket snapshot (see [`is_object`]).
    pub fn from_node(tree_path: &[u8], node: &Node) -> Option<ObjectMeta> {
        Self::from_xattrs(tree_path, &node.meta)
    }

    /// [`ObjectMeta::from_node`] from the metadata alone.
    pub fn from_xattrs(tree_path: &[u8], meta: &Meta) -> Option<ObjectMeta> {
        let text = |x: &Xattr| String::from_utf8_lossy(&x.value).into_owned();
        let mut m = ObjectMeta {
            last_modified: meta.mtime,
            ..Default::default()
        };
        let mut key = None;
        let mut etag = None;
        for x in &meta.xattrs {
            let Ok(name) = std::str::from_utf8(&x.name) else {
                continue;
            };
            match name {
                XATTR_ETAG => etag = Some(text(x)),
                XATTR_KEY => key = Some(text(x)),
                XATTR_CONTENT_TYPE => m.content_type = Some(text(x)),
                XATTR_CACHE_CONTROL => m.cache_control = Some(text(x)),
                XATTR_CONTENT_ENCODING => m.content_encoding = Some(text(x)),
                XATTR_CONTENT_DISPOSITION => m.content_disposition = Some(text(x)),
                XATTR_CONTENT_LANGUAGE => m.content_language = Some(text(x)),
                _ => {
                    if let Some(user) = name.strip_prefix(XATTR_META_PREFIX) {
                        m.user.insert(user.to_string(), text(x));
                    }
                }
            }
        }
        m.etag = etag?;
        m.key = key.unwrap_or_else(|| String::from_utf8_lossy(tree_path).into_owned());
        Some(m)
    }
}

/// Is this node an object of a bucket snapshot? (A file node carrying the
/// reserved `cairn.s3.etag` xattr, which no filesystem file can have.)
pub fn is_object(node: &Node) -> bool {
    node.kind.file_content().is_some()
        && node
            .meta
            .xattrs
            .iter()
            .any(|x| x.name == XATTR_ETAG.as_bytes())
}

/// Is this xattr name in the reserved namespace? Restoring to a directory
/// skips these: they are S3 metadata, not filesystem attributes.
pub fn is_reserved_xattr(name: &[u8]) -> bool {
    name.starts_with(b"cairn.")
}

/// The tree name of one key segment: itself when safe and not starting
/// with `%`, else `%` followed by [`escape`]`(segment)`. Injective: literal
/// names never start with `%`, and after the mark every `%` is followed by
/// two hex digits.
pub fn segment_name(segment: &str) -> Vec<u8> {
    let b = segment.as_bytes();
    let literal = !b.is_empty() && b != b"." && b != b".." && !b.contains(&0) && b[0] != ESCAPE;
    if literal {
        return b.to_vec();
    }
    [vec![ESCAPE], escape(b)].concat()
}

/// `b` with every `%` written `%25` and NUL `%00`.
fn escape(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    for &c in b {
        match c {
            b'%' => out.extend_from_slice(b"%25"),
            0 => out.extend_from_slice(b"%00"),
            c => out.push(c),
        }
    }
    out
}

/// The name of an object whose own name (`segment_name`) is also the name
/// of a directory beside it (keys `a` and `a/b`): always `%` +
/// [`escape`]`(segment)` + `%` (`a` becomes `%a%`). Its final `%` is bare,
/// which no escaped name has, and the escape is injective, so no two
/// segments share this name nor take one of [`segment_name`]'s.
pub fn beside_dir_name(segment: &str) -> Vec<u8> {
    [vec![ESCAPE], escape(segment.as_bytes()), vec![ESCAPE]].concat()
}

/// A key's tree path: one name per `/`-separated segment, each from
/// [`segment_name`] (the last may still need [`beside_dir_name`], which
/// depends on the other keys).
pub fn key_to_path(key: &str) -> Vec<Vec<u8>> {
    key.split('/').map(segment_name).collect()
}

/// Builds the tree paths of a set of keys: [`key_to_path`], with objects
/// that collide with a directory renamed by [`beside_dir_name`]. Keys are
/// returned with their paths, in input order.
pub fn tree_paths<'k>(keys: impl IntoIterator<Item = &'k str>) -> Vec<(&'k str, Vec<Vec<u8>>)> {
    let all: Vec<(&str, Vec<Vec<u8>>)> = keys.into_iter().map(|k| (k, key_to_path(k))).collect();
    // Every directory path some key passes through.
    let dirs: std::collections::HashSet<&[Vec<u8>]> = all
        .iter()
        .flat_map(|(_, p)| (1..p.len()).map(move |n| &p[..n]))
        .collect();
    let clash: Vec<bool> = all
        .iter()
        .map(|(_, p)| dirs.contains(p.as_slice()))
        .collect();
    all.into_iter()
        .zip(clash)
        .map(|((key, mut path), clash)| {
            if clash {
                let last = key.rsplit('/').next().unwrap_or("");
                if let Some(name) = path.last_mut() {
                    *name = beside_dir_name(last);
                }
            }
            (key, path)
        })
        .collect()
}

/// The tree path joined with `/`, as [`ObjectMeta::to_xattrs`] takes it.
pub fn join_path(path: &[Vec<u8>]) -> Vec<u8> {
    path.join(&b'/')
}

#[cfg(test)]
#[path = "object_tests.rs"]
mod tests;
