//! Cryptography: the master key and the subkeys derived from it, AEAD seal
//! and open, keyed object ids, and the password KDF. Pure functions over
//! bytes; nothing here touches storage.
//!
//! Every subkey is `BLAKE3::derive_key(context, master)` with a fixed context
//! string (see `format-spec/02-crypto.md`), so one 32-byte master key is all a
//! key file has to protect. A put-only key (format-spec/18-put-only.md)
//! holds a subset instead: the id key, the gear table and the public
//! sealing key, so it can write objects but open none.

mod aead;
mod kdf;
mod sealed;
#[cfg(test)]
mod sealed_tests;

pub use kdf::{KdfParams, KEK_LEN};
pub use sealed::{SEALED_MARK, SEALED_PREFIX_LEN};

use rand::RngCore;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{Error, Result};
use crate::ids::ID_LEN;

/// Length of the master key and of every derived key.
pub const KEY_LEN: usize = 32;
/// XChaCha20-Poly1305 nonce length.
pub const NONCE_LEN: usize = 24;
/// Poly1305 tag length.
pub const TAG_LEN: usize = 16;
/// Bytes a sealed message adds to its plaintext.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;

const CTX_AEAD: &str = "cairn 2026-11-22 v1 object encryption key";
const CTX_ID: &str = "cairn 2026-11-22 v1 keyed object id";
const CTX_GEAR: &str = "cairn 2026-11-22 v1 fastcdc gear table";
const CTX_DEDUP: &str = "cairn 2026-12-06 v1 dedup id list key";

/// The repository's secret: 32 random bytes, stored only wrapped in key files.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey(pub(crate) [u8; KEY_LEN]);

impl MasterKey {
    /// A fresh random master key from the OS generator.
    pub fn generate() -> Self {
        let mut k = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut k);
        MasterKey(k)
    }

    /// Wraps raw bytes (e.g. just unsealed from a key file).
    pub fn from_bytes(b: [u8; KEY_LEN]) -> Self {
        MasterKey(b)
    }

    /// The raw bytes, for sealing into a key file.
    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Derives all working keys.
    pub fn derive(&self) -> Keys {
        let seal_secret = sealed::seal_secret(&self.0);
        Keys {
            aead: Some(blake3::derive_key(CTX_AEAD, &self.0)),
            id: blake3::derive_key(CTX_ID, &self.0),
            gear: gear_table(&self.0),
            seal_public: sealed::public_of(&seal_secret),
            seal_secret: Some(seal_secret),
            session: None,
            dedup: Some(self.dedup_key()),
        }
    }

    /// What a put-only key file wraps instead of the master key, for a
    /// repository that derives its chunking from this master key.
    pub fn put_keys(&self) -> PutKeys {
        self.derive().put_keys()
    }

    /// The key of the id lists: readable by full keys and by put-only keys
    /// that carry it, never the key of anything else.
    fn dedup_key(&self) -> [u8; KEY_LEN] {
        blake3::derive_key(CTX_DEDUP, &self.0)
    }
}

fn gear_table(master: &[u8; KEY_LEN]) -> Box<[u64; 256]> {
    let mut gear = Box::new([0u64; 256]);
    let mut xof = blake3::Hasher::new_derive_key(CTX_GEAR)
        .update(master)
        .finalize_xof();
    let mut buf = [0u8; 256 * 8];
    xof.fill(&mut buf);
    for (g, b) in gear.iter_mut().zip(buf.chunks_exact(8)) {
        *g = u64::from_le_bytes(b.try_into().expect("chunks_exact(8)"));
    }
    buf.zeroize();
    gear
}

/// A put-only key's secrets: enough to chunk and name blobs exactly as a
/// full key does (so dedup works) and to seal to the repository, never to
/// open anything.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct PutKeys {
    pub id: [u8; KEY_LEN],
    pub gear: Box<[u64; 256]>,
    pub seal_public: [u8; KEY_LEN],
    /// The id lists' key; `None` for a key made with `--own-dedup-only`
    /// (or before id lists existed): it dedups against its own uploads only.
    pub dedup: Option<[u8; KEY_LEN]>,
}

/// The two secrets that decide chunk boundaries and blob ids. A repository
/// made with `init --copy-chunking-from` carries another repository's in
/// its config (09-config.md), so copies between the two keep every id.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct ChunkingKeys {
    pub id: [u8; KEY_LEN],
    pub gear: Box<[u64; 256]>,
}

impl std::fmt::Debug for ChunkingKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChunkingKeys(secret)")
    }
}

