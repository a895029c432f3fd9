//! restic's encryption (design.rst, "Keys, Encryption and MAC"): every
//! sealed item is `IV ‖ AES-256-CTR ciphertext ‖ Poly1305-AES MAC`; the MAC
//! is computed over the ciphertext with the IV as nonce and is checked
//! before anything is decrypted.

use aes::cipher::{BlockEncrypt, KeyInit, KeyIvInit, StreamCipher};
use base64::Engine;
use serde::Deserialize;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{Error, Result};

const IV_LEN: usize = 16;
const MAC_LEN: usize = 16;
/// What sealing adds to a plaintext: the IV and the MAC.
pub const OVERHEAD: usize = IV_LEN + MAC_LEN;

/// The repository's master keys: AES-256 for encryption, and the AES-128
/// key `k` and Poly1305 key `r` of Poly1305-AES.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey {
    encrypt: [u8; 32],
    mac_k: [u8; 16],
    mac_r: [u8; 16],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// The master key as a key file's decrypted `data` holds it (base64).
#[derive(Deserialize)]
struct MasterKeyJson {
    mac: MacJson,
    encrypt: String,
}

#[derive(Deserialize)]
struct MacJson {
    k: String,
    r: String,
}

impl MasterKey {
    /// A key from 64 bytes laid out as the KDF derives them: encryption
    /// key, then `k`, then `r`.
    pub fn from_derived(bytes: &[u8; 64]) -> MasterKey {
        let mut key = MasterKey {
            encrypt: [0; 32],
            mac_k: [0; 16],
            mac_r: [0; 16],
        };
        key.encrypt.copy_from_slice(&bytes[..32]);
        key.mac_k.copy_from_slice(&bytes[32..48]);
        key.mac_r.copy_from_slice(&bytes[48..]);
        key
    }

    /// Parses the JSON a key file's `data` decrypts to.
    pub fn from_json(plain: &[u8]) -> Result<MasterKey> {
        let j: MasterKeyJson = serde_json::from_slice(plain)
            .map_err(|e| corrupt("restic master key", e.to_string()))?;
        let mut bytes = zeroize::Zeroizing::new([0u8; 64]);
        fill(&mut bytes[..32], &j.encrypt, "encrypt")?;
        fill(&mut bytes[32..48], &j.mac.k, "mac.k")?;
        fill(&mut bytes[48..], &j.mac.r, "mac.r")?;
        Ok(MasterKey::from_derived(&bytes))
    }

    /// Checks the MAC of `sealed`, then decrypts it. A wrong key and a
    /// damaged item look the same: [`Error::Corrupt`] naming `what`.
    pub fn open(&self, sealed: &[u8], what: &str) -> Result<Vec<u8>> {
        if sealed.len() < OVERHEAD {
            return Err(corrupt(
                what,
                format!("{} bytes is too short", sealed.len()),
            ));
        }
        let (iv, rest) = sealed.split_at(IV_LEN);
        let (ciphertext, mac) = rest.split_at(rest.len() - MAC_LEN);
        let iv: &[u8; IV_LEN] = iv.try_into().expect("split at IV_LEN");
        let expected = self.mac(iv, ciphertext);
        let diff = expected.iter().zip(mac).fold(0u8, |d, (a, b)| d | (a ^ b));
        if diff != 0 {
            return Err(corrupt(
                what,
                "MAC mismatch (damaged, or not this key)".into(),
            ));
        }
        let mut plain = ciphertext.to_vec();
        ctr::Ctr128BE::<aes::Aes256>::new(&self.encrypt.into(), iv.into())
            .apply_keystream(&mut plain);
        Ok(plain)
    }

    /// Seals `plain` with `iv` (restic picks a random IV; tests pass one).
    pub fn seal(&self, iv: &[u8; IV_LEN], plain: &[u8]) -> Vec<u8> {
        let mut ciphertext = plain.to_vec();
        ctr::Ctr128BE::<aes::Aes256>::new(&self.encrypt.into(), iv.into())
            .apply_keystream(&mut ciphertext);
        let mac = self.mac(iv, &ciphertext);
        [&iv[..], &ciphertext, &mac].concat()
    }

    /// Poly1305-AES: Poly1305 keyed with `r` and `AES_k(nonce)`.
    fn mac(&self, nonce: &[u8; IV_LEN], data: &[u8]) -> [u8; MAC_LEN] {
        let mut s = aes::Block::from(*nonce);
        aes::Aes128::new(&self.mac_k.into()).encrypt_block(&mut s);
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        key[..16].copy_from_slice(&self.mac_r);
        key[16..].copy_from_slice(&s);
        let tag =
            poly1305::Poly1305::new(poly1305::Key::from_slice(&key[..])).compute_unpadded(data);
        tag.into()
    }
}

fn fill(out: &mut [u8], b64: &str, field: &str) -> Result<()> {
    let bytes = zeroize::Zeroizing::new(decode_base64(b64, "restic master key")?);
    if bytes.len() != out.len() {
        return Err(corrupt(
            "restic master key",
            format!("{field} has {} bytes, not {}", bytes.len(), out.len()),
        ));
    }
    out.copy_from_slice(&bytes);
    Ok(())
}

pub(crate) fn decode_base64(b64: &str, what: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| corrupt(what, format!("bad base64: {e}")))
}

pub(crate) fn corrupt(what: &str, detail: String) -> Error {
    Error::Corrupt {
        what: what.to_string(),
        detail,
    }
}

/// SHA-256, restic's id of every blob and stored file.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    d.as_ref().try_into().expect("SHA-256 is 32 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        let mut b = [0u8; 64];
        for (i, x) in b.iter_mut().enumerate() {
            *x = i as u8;
        }
        MasterKey::from_derived(&b)
    }

    #[test]
    fn seal_open_round_trip_and_any_flipped_bit_is_refused() {
        let k = key();
        let sealed = k.seal(&[7; 16], b"restic blob");
        assert_eq!(sealed.len(), 11 + OVERHEAD);
        assert_eq!(k.open(&sealed, "t").unwrap(), b"restic blob");
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(k.open(&bad, "t").is_err(), "flip at {i} accepted");
        }
        assert!(k.open(&sealed[..OVERHEAD - 1], "t").is_err());
    }

    /// Poly1305-AES's published test vector (Bernstein, "The Poly1305-AES
    /// message-authentication code", appendix B, second example).
    #[test]
    fn poly1305_aes_matches_the_paper() {
        let h = |s: &str| hex::decode(s).unwrap();
        let mut b = [0u8; 64];
        b[32..48].copy_from_slice(&h("ec074c835580741701425b623235add6"));
        b[48..].copy_from_slice(&h("851fc40c3467ac0be05cc20404f3f700"));
        let k = MasterKey::from_derived(&b);
        let nonce: [u8; 16] = h("fb447350c4e868c52ac3275cf9d4327e").try_into().unwrap();
        assert_eq!(
            hex::encode(k.mac(&nonce, &h("f3f6"))),
            "f4c633c3044fc145f84f335cb81953de"
        );
    }

    #[test]
    fn master_key_json_is_checked() {
        assert!(MasterKey::from_json(b"{}").is_err());
        assert!(MasterKey::from_json(b"not json").is_err());
        let short = br#"{"mac":{"k":"AAAA","r":"AAAA"},"encrypt":"AAAA"}"#;
        assert!(MasterKey::from_json(short).is_err());
    }
}
