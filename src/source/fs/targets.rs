//! The paths the user asked for, made absolute and arranged as a tree of
//! path components rooted at `/`. The walk recreates the ancestors of each
//! path from this tree, so a snapshot of `/home/a/docs` restores to the same
//! place and shares `home` with a snapshot of `/home/b`.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// One path component. Children are keyed by byte-exact name, so iterating
/// the map yields them in the order trees require.
#[derive(Debug, Default)]
pub(super) struct TargetNode {
    /// This path was given: back up everything below it; `children` is empty.
    pub included: bool,
    /// Only on ancestors of given paths.
    pub children: BTreeMap<Vec<u8>, TargetNode>,
}

impl TargetNode {
    /// Adds an absolute, normalised path. A path at or below an included one
    /// adds nothing; an included path swallows any descendants added before.
    fn insert(&mut self, path: &Path) {
        let mut node = self;
        for comp in path.components() {
            if node.included {
                return;
            }
            if let Component::Normal(name) = comp {
                node = node.children.entry(name.as_bytes().to_vec()).or_default();
            }
        }
        node.included = true;
        node.children.clear();
    }

    /// The included paths below `prefix`, depth-first.
    fn collect(&self, prefix: &Path, out: &mut Vec<PathBuf>) {
        if self.included {
            out.push(prefix.to_path_buf());
        }
        for (name, child) in &self.children {
            child.collect(&prefix.join(std::ffi::OsStr::from_bytes(name)), out);
        }
    }
}

/// Missing paths are the user's mistake (exit code for usage), anything else
/// (a permission problem on a parent) is reported as local I/O.
fn resolve_error(path: &Path, err: io::Error) -> Error {
    match err.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => {
            Error::Usage(format!("{}: no such file or directory", path.display()))
        }
        _ => Error::io(path, err),
    }
}

/// Makes `path` absolute against `cwd`, canonicalising its parent directories
/// but not a final symlink (backing up a link backs up the link), and checks
/// that it exists.
pub(super) fn absolutize(path: &Path, cwd: &Path) -> Result<PathBuf> {
    let abs = cwd.join(path);
    let resolved = match (abs.components().next_back(), abs.parent()) {
        (Some(Component::Normal(name)), Some(parent)) => std::fs::canonicalize(parent)
            .map_err(|e| resolve_error(path, e))?
            .join(name),
        // `/`, or a path ending in `..`: no final symlink to preserve.
        _ => std::fs::canonicalize(&abs).map_err(|e| resolve_error(path, e))?,
    };
    std::fs::symlink_metadata(&resolved).map_err(|e| resolve_error(path, e))?;
    Ok(resolved)
}

/// The given paths as a component tree, plus the effective absolute paths
/// (duplicates and paths nested in other given paths dropped), depth-first.
pub(super) fn build(paths: &[PathBuf]) -> Result<(TargetNode, Vec<PathBuf>)> {
    if paths.is_empty() {
        return Err(Error::Usage("no paths to back up".into()));
    }
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let mut root = TargetNode::default();
    for path in paths {
        root.insert(&absolutize(path, &cwd)?);
    }
    let mut effective = Vec::new();
    root.collect(Path::new("/"), &mut effective);
    Ok((root, effective))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(paths: &[&str]) -> Vec<PathBuf> {
        let mut root = TargetNode::default();
        for p in paths {
            root.insert(Path::new(p));
        }
        let mut out = Vec::new();
        root.collect(Path::new("/"), &mut out);
        out
    }

    #[test]
    fn nested_and_duplicate_paths_are_dropped() {
        let got = tree(&["/home/a/docs", "/etc", "/home/a", "/etc", "/home/ab"]);
        let want: Vec<PathBuf> = ["/etc", "/home/a", "/home/ab"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn root_swallows_everything() {
        assert_eq!(tree(&["/x/y", "/", "/z"]), vec![PathBuf::from("/")]);
    }

    #[test]
    fn final_symlink_is_kept_and_dots_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(base.join("real")).unwrap();
        std::os::unix::fs::symlink("real", base.join("link")).unwrap();
        let got = absolutize(Path::new("link"), &base).unwrap();
        assert_eq!(got, base.join("link"));
        let got = absolutize(Path::new("link/./"), &base).unwrap();
        assert_eq!(got, base.join("link"));
        let got = absolutize(Path::new("real/.."), &base).unwrap();
        assert_eq!(got, base);
        let err = absolutize(Path::new("missing"), &base).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Usage);
    }
}
