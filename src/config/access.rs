//! A repository by name: what `cairn -P NAME` and the service's jobs need
//! to open it (location, password, S3 settings and keys), resolved from
//! one `[repositories.NAME]` section, so a command line and the service
//! never disagree about where a repository is.

use std::fmt;
use std::path::PathBuf;

use zeroize::Zeroizing;

use cairn::repo::{OpenOptions, Repository};
use cairn::storage::s3::{S3Options, Secrets};
use cairn::storage::stats::StatsHandle;
use cairn::storage::{open_location_with, StorageOptions};
use cairn::{Error, Result};

use super::secret::{read_secret_file, run_password_command};
use super::{Config, RepositoryConfig};

/// Everything needed to open one named repository. `Debug` hides the
/// password and keys.
pub struct RepoAccess {
    pub name: String,
    pub location: String,
    pub password: Zeroizing<String>,
    pub storage: StorageOptions,
}

impl fmt::Debug for RepoAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RepoAccess {{ {}: {} }}", self.name, self.location)
    }
}

impl Config {
    /// The repository called `name`, with its password read now (file,
    /// command or environment variable) and its S3 keys from their files.
    pub fn access(&self, name: &str) -> Result<RepoAccess> {
        let r = self.repository(name)?;
        Ok(RepoAccess {
            name: name.to_string(),
            location: r.location.trim().to_string(),
            password: r.password(name)?,
            storage: r.storage_options(name)?,
        })
    }

    /// The section called `name`; an unknown name is a usage error listing
    /// the known ones.
    pub fn repository(&self, name: &str) -> Result<&RepositoryConfig> {
        self.repositories.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.repositories.keys().map(String::as_str).collect();
            Error::Usage(format!(
                "no repository {name:?} in the configuration (known: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ))
        })
    }
}

impl RepositoryConfig {
    /// The password from the one source the section sets (validated at load).
    pub fn password(&self, name: &str) -> Result<Zeroizing<String>> {
        let pw = if let Some(f) = &self.password_file {
            read_secret_file(&format!("password file of repository {name}"), f)?
        } else if let Some(c) = &self.password_command {
            run_password_command(&format!("repository {name}"), c)?
        } else if let Some(var) = &self.password_env {
            let v = std::env::var(var).ok().filter(|v| !v.is_empty());
            Zeroizing::new(v.ok_or_else(|| {
                Error::Usage(format!(
                    "repository {name}: the environment variable {var} (password_env) is not set"
                ))
            })?)
        } else {
            return Err(Error::Usage(format!(
                "repository {name}: no password source"
            )));
        };
        if pw.is_empty() {
            return Err(Error::Usage(format!(
                "repository {name}: the password is empty"
            )));
        }
        Ok(pw)
    }

    /// The section's S3 settings; keys from the named files, else (at open
    /// time) from the environment.
    pub fn storage_options(&self, name: &str) -> Result<StorageOptions> {
        let mut s3 = S3Options {
            path_style: self.s3_path_style,
            region: self.s3_region.clone(),
            ..S3Options::default()
        };
        if let Some(n) = self.s3_connections {
            s3.connections = n as usize;
            s3.adaptive = false;
        }
        if let (Some(id), Some(secret)) =
            (&self.s3_access_key_id_file, &self.s3_secret_access_key_file)
        {
            let id = read_secret_file(&format!("S3 access key id file of {name}"), id)?;
            let secret = read_secret_file(&format!("S3 secret key file of {name}"), secret)?;
            s3.credentials = Some(Secrets {
                access_key_id: id.to_string(),
                secret_access_key: secret,
                session_token: None,
                source: "the configuration's key files",
            });
        }
        Ok(StorageOptions { s3 })
    }
}

/// Opens the repository `access` names, with its index cache in
/// `cache_dir` (`None`: the user's cache directory). The handle counts its
/// backend requests, for job figures and metrics. A put-only key is refused.
pub fn open_repository(
    access: &RepoAccess,
    cache_dir: Option<PathBuf>,
) -> Result<(Repository, StatsHandle)> {
    let (repo, stats) = open_for_backup(access, cache_dir)?;
    repo.require_full_key("this command")?;
    Ok((repo, stats))
}

/// Like [`open_repository`], but a put-only key is accepted (its cache is
/// its own below `cache_dir`): the service opens every section so, runs
/// the KDF once, and refuses a put-only handle per request.
pub fn open_for_backup(
    access: &RepoAccess,
    cache_dir: Option<PathBuf>,
) -> Result<(Repository, StatsHandle)> {
    let opened = open_location_with(&access.location, false, &access.storage)?;
    let repo = Repository::open_for_backup(
        opened.storage,
        access.password.as_bytes(),
        OpenOptions {
            cache_dir,
            ..Default::default()
        },
    )?;
    Ok((repo, opened.stats))
}