/// Working keys: from the master key (full), or from a put-only key file.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Keys {
    /// `None` for a put-only key.
    aead: Option<[u8; KEY_LEN]>,
    id: [u8; KEY_LEN],
    /// FastCDC gear table, secret so chunk boundaries do not reveal content.
    gear: Box<[u64; 256]>,
    seal_public: [u8; KEY_LEN],
    /// `None` for a put-only key.
    seal_secret: Option<[u8; KEY_LEN]>,
    /// Put-only only: the session that seals every object this process writes.
    session: Option<sealed::Session>,
    /// The id lists' key (always for a full key; see [`PutKeys::dedup`]).
    dedup: Option<[u8; KEY_LEN]>,
}

impl Keys {
    /// Keys for a put-only client, with a fresh ephemeral sealing session.
    pub fn put_only(p: &PutKeys) -> Result<Keys> {
        Ok(Keys {
            aead: None,
            id: p.id,
            gear: p.gear.clone(),
            seal_public: p.seal_public,
            seal_secret: None,
            session: Some(sealed::Session::new(&p.seal_public)?),
            dedup: p.dedup,
        })
    }

    /// Put-only keys with a chosen ephemeral secret: for the golden vector
    /// and the fuzz targets, which must be deterministic. Never for writing.
    pub(crate) fn put_only_with_ephemeral(p: &PutKeys, eph: &[u8; KEY_LEN]) -> Keys {
        let mut k = Keys::put_only(p).expect("a valid sealing key");
        k.session = Some(sealed::Session::with_ephemeral(eph, &p.seal_public).unwrap());
        k
    }

    /// The id key and gear table these keys chunk and name blobs with.
    pub fn chunking_keys(&self) -> ChunkingKeys {
        ChunkingKeys {
            id: self.id,
            gear: self.gear.clone(),
        }
    }

    /// Chunks and names blobs with `c` instead of what the master key
    /// derives: for a repository whose config carries shared chunking.
    pub fn use_chunking(&mut self, c: &ChunkingKeys) {
        self.id = c.id;
        self.gear = c.gear.clone();
    }

    /// What a put-only key file of this repository wraps: its chunking
    /// (whatever it derives from), its public sealing key and the dedup key
    /// (format-spec/18-put-only.md, "Id lists").
    pub fn put_keys(&self) -> PutKeys {
        PutKeys {
            id: self.id,
            gear: self.gear.clone(),
            seal_public: self.seal_public,
            dedup: self.dedup,
        }
    }

    /// True when these keys can write but not open (put-only).
    pub fn is_put_only(&self) -> bool {
        self.aead.is_none()
    }

    /// The key id lists are sealed under (format-spec/18-put-only.md), if
    /// these keys have it.
    pub fn dedup_key(&self) -> Option<&[u8; KEY_LEN]> {
        self.dedup.as_ref()
    }

    /// Keyed BLAKE3 of plaintext: the id of a blob (chunk or tree).
    pub fn blob_id(&self, plaintext: &[u8]) -> [u8; ID_LEN] {
        *blake3::keyed_hash(&self.id, plaintext).as_bytes()
    }

    /// The secret gear table for the chunker.
    pub fn gear(&self) -> &[u64; 256] {
        &self.gear
    }

    /// Bytes [`Keys::seal_in_place`] needs reserved before the plaintext.
    pub fn seal_prefix_len(&self) -> usize {
        match self.session {
            Some(_) => SEALED_PREFIX_LEN + NONCE_LEN,
            None => NONCE_LEN,
        }
    }

    /// Encrypts `plaintext` with a fresh random nonce, binding `ad`.
    /// Output: `nonce || ciphertext || tag`, or for a put-only key
    /// `mark || ephemeral public || nonce || ciphertext || tag`.
    pub fn seal(&self, plaintext: &[u8], ad: &[u8]) -> Vec<u8> {
        let prefix = self.seal_prefix_len();
        let mut buf = Vec::with_capacity(prefix + plaintext.len() + TAG_LEN);
        buf.resize(prefix, 0);
        buf.extend_from_slice(plaintext);
        self.seal_in_place(&mut buf, ad);
        buf
    }

    /// Seals in place without copying: `buf` holds
    /// [`Keys::seal_prefix_len`] reserved bytes followed by the plaintext;
    /// afterwards it holds exactly what [`Keys::seal`] returns.
    pub fn seal_in_place(&self, buf: &mut Vec<u8>, ad: &[u8]) {
        match (&self.session, &self.aead) {
            (Some(session), _) => session.seal_in_place(buf, ad),
            (None, Some(aead)) => seal_in_place_with(aead, buf, ad),
            (None, None) => unreachable!("keys without an AEAD key always have a session"),
        }
    }

    /// Reverses [`Keys::seal`] for either form (a sealed-to-public object
    /// starts with [`SEALED_MARK`]); fails if any byte or the `ad` differ,
    /// and with [`Error::PutOnlyKey`] for a put-only key.
    pub fn open(&self, sealed: &[u8], ad: &[u8], what: &str) -> Result<Vec<u8>> {
        let (Some(aead), Some(secret)) = (&self.aead, &self.seal_secret) else {
            return Err(Error::PutOnlyKey(format!("reading the {what}")));
        };
        if sealed.starts_with(&SEALED_MARK) {
            sealed::open(secret, &self.seal_public, sealed, ad, what)
        } else {
            open_with(aead, sealed, ad, what)
        }
    }
}

