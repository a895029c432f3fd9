//! Key files: the master key sealed under a password-derived key. Several key
//! files may open the same repository (one per password). A put-only key
//! file (magic `CAIRNPUT`, format-spec/18-put-only.md) seals a put bundle
//! instead of the master key: enough to add backups, nothing to read them.

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::crypto::{self, KdfParams, MasterKey, PutKeys, KEY_LEN};
use crate::error::{Error, Result};
use crate::format::config::Config;
use crate::format::tree::Timestamp;

pub const MAGIC: &[u8; 8] = b"CAIRNKEY";
/// A put-only key file's magic: readers that know only [`MAGIC`] refuse it
/// as "bad magic" instead of misreading it.
pub const PUT_MAGIC: &[u8; 8] = b"CAIRNPUT";
const AD: &[u8] = b"cairn\x01key";
const PUT_AD: &[u8] = b"cairn\x01put";
const GEAR_BYTES: usize = 256 * 8;

/// What a key file opens the repository for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyKind {
    /// Wraps the master key: reads, writes, deletes.
    #[default]
    Full,
    /// Wraps a put bundle: adds backups only.
    PutOnly,
}

impl KeyKind {
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::Full => "full",
            KeyKind::PutOnly => "put-only",
        }
    }
}

/// What a put-only key file seals: the blob-id key and gear table (so its
/// blobs dedup with a full key's), the public sealing key, and the config
/// (chunker, pack size, compression, repository id), which it cannot open
/// in the repository. Never the master key or the AEAD key.
#[derive(Serialize, Deserialize)]
struct PutBundle {
    id_key: [u8; KEY_LEN],
    #[serde(with = "serde_bytes")]
    gear: Vec<u8>,
    seal_public: [u8; KEY_LEN],
    config: Config,
    /// The config's retention lock, which `Config`'s serde form skips (it
    /// is encoded after the config body only when set): a put-only client
    /// must write retained objects like a full key.
    lock: Option<crate::format::config::RetentionLock>,
    /// Field 6: the id lists' key; `None` (and absent altogether in bundles
    /// written before id lists) means "own uploads only".
    dedup_key: Option<[u8; KEY_LEN]>,
}

/// A bundle written before field 6 existed: it still opens, without a
/// dedup key.
#[derive(Deserialize, Serialize)]
struct PutBundleV5 {
    id_key: [u8; KEY_LEN],
    #[serde(with = "serde_bytes")]
    gear: Vec<u8>,
    seal_public: [u8; KEY_LEN],
    config: Config,
    lock: Option<crate::format::config::RetentionLock>,
}

impl PutBundle {
    /// The six-field layout, else the five-field one (no dedup key).
    fn decode(plain: &[u8]) -> Result<PutBundle> {
        const WHAT: &str = "put-only key file";
        crate::format::decode_exact::<PutBundle>(plain, WHAT).or_else(|e| {
            let Ok(v5) = crate::format::decode_exact::<PutBundleV5>(plain, WHAT) else {
                return Err(e);
            };
            Ok(PutBundle {
                id_key: v5.id_key,
                gear: v5.gear,
                seal_public: v5.seal_public,
                config: v5.config,
                lock: v5.lock,
                dedup_key: None,
            })
        })
    }
}

/// What a password unlocks.
pub enum Unlocked {
    Full(MasterKey),
    PutOnly(PutKeys, Config),
}

