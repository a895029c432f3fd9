//! Turning a repository location string into a storage stack. The one
//! place where backends and their wrappers are composed.

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::storage::local::LocalStorage;
use crate::storage::Storage;

/// Opens the storage a location names. Today: a local directory, as a plain
/// path or `local:PATH`. `create` makes the directory if it is missing.
pub fn open_location(location: &str, create: bool) -> Result<Arc<dyn Storage>> {
    if location.is_empty() {
        return Err(Error::Usage("empty repository location".into()));
    }
    if let Some((scheme, _)) = location.split_once(':') {
        if scheme != "local" && !scheme.contains('/') && scheme.len() > 1 {
            return Err(Error::Usage(format!(
                "unsupported repository location {location:?}: use a directory path"
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
    Ok(Arc::new(storage))
}