/// Seals with an explicit key (key files, whose key comes from the KDF;
/// id lists, under the dedup key).
pub fn seal_with(key: &[u8; KEY_LEN], plaintext: &[u8], ad: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
    buf.resize(NONCE_LEN, 0);
    buf.extend_from_slice(plaintext);
    seal_in_place_with(key, &mut buf, ad);
    buf
}

pub(crate) fn seal_in_place_with(key: &[u8; KEY_LEN], buf: &mut Vec<u8>, ad: &[u8]) {
    assert!(
        buf.len() >= NONCE_LEN,
        "seal_in_place needs the nonce space reserved"
    );
    let mut nonce = [0u8; NONCE_LEN];
    // Never the sealed-to-public mark: the two envelope forms stay apart.
    while {
        rand::rng().fill_bytes(&mut nonce);
        nonce.starts_with(&SEALED_MARK)
    } {}
    buf[..NONCE_LEN].copy_from_slice(&nonce);
    let tag = aead::seal(key, &nonce, ad, &mut buf[NONCE_LEN..]);
    buf.extend_from_slice(&tag);
}

/// Opens with an explicit key; `what` names the object in the error.
pub fn open_with(key: &[u8; KEY_LEN], sealed: &[u8], ad: &[u8], what: &str) -> Result<Vec<u8>> {
    if sealed.len() < SEAL_OVERHEAD {
        return Err(Error::corrupt(what, "shorter than nonce and tag"));
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let mut n = [0u8; NONCE_LEN];
    n.copy_from_slice(nonce);
    aead::open(key, &n, ad, ct)
        .ok_or_else(|| Error::corrupt(what, "authentication failed (wrong key or damaged bytes)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_tamper() {
        let keys = MasterKey::generate().derive();
        let sealed = keys.seal(b"hello", b"ad");
        assert_eq!(sealed.len(), 5 + SEAL_OVERHEAD);
        assert_eq!(keys.open(&sealed, b"ad", "t").unwrap(), b"hello");
        assert!(keys.open(&sealed, b"other", "t").is_err());
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(keys.open(&bad, b"ad", "t").is_err(), "flip at {i}");
        }
    }

    #[test]
    fn derivation_is_deterministic_and_keyed() {
        let m = MasterKey::from_bytes([7; 32]);
        let a = m.derive();
        let b = m.derive();
        assert_eq!(a.blob_id(b"x"), b.blob_id(b"x"));
        assert_eq!(a.gear()[..], b.gear()[..]);
        let other = MasterKey::from_bytes([8; 32]).derive();
        assert_ne!(a.blob_id(b"x"), other.blob_id(b"x"));
        assert_ne!(a.blob_id(b"x"), *blake3::hash(b"x").as_bytes());
    }

    /// Golden vectors for master key [42; 32]: the effect of each derive_key
    /// context (the AEAD subkey is pinned by `format::envelope`'s golden
    /// envelope). A change here means existing repositories no longer open.
    #[test]
    fn golden_subkeys() {
        let keys = MasterKey::from_bytes([42; 32]).derive();
        assert_eq!(
            hex::encode(keys.blob_id(b"cairn")),
            "3ac6503c75ce0630cbf123116d70ddc72a79b7e9b203ef727afe11888f5567c5"
        );
        assert_eq!(
            keys.gear()[..4],
            [
                0x520a65841e7cd8fd,
                0x2691ba886218b0a4,
                0x038b56287f84f1cd,
                0x106e3bf53b9705dd
            ]
        );
        // The gear table is the XOF continuation of derive_key(CTX_GEAR):
        // its first 32 bytes are exactly that derived key.
        let head = blake3::derive_key(CTX_GEAR, &[42; 32]);
        let first: Vec<u8> = keys.gear()[..4]
            .iter()
            .flat_map(|g| g.to_le_bytes())
            .collect();
        assert_eq!(first, head);
        // Subkeys are independent of each other and of the master key.
        assert_ne!(blake3::derive_key(CTX_AEAD, &[42; 32]), keys.id);
        assert_eq!(Some(blake3::derive_key(CTX_AEAD, &[42; 32])), keys.aead);
        assert_eq!(
            hex::encode(keys.dedup_key().unwrap()),
            "59bd139115bf77a1943f702f905800401be8551498bf6cdf618d51e60365bc7c"
        );
        assert_eq!(
            MasterKey::from_bytes([42; 32]).put_keys().dedup.as_ref(),
            keys.dedup_key()
        );
    }
}
