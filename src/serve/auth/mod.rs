//! The API's bearer tokens and their scopes. A token is 32 random bytes,
//! shown once at creation; the service keeps only its BLAKE3 hash
//! (`state_dir/tokens.json`, mode 0600), so a copy of the state directory
//! does not hand out access. Checking a token hashes it and compares it
//! with every stored hash in constant time (`blake3::Hash`'s `==`), without
//! stopping at a match, so an unknown and a wrong token cost the same.
//!
//! The service re-reads the file when its inode, size or mtime changed
//! (one `stat` per request), so `token create` and `token revoke` take
//! effect at once, without a restart.

pub mod command;
mod store;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

pub use store::{StoredToken, TokenFile};

/// What a token may do. `admin` implies every other scope; `backup` and
/// `restore` each imply `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// List, status, stats, download.
    Read,
    /// Read, and start backups, checks, cleanups and connection tests.
    Backup,
    /// Read, and start restores.
    Restore,
    /// Everything.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Backup, Scope::Restore, Scope::Admin];

    pub fn name(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Backup => "backup",
            Scope::Restore => "restore",
            Scope::Admin => "admin",
        }
    }

    /// Whether a token holding `self` may do what needs `need`.
    pub fn grants(self, need: Scope) -> bool {
        self == Scope::Admin || self == need || need == Scope::Read
    }
}

impl std::str::FromStr for Scope {
    type Err = cairn::Error;
    fn from_str(s: &str) -> cairn::Result<Scope> {
        Scope::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                cairn::Error::Usage(format!(
                    "unknown scope {s:?} (read, backup, restore or admin)"
                ))
            })
    }
}

/// The prefix every token starts with: it makes a leaked token easy to
/// find for secret scanners and easy to tell apart from a password.
pub const TOKEN_PREFIX: &str = "cairn_";

/// A new random token (printable, 64 hex digits after the prefix).
pub fn generate() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// The hash stored for `token`.
pub fn hash(token: &str) -> blake3::Hash {
    blake3::hash(token.as_bytes())
}

/// Where the tokens live in a state directory.
pub fn tokens_path(state_dir: &Path) -> PathBuf {
    state_dir.join("tokens.json")
}

/// What an authorization check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No such token (or none given): 401.
    Unknown,
    /// A valid token without the scope: 403.
    Forbidden,
    Allowed,
}

/// The tokens the service checks requests against, re-read when the file
/// changes.
pub struct Tokens {
    path: PathBuf,
    cache: Mutex<Option<(Stamp, Arc<Vec<Loaded>>)>>,
}

/// What identifies one version of the file: a rename (how it is written)
/// changes the inode even within one mtime tick.
type Stamp = (u64, u64, std::time::SystemTime);

struct Loaded {
    hash: blake3::Hash,
    name: String,
    scopes: Vec<Scope>,
}

/// Who a valid token is: what a dashboard session keeps (the hash, never
/// the token) and re-checks on every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub hash: blake3::Hash,
    pub name: String,
    pub scopes: Vec<Scope>,
}

impl Identity {
    /// Whether this identity may do what needs `need`.
    pub fn grants(&self, need: Scope) -> bool {
        self.scopes.iter().any(|s| s.grants(need))
    }
}

impl Tokens {
    pub fn new(state_dir: &Path) -> Tokens {
        Tokens {
            path: tokens_path(state_dir),
            cache: Mutex::new(None),
        }
    }

    /// Checks `token` for `need`. Every stored hash is compared, in
    /// constant time, whether or not one matched already.
    pub fn check(&self, token: Option<&str>, need: Scope) -> Verdict {
        let found = self.by_hash(&hash(token.unwrap_or("")));
        match (token, found) {
            (Some(_), Some(t)) if t.grants(need) => Verdict::Allowed,
            (Some(_), Some(_)) => Verdict::Forbidden,
            _ => Verdict::Unknown,
        }
    }

    /// The identity of `token`, if it is a stored one (the dashboard's
    /// sign-in). Compared like [`Tokens::check`]: every hash, constant time.
    pub fn identify(&self, token: &str) -> Option<Identity> {
        self.by_hash(&hash(token))
    }

    /// The identity whose token hashes to `presented`, if it is still
    /// stored: a revoked token's sessions end at their next request.
    pub fn by_hash(&self, presented: &blake3::Hash) -> Option<Identity> {
        let all = self.current();
        let mut found: Option<&Loaded> = None;
        for t in all.iter() {
            if t.hash == *presented {
                found = Some(t);
            }
        }
        found.map(|t| Identity {
            hash: t.hash,
            name: t.name.clone(),
            scopes: t.scopes.clone(),
        })
    }

    /// The stored tokens, re-read when the file changed. A file that cannot
    /// be read means no token is valid (and says so in the log).
    fn current(&self) -> Arc<Vec<Loaded>> {
        use std::os::unix::fs::MetadataExt;
        let stamp = std::fs::metadata(&self.path).ok().map(|m| {
            (
                m.ino(),
                m.size(),
                m.modified().unwrap_or(std::time::UNIX_EPOCH),
            )
        });
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        match (&*cache, stamp) {
            (Some((old, all)), Some(new)) if *old == new => return all.clone(),
            (_, None) => return Arc::new(Vec::new()),
            _ => {}
        }
        let loaded = match TokenFile::load(&self.path) {
            Ok(f) => f.tokens.iter().filter_map(StoredToken::loaded).collect(),
            Err(e) => {
                tracing::error!("API tokens not loaded: {e}");
                Vec::new()
            }
        };
        let all = Arc::new(loaded);
        *cache = stamp.map(|s| (s, all.clone()));
        all
    }
}

impl StoredToken {
    fn loaded(&self) -> Option<Loaded> {
        Some(Loaded {
            hash: blake3::Hash::from_hex(&self.hash).ok()?,
            name: self.name.clone(),
            scopes: self.scopes.clone(),
        })
    }
}

#[cfg(test)]
mod tests;
