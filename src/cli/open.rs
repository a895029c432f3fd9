//! Finding the repository and the password, and opening the repository.

use std::sync::Arc;

use cairn::repo::{InitOptions, OpenOptions, Repository};
use cairn::storage::Storage;
use cairn::{Error, Result};

use crate::cli::args::Global;
use crate::config::RepositoryConfig;

/// With `-P NAME`: that repository's section of the configuration file
/// (`--config`, or the default file). An unknown name is a usage error
/// naming the file and the known names.
pub fn profile(g: &Global) -> Result<Option<(String, RepositoryConfig)>> {
    let Some(name) = &g.profile else {
        return Ok(None);
    };
    let file = crate::config::path(g)?;
    let config = crate::config::load(&file)?;
    match config.repository(name) {
        Ok(r) => Ok(Some((name.clone(), r.clone()))),
        Err(e) => Err(Error::Usage(format!("{}: {e}", file.display()))),
    }
}

/// The repository location: `-P NAME`'s, `--repo`, `$CAIRN_REPOSITORY`, or
/// the default. `-P` and `--repo` together are refused: which one was meant?
pub fn location(g: &Global) -> Result<(String, bool)> {
    if let Some((name, r)) = profile(g)? {
        if g.repo.is_some() {
            return Err(Error::Usage(format!(
                "-P/--profile {name} and --repo (or CAIRN_REPOSITORY) both name a repository: \
                 use one"
            )));
        }
        return Ok((r.location.trim().to_string(), false));
    }
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
        ..Default::default()
    }
}

/// Opens the repository, creating the default one on first use if
/// `create_default`. A put-only key is refused (exit 13): every command but
/// backup reads or deletes.
pub fn open(g: &Global, create_default: bool) -> Result<Repository> {
    open_inner(g, create_default, false)
}

/// Opens the repository to add a backup (creating the default one on first
/// use): the one entry point that accepts a put-only key.
pub fn open_for_backup(g: &Global) -> Result<Repository> {
    open_inner(g, true, true)
}

fn open_inner(g: &Global, create_default: bool, for_backup: bool) -> Result<Repository> {
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
    if for_backup {
        Repository::open_for_backup(storage, pw.as_bytes(), open_options(g))
    } else {
        // Nearly every command opened here reads snapshots (a listing that
        // goes unused costs one LIST); backup lists them only after its
        // marker, and a lock drops this listing for a fresh one.
        let open = OpenOptions {
            prefetch_snapshots: true,
            ..open_options(g)
        };
        Repository::open(storage, pw.as_bytes(), open)
    }
}