/// A key file's content after the magic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFile {
    /// From the magic, not the body.
    #[serde(skip)]
    pub kind: KeyKind,
    pub kdf: KdfParams,
    #[serde(with = "serde_bytes")]
    pub salt: Vec<u8>,
    pub created: Timestamp,
    pub host: String,
    pub username: String,
    /// `nonce || XChaCha20-Poly1305(kek, master key) || tag`; in a put-only
    /// key file, the put bundle in place of the master key.
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
        Self::create_sealing(master.expose(), AD, password, kdf, created, host, username)
    }

    /// A key file of kind full sealing `secret` with `ad`.
    fn create_sealing(
        secret: &[u8],
        ad: &[u8],
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
            kind: KeyKind::Full,
            kdf,
            salt,
            created,
            host,
            username,
            sealed_master: crypto::seal_with(&kek, secret, ad),
        })
    }

    /// A put-only key file: `put` and `config` sealed under `password`.
    pub fn create_put_only(
        put: &PutKeys,
        config: &Config,
        password: &[u8],
        kdf: KdfParams,
        created: Timestamp,
        host: String,
        username: String,
    ) -> Result<Self> {
        let bundle = PutBundle {
            id_key: put.id,
            gear: put.gear.iter().flat_map(|g| g.to_le_bytes()).collect(),
            seal_public: put.seal_public,
            config: config.clone(),
            lock: config.lock,
            dedup_key: put.dedup,
        };
        let mut plain =
            postcard::to_allocvec(&bundle).expect("postcard encoding to a Vec cannot fail");
        let PutBundle {
            mut id_key,
            mut gear,
            mut dedup_key,
            ..
        } = bundle;
        id_key.zeroize();
        gear.zeroize();
        dedup_key.zeroize();
        let kf = Self::create_sealing(&plain, PUT_AD, password, kdf, created, host, username);
        plain.zeroize();
        Ok(KeyFile {
            kind: KeyKind::PutOnly,
            ..kf?
        })
    }

    /// Unwraps whatever this key file holds; `Ok(None)` when the password
    /// does not fit.
    pub fn open_secret(&self, password: &[u8]) -> Result<Option<Unlocked>> {
        match self.kind {
            KeyKind::Full => Ok(self.unlock(password)?.map(Unlocked::Full)),
            KeyKind::PutOnly => {
                let kek = self.kdf.derive(password, &self.salt)?;
                let Ok(mut plain) =
                    crypto::open_with(&kek, &self.sealed_master, PUT_AD, "key file")
                else {
                    return Ok(None);
                };
                let bundle = PutBundle::decode(&plain);
                plain.zeroize();
                let mut b = bundle?;
                if b.gear.len() != GEAR_BYTES {
                    return Err(Error::corrupt(
                        "put-only key file",
                        "gear table has the wrong length",
                    ));
                }
                let mut gear = Box::new([0u64; 256]);
                for (g, c) in gear.iter_mut().zip(b.gear.chunks_exact(8)) {
                    *g = u64::from_le_bytes(c.try_into().expect("chunks_exact(8)"));
                }
                b.gear.zeroize();
                let put = PutKeys {
                    id: b.id_key,
                    gear,
                    seal_public: b.seal_public,
                    dedup: b.dedup_key,
                };
                b.id_key.zeroize();
                b.dedup_key.zeroize();
                let mut config = b.config.clone();
                config.lock = b.lock;
                Ok(Some(Unlocked::PutOnly(put, config)))
            }
        }
    }

    /// Unwraps the master key; `Ok(None)` when the password does not fit
    /// or the key file is put-only (it holds no master key).
    pub fn unlock(&self, password: &[u8]) -> Result<Option<MasterKey>> {
        if self.kind != KeyKind::Full {
            return Ok(None);
        }
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
        let mut out = match self.kind {
            KeyKind::Full => MAGIC.to_vec(),
            KeyKind::PutOnly => PUT_MAGIC.to_vec(),
        };
        out.extend_from_slice(
            &postcard::to_allocvec(self).expect("postcard encoding to a Vec cannot fail"),
        );
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let (kind, body) = if let Some(body) = bytes.strip_prefix(MAGIC.as_slice()) {
            (KeyKind::Full, body)
        } else if let Some(body) = bytes.strip_prefix(PUT_MAGIC.as_slice()) {
            (KeyKind::PutOnly, body)
        } else {
            return Err(Error::corrupt("key file", "bad magic"));
        };
        let mut kf: KeyFile = crate::format::decode_exact(body, "key file")?;
        kf.kind = kind;
        kf.kdf.validate()?;
        if kf.salt.len() < 16 || kf.salt.len() > 64 {
            return Err(Error::corrupt("key file", "salt length out of range"));
        }
        Ok(kf)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    pub(crate) fn sample() -> KeyFile {
        KeyFile::create(
            &MasterKey::from_bytes([42; 32]),
            b"password",
            KdfParams::insecure_for_tests(),
            Timestamp {
                secs: 1_700_000_000,
                nanos: 0,
            },
            "h".into(),
            "u".into(),
        )
        .unwrap()
    }

    /// Golden: a key file wrapping master key [42; 32] under "password" with
    /// `insecure_for_tests()` parameters. Pins magic, field order, KDF and AD.
    pub(crate) const GOLDEN_HEX: &str =
        "434149524e4b455940010120b770f74cb1902728d815200a51bc730db5bd9eb8\
         f5402c6d4c54312a591c215380c49fd50c0001680175482c41067741c5737d32\
         733e0a45ee0b02e6bb134ba283f7ea14e94105f1126e56befe617dfc57b1d498\
         7e9ff95de6593eb78bec63ce393c143c81624c9ae51ab931430110ff61530f";

    #[test]
    fn golden_key_file_unlocks() {
        let bytes = hex::decode(GOLDEN_HEX).unwrap();
        let kf = KeyFile::decode(&bytes).unwrap();
        assert_eq!(kf.kdf, KdfParams::insecure_for_tests());
        assert_eq!(kf.salt.len(), 32);
        assert_eq!(kf.created.secs, 1_700_000_000);
        assert_eq!((kf.host.as_str(), kf.username.as_str()), ("h", "u"));
        assert_eq!(kf.sealed_master.len(), KEY_LEN + crypto::SEAL_OVERHEAD);
        assert_eq!(kf.encode(), bytes, "re-encodes byte for byte");
        let master = kf.unlock(b"password").unwrap().expect("right password");
        assert_eq!(master.expose(), &[42; 32]);
        assert!(kf.unlock(b"passwore").unwrap().is_none());
    }

    #[test]
    fn create_unlock_round_trip() {
        let kf = sample();
        let again = KeyFile::decode(&kf.encode()).unwrap();
        assert_eq!(again, kf);
        let m = again.unlock(b"password").unwrap().unwrap();
        assert_eq!(m.expose(), &[42; 32]);
        assert!(again.unlock(b"Password").unwrap().is_none());
        assert!(again.unlock(b"").unwrap().is_none());
        // Two key files for the same key never share salt or nonce.
        let other = sample();
        assert_ne!(other.salt, kf.salt);
        assert_ne!(other.sealed_master, kf.sealed_master);
    }

    #[test]
    fn tampered_sealed_master_does_not_unlock() {
        let mut kf = sample();
        let last = kf.sealed_master.len() - 1;
        kf.sealed_master[last] ^= 1;
        assert!(kf.unlock(b"password").unwrap().is_none());
        let mut kf = sample();
        kf.salt[0] ^= 1;
        assert!(kf.unlock(b"password").unwrap().is_none());
    }

    #[test]
    fn corrupt_magic_and_junk_are_refused() {
        let good = sample().encode();
        for i in 0..MAGIC.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x20;
            assert!(KeyFile::decode(&bad).is_err(), "magic byte {i}");
        }
        assert!(KeyFile::decode(&good[..7]).is_err());
        assert!(KeyFile::decode(MAGIC).is_err());
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(KeyFile::decode(&trailing).is_err());
    }

    #[test]
    fn hostile_kdf_params_and_salts_are_refused_before_any_work() {
        let hostile = [
            (u32::MAX, 1, 1),
            (KdfParams::MAX_MEMORY_KIB + 1, 1, 1),
            (64, u32::MAX, 1),
            (64, 0, 1),
            (64, 1, 0),
            (64, 1, u32::MAX),
            (7, 1, 1),
            (64, 1, 9), // 8 KiB per lane needed
        ];
        for (memory_kib, iterations, parallelism) in hostile {
            let mut kf = sample();
            kf.kdf = KdfParams {
                memory_kib,
                iterations,
                parallelism,
            };
            let bytes = kf.encode();
            let start = Instant::now();
            assert!(KeyFile::decode(&bytes).is_err(), "{:?}", kf.kdf);
            assert!(kf.unlock(b"password").is_err(), "{:?}", kf.kdf);
            assert!(start.elapsed() < Duration::from_millis(200), "{:?}", kf.kdf);
        }
        for len in [0, 15, 65, 1000] {
            let mut kf = sample();
            kf.salt = vec![1; len];
            assert!(KeyFile::decode(&kf.encode()).is_err(), "salt {len}");
        }
        for len in [16, 64] {
            let mut kf = sample();
            kf.salt = vec![1; len];
            assert!(KeyFile::decode(&kf.encode()).is_ok(), "salt {len}");
        }
    }
}
