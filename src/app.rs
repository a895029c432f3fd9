//! The small API for applications that back themselves up: open a
//! repository from a location and a password, back up a list of paths
//! (SQLite database files among them are stored as consistent snapshots
//! when the file system source recognises them), and forget by a retention
//! policy. Nothing here prints or reads a terminal: errors are returned as
//! [`Error`]s and reports as values, so a service can log them its own way.
//!
//! It is a thin layer over [`crate::backup`], [`crate::forget`] and
//! [`crate::repo`], the same engine the `cairn` command drives;
//! `examples/service.rs` shows a service that backs itself up on SIGTERM
//! and on an HTTP call.
//!
//! ```
//! use cairn::app::{Backups, Retention};
//! # fn main() -> cairn::Result<()> {
//! # let tmp = tempfile::tempdir().unwrap();
//! # let data = tmp.path().join("state.txt");
//! # std::fs::write(&data, b"important state").unwrap();
//! # let location = tmp.path().join("repo").to_string_lossy().into_owned();
//! # let mut options = cairn::app::Options::default();
//! # options.cache_dir = Some(tmp.path().join("cache"));
//! # options.init.kdf = Some(cairn::crypto::KdfParams::insecure_for_tests());
//! let backups = Backups::open_or_init(&location, b"secret", &options)?;
//! let report = backups.backup(&[data], &["manual"])?;
//! assert!(report.is_complete());
//! // Keep everything from the last 30 days, and never fewer than 3 snapshots.
//! let forgotten = backups.forget(&Retention::within_days(30, 3))?;
//! assert_eq!(forgotten.removed.len(), 0);
//! # Ok(())
//! # }
//! ```

use std::path::PathBuf;

use crate::backup::{backup_rereadable, BackupOptions, BackupReport};
use crate::error::{Error, Result};
use crate::forget::{forget, ForgetOptions, ForgetReport, Policy, Span};
use crate::progress::NoProgress;
use crate::repo::{InitOptions, OpenOptions, Repository};
use crate::source::fs::{FsOptions, FsSource};
use crate::source::Source;
use crate::storage::{open_location_with, StorageOptions};

/// How to reach and create a repository; the defaults suit most services.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Where the index cache lives; `None` uses the user's cache directory.
    pub cache_dir: Option<PathBuf>,
    /// S3/R2 settings (credentials come from the environment, see the README).
    pub storage: StorageOptions,
    /// Used only by [`Backups::open_or_init`] when it creates the repository.
    pub init: InitOptions,
}

/// A retention policy in the terms services use: keep every snapshot
/// younger than some days, and never fewer than a floor.
pub struct Retention;

impl Retention {
    /// Keeps every snapshot of the last `days` days and at least `min`
    /// snapshots in each group (the newest ones), however old.
    pub fn within_days(days: u32, min: u32) -> Policy {
        Policy {
            within: Some(Span {
                days,
                ..Span::default()
            }),
            min,
            ..Policy::default()
        }
    }
}

/// An open repository, ready to back up into.
pub struct Backups {
    repo: Repository,
}

impl Backups {
    /// Opens the repository at `location` (a directory, `s3:…` or `r2:…`).
    /// Fails with [`crate::ErrorKind::NoRepository`] when there is none and
    /// [`crate::ErrorKind::WrongPassword`] for a wrong password.
    pub fn open(location: &str, password: &[u8], options: &Options) -> Result<Backups> {
        let storage = open_location_with(location, false, &options.storage)?.storage;
        let repo = Repository::open(storage, password, open_options(options))?;
        Ok(Backups { repo })
    }

    /// Opens the repository at `location`, creating it first when the
    /// location holds none (a service's first start).
    pub fn open_or_init(location: &str, password: &[u8], options: &Options) -> Result<Backups> {
        let storage = open_location_with(location, true, &options.storage)?.storage;
        let repo = if Repository::exists(&*storage)? {
            Repository::open(storage, password, open_options(options))?
        } else {
            let init = options.init.clone();
            Repository::init(storage, password, init, open_options(options))?
        };
        Ok(Backups { repo })
    }

    /// Backs up `paths` (files, directories, database files) as one
    /// snapshot with `tags`. Unchanged files are not read again; a path
    /// that cannot be read is listed in the report's `skipped`.
    pub fn backup(&self, paths: &[PathBuf], tags: &[&str]) -> Result<BackupReport> {
        if paths.is_empty() {
            return Err(Error::Usage("nothing to back up: no paths given".into()));
        }
        let opts = BackupOptions {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            ..BackupOptions::default()
        };
        let mut make = || -> Result<Box<dyn Source>> {
            let fs = FsOptions {
                paths: paths.to_vec(),
                ..FsOptions::default()
            };
            Ok(Box::new(FsSource::new(fs)?))
        };
        backup_rereadable(&self.repo, &mut make, &opts, &NoProgress)
    }

    /// Removes the snapshots `policy` does not keep (grouped by host and
    /// paths, like `cairn forget`). Data is freed by a later prune.
    pub fn forget(&self, policy: &Policy) -> Result<ForgetReport> {
        let opts = ForgetOptions {
            policy: policy.clone(),
            ..ForgetOptions::default()
        };
        forget(&self.repo, &opts)
    }

    /// The repository, for everything else the library offers (restore,
    /// check, listing snapshots).
    pub fn repository(&self) -> &Repository {
        &self.repo
    }
}

fn open_options(options: &Options) -> OpenOptions {
    OpenOptions {
        cache_dir: options.cache_dir.clone(),
        ..Default::default()
    }
}
