//! A bucket as a source (format-spec/17-bucket.md): the objects under a
//! prefix of an S3/R2 bucket, listed once with ListObjectsV2, become a
//! tree of file nodes with their S3 metadata in `cairn.s3.*` xattrs.
//!
//! The order of work:
//! 1. [`BucketSource::open`] lists the bucket (one request per 1,000 keys),
//!    applies the selection (globs on keys, LastModified bounds) and gives
//!    every key its tree path;
//! 2. [`Source::see_parent`] compares each object with the parent
//!    snapshot's node (size, LastModified, ETag, key): an unchanged object
//!    is never fetched, and its entry carries the parent's metadata so the
//!    archiver's own test agrees and reuses its chunk list;
//! 3. the walk ([`walk`]) emits the tree depth-first with names sorted,
//!    each object as an [`Event::Deferred`], while [`fetch`] downloads the
//!    changed ones ahead of the archiver, in parallel and bounded.
//!
//! Why the parent is shown to the source before the walk: downloads must
//! run ahead of the archiver to keep connections busy, and the archiver
//! only decides an object is unchanged when it reaches it; prefetching
//! without knowing would GET every object of an unchanged bucket.

mod fetch;
mod select;
mod walk;

use std::sync::Arc;

use serde::Serialize;

use crate::error::Result;
use crate::format::object::{join_path, tree_paths, ObjectMeta};
use crate::format::tree::{Meta, Timestamp};
use crate::source::{ParentLookup, Source};
use crate::storage::s3::{ListedObject, Role, S3Bucket, S3Options};

pub use fetch::{parts_of, PART};
pub use select::Selection;

/// Requests to a source bucket in flight at once, unless set
/// (`--source-connections`): small objects need many in flight.
pub const DEFAULT_CONNECTIONS: usize = 16;

/// What a backup of the bucket will read, known before any GET: the body
/// of a dry run's report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BucketPlan {
    /// Objects selected.
    pub objects: u64,
    pub objects_new: u64,
    pub objects_changed: u64,
    pub objects_unchanged: u64,
    /// Bytes of the new and changed objects.
    pub bytes_to_download: u64,
    /// GET requests those take (one per object up to 8 MiB, one per 8 MiB
    /// range above).
    pub gets: u64,
    /// LIST requests the listing took.
    pub lists: u64,
}

/// One selected object.
struct Object {
    path: Vec<Vec<u8>>,
    listed: ListedObject,
    /// The parent's metadata when the object is unchanged since it.
    unchanged: Option<Meta>,
    /// Whether the parent had anything at this path.
    in_parent: bool,
}

/// The source. See the module header.
pub struct BucketSource {
    bucket: Arc<S3Bucket>,
    objects: Vec<Object>,
    walk: Option<walk::Walk>,
}

impl BucketSource {
    /// Lists `bucket` under its prefix and keeps the objects `selection`
    /// selects.
    pub fn open(bucket: Arc<S3Bucket>, selection: &Selection) -> Result<BucketSource> {
        let listed = bucket.list()?;
        let matcher = selection.matcher()?;
        let kept: Vec<ListedObject> = listed.into_iter().filter(|o| matcher.selects(o)).collect();
        let paths = tree_paths(kept.iter().map(|o| o.key.as_str()));
        let paths: Vec<Vec<Vec<u8>>> = paths.into_iter().map(|(_, p)| p).collect();
        let mut objects: Vec<Object> = kept
            .into_iter()
            .zip(paths)
            .map(|(listed, path)| Object {
                path,
                listed,
                unchanged: None,
                in_parent: false,
            })
            .collect();
        // Depth-first with names sorted: no object's path is a directory's
        // (tree_paths renames such objects), so path order is walk order.
        objects.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(BucketSource {
            bucket,
            objects,
            walk: None,
        })
    }

    /// Opens the bucket at `location` (`s3:…`/`r2:…`) as a source with its
    /// own options and credentials ([`Role::Source`]: from `s3` or the
    /// `CAIRN_SOURCE_*` environment), lists it and selects objects.
    pub fn open_location(location: &str, s3: &S3Options, selection: &Selection) -> Result<Self> {
        let bucket = Arc::new(S3Bucket::open(location, Role::Source, s3)?);
        Self::open(bucket, selection)
    }

    /// What the backup will read (after [`Source::see_parent`]; before it,
    /// every object counts as new).
    pub fn plan(&self) -> BucketPlan {
        let mut p = BucketPlan {
            objects: self.objects.len() as u64,
            lists: self.bucket.stats().lists,
            ..Default::default()
        };
        for o in &self.objects {
            match (&o.unchanged, o.in_parent) {
                (Some(_), _) => p.objects_unchanged += 1,
                (None, in_parent) => {
                    p.objects_new += u64::from(!in_parent);
                    p.objects_changed += u64::from(in_parent);
                    p.bytes_to_download += o.listed.size;
                    p.gets += parts_of(o.listed.size);
                }
            }
        }
        p
    }

    /// The bucket (for its request statistics).
    pub fn bucket(&self) -> &Arc<S3Bucket> {
        &self.bucket
    }
}

/// The metadata the listing alone gives an object at `path`.
fn listed_meta(listed: &ListedObject, path: &[Vec<u8>]) -> Meta {
    object_meta(listed).to_meta(&join_path(path))
}

fn object_meta(listed: &ListedObject) -> ObjectMeta {
    ObjectMeta {
        key: listed.key.clone(),
        etag: listed.etag.clone(),
        last_modified: Timestamp {
            secs: listed.last_modified.0,
            nanos: listed.last_modified.1,
        },
        ..Default::default()
    }
}

/// Is the parent's node for this object the same object: same key, size,
/// ETag and LastModified (and so the same times and inode in the node)?
fn same_object(
    listed: &ListedObject,
    path: &[Vec<u8>],
    parent: &crate::source::ParentFile,
) -> bool {
    let now = listed_meta(listed, path);
    let Some(then) = ObjectMeta::from_xattrs(&join_path(path), &parent.meta) else {
        return false;
    };
    parent.size == listed.size
        && then.key == listed.key
        && then.etag == listed.etag
        && parent.meta.mtime == now.mtime
        && parent.meta.ctime == now.ctime
        && parent.meta.inode == now.inode
}

impl Source for BucketSource {
    fn paths(&self) -> Vec<String> {
        vec![self.bucket.location().to_string()]
    }

    fn see_parent(&mut self, parent: ParentLookup) -> Result<()> {
        for o in &mut self.objects {
            let found = parent(&o.path);
            o.in_parent = found.is_some();
            o.unchanged = found
                .filter(|p| same_object(&o.listed, &o.path, p))
                .map(|p| p.meta);
        }
        Ok(())
    }
}

impl Iterator for BucketSource {
    type Item = crate::source::Event;

    fn next(&mut self) -> Option<Self::Item> {
        if self.walk.is_none() {
            let objects = std::mem::take(&mut self.objects);
            self.walk = Some(walk::Walk::start(&self.bucket, objects));
        }
        self.walk.as_mut()?.next()
    }
}
