//! What the user asked to leave out: gitignore-style globs (from options and
//! exclude files) matched against absolute paths, and marker files that
//! exclude the directory holding them. Nothing is excluded by default:
//! hidden files and `.gitignore`d files are backed up like any other.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::error::{Error, Result};
use crate::format::tree::is_safe_name;

/// Compiled exclude rules.
#[derive(Debug)]
pub(super) struct Excludes {
    /// Rooted at `/`: a pattern starting with `/` is anchored there, one
    /// without a slash matches a name at any depth.
    globs: Gitignore,
    /// Sorted by bytes, so a sorted listing can be checked by binary search.
    markers: Vec<OsString>,
}

fn glob_error(err: ignore::Error) -> Error {
    Error::Usage(format!("bad exclude pattern: {err}"))
}

impl Excludes {
    /// Compiles `patterns`, the patterns in each of `files` (one per line,
    /// `#` comments and blank lines ignored) and the marker names.
    pub(super) fn new(patterns: &[String], files: &[PathBuf], markers: &[String]) -> Result<Self> {
        let mut builder = GitignoreBuilder::new("/");
        for pattern in patterns {
            builder.add_line(None, pattern).map_err(glob_error)?;
        }
        for file in files {
            let text =
                std::fs::read_to_string(file).map_err(|e| Error::file("exclude file", file, e))?;
            for line in text.lines().map(str::trim) {
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                builder
                    .add_line(Some(file.clone()), line)
                    .map_err(glob_error)?;
            }
        }
        let globs = builder.build().map_err(glob_error)?;
        let mut marker_names = Vec::with_capacity(markers.len());
        for marker in markers {
            if !is_safe_name(marker.as_bytes()) {
                return Err(Error::Usage(format!(
                    "exclude-if-present needs a plain file name, not {marker:?}"
                )));
            }
            marker_names.push(OsString::from(marker));
        }
        marker_names.sort_unstable_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
        marker_names.dedup();
        Ok(Excludes {
            globs,
            markers: marker_names,
        })
    }

    /// Is the entry at absolute `path` excluded by a glob? Its parents are
    /// not consulted: the walk never descends into an excluded directory.
    pub(super) fn excludes(&self, path: &Path, is_dir: bool) -> bool {
        self.globs.matched(path, is_dir).is_ignore()
    }

    /// Like [`Excludes::excludes`], for a path the user gave, whose
    /// ancestors were not walked and so are checked here.
    pub(super) fn excludes_target(&self, path: &Path, is_dir: bool) -> bool {
        if self.globs.is_empty() || path == Path::new("/") {
            return false;
        }
        self.globs
            .matched_path_or_any_parents(path, is_dir)
            .is_ignore()
    }

    /// Does a directory with this listing (sorted by bytes) hold a marker?
    pub(super) fn has_marker(&self, sorted: &[std::fs::DirEntry]) -> bool {
        self.markers.iter().any(|m| {
            sorted
                .binary_search_by(|e| e.file_name().as_encoded_bytes().cmp(m.as_encoded_bytes()))
                .is_ok()
        })
    }
}
