//! Key files: the master key sealed under a password-derived key. Several key
//! files may open the same repository (one per password).

use serde::{Deserialize, Serialize};

use crate::crypto::{self, KdfParams, MasterKey, KEY_LEN};
use crate::error::{Error, Result};
use crate::format::tree::Timestamp;

pub const MAGIC: &[u8; 8] = b"CAIRNKEY";
const AD: &[u8] = b"cairn\x01key";

/// A key file's content after the magic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFile {
    pub kdf: KdfParams,
    #[serde(with = "serde_bytes")]
    pub salt: Vec<u8>,
    pub created: Timestamp,
    pub host: String,
    pub username: String,
    /// `nonce || XChaCha20-Poly1305(kek, master key) || tag`.
    #[serde(with = "serde_bytes")]
    pub sealed_master: Vec<u8>,
}

impl KeyFile {
    /// Wraps `master` under `password`.
    pub fn create(
        master: &MasterKey,
        password: &[u8],
        kdf: KdfParams,
        created: Timestamp,
        host: String,
        username: String,
    ) -> Result<Self> {
        let mut salt = vec![0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
        let kek = kdf.derive(password, &salt)?;
        Ok(KeyFile {
            kdf,
            salt,
            created,
            host,
            username,
            sealed_master: crypto::seal_with(&kek, master.expose(), AD),
        })
    }

    /// Unwraps the master key; `Ok(None)` when the password does not fit.
    pub fn unlock(&self, password: &[u8]) -> Result<Option<MasterKey>> {
        let kek = self.kdf.derive(password, &self.salt)?;
        match crypto::open_with(&kek, &self.sealed_master, AD, "key file") {
            Ok(bytes) => {
                let raw: [u8; KEY_LEN] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| Error::corrupt("key file", "master key has the wrong length"))?;
                Ok(Some(MasterKey::from_bytes(raw)))
            }
            Err(_) => Ok(None),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(
            &postcard::to_allocvec(self).expect("postcard encoding to a Vec cannot fail"),
        );
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let body = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or_else(|| Error::corrupt("key file", "bad magic"))?;
        let kf: KeyFile = postcard::from_bytes(body).map_err(|e| Error::corrupt("key file", e))?;
        kf.kdf.validate()?;
        if kf.salt.len() < 16 || kf.salt.len() > 64 {
            return Err(Error::corrupt("key file", "salt length out of range"));
        }
        Ok(kf)
    }
}
