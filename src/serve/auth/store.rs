//! `tokens.json`: names, scopes, creation times and hashes of the API's
//! tokens, never a token itself. Written whole to a temporary file in the
//! same directory (mode 0600) and renamed over the old one, so a reader
//! (the service) sees the old or the new file, never half of one.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use cairn::{Error, Result};

use super::Scope;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct TokenFile {
    pub tokens: Vec<StoredToken>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredToken {
    pub name: String,
    pub scopes: Vec<Scope>,
    /// RFC 3339.
    pub created: String,
    /// BLAKE3 of the token, hex.
    pub hash: String,
}

impl TokenFile {
    /// The file at `path`; none yet is an empty list.
    pub fn load(path: &Path) -> Result<TokenFile> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(TokenFile::default()),
            Err(e) => return Err(Error::io(path, e)),
        };
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Usage(format!("{}: not a token file: {e}", path.display())))
    }

    /// Replaces the file at `path` atomically, readable by its owner only.
    pub fn save(&self, path: &Path) -> Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir)?;
        let json =
            serde_json::to_vec_pretty(self).map_err(|e| Error::Internal(format!("json: {e}")))?;
        // NamedTempFile is created with mode 0600.
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
        tmp.write_all(&json).map_err(|e| Error::io(tmp.path(), e))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io(tmp.path(), e))?;
        tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
        Ok(())
    }
}

/// Creates the state directory (mode 0700) if it is missing.
fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(dir, e))
}
