//! Turning a repository location string into a storage stack. The one
//! place where backends and their wrappers are composed:
//! `Stats<Local>`, `Stats<S3>` or `Stats<Retry<Rest>>`. The S3 backend
//! retries inside the SDK, so no retry wrapper is stacked on it (attempts
//! would multiply); the `rest:` backend gets the retry wrapper, which is
//! how a restarted proxy or a dropped connection is ridden out.

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::storage::local::LocalStorage;
use crate::storage::rest::{is_rest_location, RestStorage};
use crate::storage::retry::{RetryPolicy, RetryStorage};
use crate::storage::s3::{is_s3_location, S3Options, S3Storage};
use crate::storage::stats::{StatsHandle, StatsStorage};
use crate::storage::Storage;

/// Backend settings that are not part of the location string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageOptions {
    pub s3: S3Options,
}

/// An opened storage and the handle to its request counters.
pub struct OpenedStorage {
    pub storage: Arc<dyn Storage>,
    pub stats: StatsHandle,
}

/// Opens the storage a location names, with default options. See
/// [`open_location_with`].
pub fn open_location(location: &str, create: bool) -> Result<Arc<dyn Storage>> {
    Ok(open_location_with(location, create, &StorageOptions::default())?.storage)
}

/// Opens the storage a location names: a directory (a plain path or
/// `local:PATH`), `s3:…` or `r2:…` (see [`crate::storage::s3::config`]), or
/// `rest:http://HOST:PORT/` (a `cairn serve-repo` proxy; the token comes
/// from the environment, see [`crate::storage::rest`]). `create` makes the
/// directory or bucket if it is missing; a proxy's backend already exists.
pub fn open_location_with(
    location: &str,
    create: bool,
    opts: &StorageOptions,
) -> Result<OpenedStorage> {
    if location.is_empty() {
        return Err(Error::Usage("empty repository location".into()));
    }
    if is_s3_location(location) {
        let stats = StatsStorage::new(S3Storage::open(location, &opts.s3, create)?);
        stats.handle().attach_wire(stats.inner().wire());
        return Ok(OpenedStorage {
            stats: stats.handle(),
            storage: Arc::new(stats),
        });
    }
    if is_rest_location(location) {
        let rest = RestStorage::open(location)?;
        let stats = StatsStorage::new(RetryStorage::new(rest, RetryPolicy::default()));
        return Ok(OpenedStorage {
            stats: stats.handle(),
            storage: Arc::new(stats),
        });
    }
    if let Some((scheme, _)) = location.split_once(':') {
        if scheme != "local" && !scheme.contains('/') && scheme.len() > 1 {
            return Err(Error::Usage(format!(
                "unsupported repository location {location:?}: use a directory path, s3:…, r2:… or rest:http://…"
            )));
        }
    }
    let path = PathBuf::from(location.strip_prefix("local:").unwrap_or(location));
    let storage = if create {
        LocalStorage::create(path)?
    } else {
        if !path.is_dir() {
            return Err(Error::NoRepository(path.display().to_string()));
        }
        LocalStorage::new(path)
    };
    let stats = StatsStorage::new(storage);
    Ok(OpenedStorage {
        stats: stats.handle(),
        storage: Arc::new(stats),
    })
}
