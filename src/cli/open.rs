//! Finding the repository and the password, and opening the repository.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use zeroize::Zeroizing;

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

/// Reads the password from the first source that is set.
pub fn password(confirm: bool) -> Result<Zeroizing<String>> {
    if let Ok(file) = std::env::var("CAIRN_PASSWORD_FILE") {
        let s = std::fs::read_to_string(&file).map_err(|e| Error::io(PathBuf::from(&file), e))?;
        return Ok(Zeroizing::new(s.trim_end_matches(['\n', '\r']).to_string()));
    }
    if let Ok(cmd) = std::env::var("CAIRN_PASSWORD_COMMAND") {
        let out = Command::new("sh")
            .arg("-c")
            .arg(&cmd)
            .output()
            .map_err(|e| Error::io(PathBuf::from("CAIRN_PASSWORD_COMMAND"), e))?;
        if !out.status.success() {
            return Err(Error::Usage(format!(
                "CAIRN_PASSWORD_COMMAND failed with {}",
                out.status
            )));
        }
        let s = String::from_utf8(out.stdout).map_err(|_| {
            Error::Usage("CAIRN_PASSWORD_COMMAND printed a non-UTF-8 password".into())
        })?;
        return Ok(Zeroizing::new(s.trim_end_matches(['\n', '\r']).to_string()));
    }
    if let Ok(p) = std::env::var("CAIRN_PASSWORD") {
        return Ok(Zeroizing::new(p));
    }
    if !std::io::stderr().is_terminal() {
        return Err(Error::Usage(
            "no password: set CAIRN_PASSWORD_FILE, CAIRN_PASSWORD_COMMAND or CAIRN_PASSWORD, or run on a terminal"
                .into(),
        ));
    }
    let prompt = |p: &str| {
        rpassword::prompt_password(p)
            .map(Zeroizing::new)
            .map_err(|e| Error::io(PathBuf::from("/dev/tty"), e))
    };
    let first = prompt("repository password: ")?;
    if confirm {
        let again = prompt("enter the password again: ")?;
        if *first != *again {
            return Err(Error::Usage("the passwords do not match".into()));
        }
    }
    if first.is_empty() {
        return Err(Error::Usage("an empty password is not allowed".into()));
    }
    Ok(first)
}

/// Opens the repository, creating the default one on first use if `create_default`.
pub fn open(g: &Global, create_default: bool) -> Result<Repository> {
    let (loc, is_default) = location(g)?;
    let storage: Arc<dyn Storage> =
        crate::cli::storage::open(g, &loc, is_default && create_default)?;
    if is_default && create_default && !exists(&*storage)? {
        eprintln!("creating a new repository at {loc}");
        let pw = password(true)?;
        return Repository::init(
            storage,
            pw.as_bytes(),
            InitOptions::default(),
            open_options(g),
        );
    }
    let pw = password(false)?;
    Repository::open(storage, pw.as_bytes(), open_options(g))
}

/// Is there a repository in this storage?
pub fn exists(s: &dyn Storage) -> Result<bool> {
    match s.get(cairn::format::layout::CONFIG) {
        Ok(_) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e.into()),
    }
}
