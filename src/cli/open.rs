//! Finding the repository and the password, and opening the repository.

use std::sync::Arc;

use cairn::repo::{InitOptions, OpenOptions, Repository};
use cairn::storage::Storage;
use cairn::{Error, Result};

use crate::cli::args::Global;

/// The repository location: `--repo`, `$CAIRN_REPOSITORY`, or the default.
pub fn location(g: &Global) -> Result<(String, bool)> {
    match &g.repo {
        Some(r) => Ok((r.clone(), false)),
        None => {
            let dir = dirs::data_dir()
                .map(|d| d.join("cairn").join("repository"))
                .ok_or_else(|| {
                    Error::Usage("no --repo given and no data directory known".into())
                })?;
            Ok((dir.to_string_lossy().into_owned(), true))
        }
    }
}

pub fn open_options(g: &Global) -> OpenOptions {
    OpenOptions {
        cache_dir: g.cache_dir.clone(),
    }
}

/// Opens the repository, creating the default one on first use if `create_default`.
pub fn open(g: &Global, create_default: bool) -> Result<Repository> {
    let (loc, is_default) = location(g)?;
    let storage: Arc<dyn Storage> =
        crate::cli::storage::open(g, &loc, is_default && create_default)?;
    if is_default && create_default && !Repository::exists(&*storage)? {
        eprintln!("creating a new repository at {loc}");
        let pw = crate::cli::password::password(g, true)?;
        let repo = Repository::init(
            storage,
            pw.as_bytes(),
            InitOptions::default(),
            open_options(g),
        )?;
        if !g.quiet {
            eprintln!("{}", crate::cli::init::LOST_PASSWORD_WARNING);
        }
        return Ok(repo);
    }
    let pw = crate::cli::password::password(g, false)?;
    Repository::open(storage, pw.as_bytes(), open_options(g))
}
