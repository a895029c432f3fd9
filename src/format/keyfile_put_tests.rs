//! Put-only key files (format-spec/18-put-only.md): kinds never cross,
//! and the bundle holds no secret that opens anything.

use super::config::{ChunkerParams, Config};
use super::keyfile::{KeyFile, KeyKind, Unlocked, MAGIC, PUT_MAGIC};
use crate::crypto::{KdfParams, MasterKey};

const MASTER: [u8; 32] = [42; 32];

fn config() -> Config {
    Config {
        repo_id: vec![9; 32],
        version: crate::format::FORMAT_VERSION,
        chunker: ChunkerParams::default(),
        pack_size: 16 << 20,
        compression: Some(3),
        lock: None,
        chunking: None,
    }
}

fn put_only() -> KeyFile {
    KeyFile::create_put_only(
        &MasterKey::from_bytes(MASTER).put_keys(),
        &config(),
        b"put",
        KdfParams::insecure_for_tests(),
        Default::default(),
        "h".into(),
        "u".into(),
    )
    .unwrap()
}

fn full() -> KeyFile {
    super::keyfile::tests::sample()
}

#[test]
fn put_only_key_file_round_trips_with_its_kind() {
    let kf = put_only();
    let bytes = kf.encode();
    assert_eq!(&bytes[..8], PUT_MAGIC);
    let back = KeyFile::decode(&bytes).unwrap();
    assert_eq!(back.kind, KeyKind::PutOnly);
    assert_eq!(back, kf);
    match back.open_secret(b"put").unwrap() {
        Some(Unlocked::PutOnly(put, cfg)) => {
            assert!(put == MasterKey::from_bytes(MASTER).put_keys());
            assert_eq!(cfg, config());
        }
        _ => panic!("a put-only key file opens as put-only"),
    }
    assert!(back.open_secret(b"other").unwrap().is_none());
    // No master key inside: the full-key path finds nothing to unlock.
    assert!(back.unlock(b"put").unwrap().is_none());
}

#[test]
fn kinds_never_cross_even_with_the_magic_swapped() {
    // A put-only body under the full magic: the AD differs, so it opens as
    // nothing (not as a garbage master key), and vice versa.
    let mut as_full = put_only().encode();
    as_full[..8].copy_from_slice(MAGIC);
    let kf = KeyFile::decode(&as_full).unwrap();
    assert_eq!(kf.kind, KeyKind::Full);
    assert!(kf.open_secret(b"put").unwrap().is_none());
    let mut as_put = full().encode();
    as_put[..8].copy_from_slice(PUT_MAGIC);
    let kf = KeyFile::decode(&as_put).unwrap();
    assert_eq!(kf.kind, KeyKind::PutOnly);
    assert!(kf.open_secret(b"password").unwrap().is_none());
    assert!(matches!(
        full().open_secret(b"password").unwrap(),
        Some(Unlocked::Full(m)) if m.expose() == &MASTER
    ));
}

#[test]
fn old_readers_refuse_the_put_only_magic() {
    // What a reader that knows only "CAIRNKEY" does with it: bad magic.
    let bytes = put_only().encode();
    assert!(bytes.strip_prefix(MAGIC.as_slice()).is_none());
}

/// The sealed bundle, opened, holds the id key, gear table, public sealing
/// key and config, and none of the master key, the AEAD subkey or the
/// sealing secret.
#[test]
fn the_bundle_never_contains_the_master_or_aead_key() {
    let kf = put_only();
    let kek = kf.kdf.derive(b"put", &kf.salt).unwrap();
    let plain = crate::crypto::open_with(&kek, &kf.sealed_master, b"cairn\x01put", "t").unwrap();
    let secrets = [
        ("master", MASTER.to_vec()),
        (
            "aead",
            blake3::derive_key("cairn 2026-11-22 v1 object encryption key", &MASTER).to_vec(),
        ),
        (
            "seal secret",
            blake3::derive_key("cairn 2026-12-06 v1 x25519 sealing key", &MASTER).to_vec(),
        ),
    ];
    for (name, secret) in secrets {
        for w in [8usize, 32] {
            assert!(
                !plain
                    .windows(w)
                    .any(|win| secret.windows(w).any(|s| s == win)),
                "{name} ({w}-byte run) in the bundle"
            );
        }
    }
    let put = MasterKey::from_bytes(MASTER).put_keys();
    assert!(
        plain.windows(32).any(|w| w == put.id),
        "the id key is there"
    );
    assert!(plain.windows(32).any(|w| w == put.seal_public));
    let stored = kf.encode();
    for secret in [MASTER, put.id] {
        assert!(!stored.windows(32).any(|w| w == secret), "stored in clear");
    }
}

/// Field 6 (the dedup key): present by default, `00` for an
/// own-dedup-only key, and a bundle of five fields (written before id
/// lists existed) still opens, as "no dedup key".
#[test]
fn dedup_key_field_and_old_five_field_bundles() {
    let with = put_only();
    match with.open_secret(b"put").unwrap() {
        Some(Unlocked::PutOnly(p, _)) => assert!(p.dedup.is_some()),
        _ => panic!("opens as put-only"),
    }
    let mut own = MasterKey::from_bytes(MASTER).put_keys();
    own.dedup = None;
    let kf = KeyFile::create_put_only(
        &own,
        &config(),
        b"put",
        KdfParams::insecure_for_tests(),
        Default::default(),
        "h".into(),
        "u".into(),
    )
    .unwrap();
    let kek = kf.kdf.derive(b"put", &kf.salt).unwrap();
    let ad = b"cairn\x01put";
    let plain = crate::crypto::open_with(&kek, &kf.sealed_master, ad, "t").unwrap();
    assert_eq!(plain.last(), Some(&0), "field 6 is the postcard None");
    match kf.open_secret(b"put").unwrap() {
        Some(Unlocked::PutOnly(p, c)) => assert!(p == own && c == config()),
        _ => panic!("opens as put-only"),
    }
    // The same bundle without field 6: what an older cairn wrote.
    let old = KeyFile {
        sealed_master: crate::crypto::seal_with(&kek, &plain[..plain.len() - 1], ad),
        ..kf.clone()
    };
    let old = KeyFile::decode(&old.encode()).unwrap();
    match old.open_secret(b"put").unwrap() {
        Some(Unlocked::PutOnly(p, c)) => assert!(p == own && c == config()),
        _ => panic!("a five-field bundle still opens"),
    }
    // Junk after field 6 is refused, not read as an old bundle.
    let junk = KeyFile {
        sealed_master: crate::crypto::seal_with(&kek, &[plain.as_slice(), &[0]].concat(), ad),
        ..kf
    };
    assert!(junk.open_secret(b"put").is_err());
}
