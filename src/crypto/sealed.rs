//! Sealing to a public key, for put-only keys (format-spec/18-put-only.md):
//! a client holding only the repository's X25519 *public* sealing key can
//! write objects that only the holder of the master key can open.
//!
//! One ephemeral X25519 key per session; the object key is
//! `derive_key(CTX_OBJECT, shared || ephemeral_public || seal_public)` and
//! every sealed object carries its ephemeral public key, so each opens on
//! its own. The AEAD is the same XChaCha20-Poly1305 as every other object.

use std::cell::RefCell;

use rand::RngCore;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::{KEY_LEN, NONCE_LEN, TAG_LEN};
use crate::error::{Error, Result};

const CTX_SEAL_SECRET: &str = "cairn 2026-12-06 v1 x25519 sealing key";
const CTX_OBJECT: &str = "cairn 2026-12-06 v1 sealed object key";

/// First bytes of every sealed-to-public object. Symmetric envelopes start
/// with a random nonce, which writers re-draw if it begins with these bytes
/// (chance 2^-64), so the two forms never collide.
pub const SEALED_MARK: [u8; 8] = *b"CAIRNSLD";
/// `mark || ephemeral public key`, before the nonce.
pub const SEALED_PREFIX_LEN: usize = SEALED_MARK.len() + KEY_LEN;

/// The repository's sealing secret: derived from the master key, so every
/// repository has one without migration.
pub(super) fn seal_secret(master: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    blake3::derive_key(CTX_SEAL_SECRET, master)
}

/// The public half of a sealing secret.
pub(super) fn public_of(secret: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    PublicKey::from(&StaticSecret::from(*secret)).to_bytes()
}

/// The object key both sides compute; `None` for a non-contributory
/// (low-order) point, which no honest writer produces.
fn object_key(
    secret: &[u8; KEY_LEN],
    peer: &[u8; KEY_LEN],
    ephemeral_public: &[u8; KEY_LEN],
    seal_public: &[u8; KEY_LEN],
) -> Option<[u8; KEY_LEN]> {
    let shared = StaticSecret::from(*secret).diffie_hellman(&PublicKey::from(*peer));
    if !shared.was_contributory() {
        return None;
    }
    let mut input = [0u8; 3 * KEY_LEN];
    input[..KEY_LEN].copy_from_slice(shared.as_bytes());
    input[KEY_LEN..2 * KEY_LEN].copy_from_slice(ephemeral_public);
    input[2 * KEY_LEN..].copy_from_slice(seal_public);
    let key = blake3::derive_key(CTX_OBJECT, &input);
    input.zeroize();
    Some(key)
}

/// A put-only session: one ephemeral key pair and the object key it shares
/// with the repository's sealing key.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(super) struct Session {
    ephemeral_public: [u8; KEY_LEN],
    key: [u8; KEY_LEN],
}

impl Session {
    /// A fresh session sealing to `seal_public`.
    pub(super) fn new(seal_public: &[u8; KEY_LEN]) -> Result<Self> {
        let mut eph = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut eph);
        let s = Self::with_ephemeral(&eph, seal_public);
        eph.zeroize();
        s
    }

    /// A session with a given ephemeral secret (the golden vector's).
    pub(super) fn with_ephemeral(eph: &[u8; KEY_LEN], seal_public: &[u8; KEY_LEN]) -> Result<Self> {
        let ephemeral_public = public_of(eph);
        let key = object_key(eph, seal_public, &ephemeral_public, seal_public)
            .ok_or_else(|| Error::corrupt("key file", "sealing key is a low-order point"))?;
        Ok(Session {
            ephemeral_public,
            key,
        })
    }

    /// Seals in place: `buf` holds [`SEALED_PREFIX_LEN`] + [`NONCE_LEN`]
    /// reserved bytes, then the plaintext.
    pub(super) fn seal_in_place(&self, buf: &mut Vec<u8>, ad: &[u8]) {
        buf[..SEALED_MARK.len()].copy_from_slice(&SEALED_MARK);
        buf[SEALED_MARK.len()..SEALED_PREFIX_LEN].copy_from_slice(&self.ephemeral_public);
        let mut body = buf.split_off(SEALED_PREFIX_LEN);
        super::seal_in_place_with(&self.key, &mut body, ad);
        buf.extend_from_slice(&body);
    }
}

thread_local! {
    /// The last (ephemeral public, seal public) → object key: every object
    /// of one session shares it, and restore opens thousands of blobs.
    static LAST: RefCell<Option<([u8; 2 * KEY_LEN], [u8; KEY_LEN])>> = const { RefCell::new(None) };
}

/// Opens a sealed-to-public object with the sealing secret.
pub(super) fn open(
    secret: &[u8; KEY_LEN],
    seal_public: &[u8; KEY_LEN],
    sealed: &[u8],
    ad: &[u8],
    what: &str,
) -> Result<Vec<u8>> {
    if sealed.len() < SEALED_PREFIX_LEN + NONCE_LEN + TAG_LEN {
        return Err(Error::corrupt(what, "sealed object too short"));
    }
    let mut eph = [0u8; KEY_LEN];
    eph.copy_from_slice(&sealed[SEALED_MARK.len()..SEALED_PREFIX_LEN]);
    let mut tag = [0u8; 2 * KEY_LEN];
    tag[..KEY_LEN].copy_from_slice(&eph);
    tag[KEY_LEN..].copy_from_slice(seal_public);
    let cached = LAST.with(|c| c.borrow().as_ref().filter(|(t, _)| *t == tag).map(|x| x.1));
    let key = match cached {
        Some(k) => k,
        None => {
            let k = object_key(secret, &eph, &eph, seal_public).ok_or_else(|| {
                Error::corrupt(what, "sealed object names a low-order ephemeral key")
            })?;
            LAST.with(|c| *c.borrow_mut() = Some((tag, k)));
            k
        }
    };
    super::open_with(&key, &sealed[SEALED_PREFIX_LEN..], ad, what)
}
