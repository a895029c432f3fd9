//! Which objects of a bucket a backup takes: globs on keys (relative to
//! the backed-up prefix) and bounds on LastModified.

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::error::{Error, Result};
use crate::format::tree::Timestamp;
use crate::storage::s3::ListedObject;

/// The selection as the user gave it.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Keep only keys matching one of these (none: every key). `*` also
    /// matches `/`, so `*.jpg` selects by extension at any depth.
    pub include: Vec<String>,
    /// Leave out keys matching one of these.
    pub exclude: Vec<String>,
    /// Only objects last modified at or after this time.
    pub newer_than: Option<Timestamp>,
    /// Only objects last modified before this time.
    pub older_than: Option<Timestamp>,
}

/// A compiled [`Selection`].
pub(super) struct Matcher {
    include: Option<GlobSet>,
    exclude: GlobSet,
    newer_than: Option<Timestamp>,
    older_than: Option<Timestamp>,
}

impl Selection {
    pub(super) fn matcher(&self) -> Result<Matcher> {
        Ok(Matcher {
            include: (!self.include.is_empty())
                .then(|| globs(&self.include, "--include"))
                .transpose()?,
            exclude: globs(&self.exclude, "--exclude")?,
            newer_than: self.newer_than,
            older_than: self.older_than,
        })
    }
}

fn globs(patterns: &[String], flag: &str) -> Result<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let g = Glob::new(p).map_err(|e| Error::Usage(format!("{flag} {p:?}: {e}")))?;
        b.add(g);
    }
    b.build().map_err(|e| Error::Usage(format!("{flag}: {e}")))
}

impl Matcher {
    pub(super) fn selects(&self, o: &ListedObject) -> bool {
        let t = Timestamp {
            secs: o.last_modified.0,
            nanos: o.last_modified.1,
        };
        self.include.as_ref().is_none_or(|g| g.is_match(&o.key))
            && !self.exclude.is_match(&o.key)
            && self.newer_than.is_none_or(|n| t >= n)
            && self.older_than.is_none_or(|n| t < n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(key: &str, secs: i64) -> ListedObject {
        ListedObject {
            key: key.into(),
            size: 1,
            etag: String::new(),
            last_modified: (secs, 0),
        }
    }

    #[test]
    fn globs_and_times_select() {
        let s = Selection {
            include: vec!["images/**".into(), "*.jpg".into()],
            exclude: vec!["**/tmp/**".into()],
            newer_than: Some(Timestamp {
                secs: 100,
                nanos: 0,
            }),
            older_than: Some(Timestamp {
                secs: 200,
                nanos: 0,
            }),
        };
        let m = s.matcher().unwrap();
        assert!(m.selects(&obj("images/a.png", 150)));
        assert!(m.selects(&obj("deep/x/y.jpg", 100)));
        assert!(!m.selects(&obj("docs/a.txt", 150)), "not included");
        assert!(!m.selects(&obj("images/tmp/a.png", 150)), "excluded");
        assert!(!m.selects(&obj("images/a.png", 99)), "too old");
        assert!(!m.selects(&obj("images/a.png", 200)), "too new");
        let bad = Selection {
            include: vec!["a[".into()],
            ..Default::default()
        };
        assert!(bad.matcher().is_err());
    }
}
