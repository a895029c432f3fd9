//! The filesystem source: walks the paths the user gave, depth-first with
//! byte-sorted siblings, and describes them as the content of the snapshot's
//! root directory. Each given path keeps its absolute location: its
//! ancestors are recreated (with their real metadata) so `/home/a/docs` and
//! `/etc` come out as `etc/…` and `home/a/docs/…`.
//!
//! Unreadable entries become [`Event::Skipped`] and the walk goes on; the
//! backup counts them. Submodules: `targets` (given paths → component tree),
//! `excludes` (globs and marker files), `meta` (`lstat` → entry), `walk`.

mod excludes;
pub(crate) mod meta;
mod targets;
mod walk;

pub(crate) use meta::xattrs as read_xattrs;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use crate::error::Result;
use crate::source::{Event, Source};

/// What to back up and what to leave out.
#[derive(Debug, Clone, Default)]
pub struct FsOptions {
    /// Files or directories; relative paths are taken from the current directory.
    pub paths: Vec<PathBuf>,
    /// Gitignore-style globs: `*.tmp` matches at any depth, `/home/a/cache`
    /// is anchored at the filesystem root, `**` and `!negation` work.
    pub excludes: Vec<String>,
    /// Files holding one glob per line; `#` comments and blank lines ignored.
    pub exclude_files: Vec<PathBuf>,
    /// A directory holding an entry of one of these names is left out entirely.
    pub exclude_if_present: Vec<String>,
    /// Do not descend into directories on another device than their given
    /// path's; the mount point itself is recorded, empty.
    pub one_file_system: bool,
    /// Keep `X-wal`, `X-shm` and `X-journal` even when a sibling `X` is a
    /// SQLite database (`--no-sqlite`). By default they are left out: the
    /// database's snapshot holds their content.
    pub keep_db_companions: bool,
}

/// A [`Source`] over local files.
pub struct FsSource {
    walker: walk::Walker,
    paths: Vec<String>,
}

impl FsSource {
    /// Resolves the paths and compiles the excludes; no walking happens yet.
    ///
    /// Fails with a usage error for a missing path or a bad glob, and with an
    /// I/O error for an unreadable exclude file.
    pub fn new(opts: FsOptions) -> Result<FsSource> {
        let excludes = excludes::Excludes::new(
            &opts.excludes,
            &opts.exclude_files,
            &opts.exclude_if_present,
        )?;
        let (targets, effective) = targets::build(&opts.paths)?;
        let mut paths: Vec<String> = effective
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        paths.sort_unstable();
        Ok(FsSource {
            walker: walk::Walker::new(
                targets,
                excludes,
                opts.one_file_system,
                opts.keep_db_companions,
            ),
            paths,
        })
    }
}

impl Iterator for FsSource {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        self.walker.next()
    }
}

impl Source for FsSource {
    /// The absolute given paths, sorted, without duplicates or paths nested
    /// in other given paths.
    fn paths(&self) -> Vec<String> {
        self.paths.clone()
    }
}
