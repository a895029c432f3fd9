//! Sealed-to-public objects: golden vector, both forms through one opener,
//! and hostile bytes (flipped, truncated, forged marks) failing cleanly.

use proptest::prelude::*;

use super::*;
use crate::error::ErrorKind;
use crate::format::envelope::{self, ObjectType};

fn full() -> Keys {
    MasterKey::from_bytes([42; 32]).derive()
}

fn put() -> Keys {
    Keys::put_only(&MasterKey::from_bytes([42; 32]).put_keys()).unwrap()
}

/// Golden: master key [42; 32], ephemeral secret [7; 32]. Pins the sealing
/// key derivation, the object key derivation and the sealed layout; the
/// envelope's nonce is the one this vector was made with.
#[test]
fn golden_sealed_envelope() {
    let m = MasterKey::from_bytes([42; 32]);
    let pk = m.put_keys();
    assert_eq!(hex::encode(pk.seal_public), GOLDEN_SEAL_PUBLIC);
    let session = sealed::Session::with_ephemeral(&[7; 32], &pk.seal_public).unwrap();
    let eph_pub = sealed::public_of(&[7; 32]);
    assert_eq!(hex::encode(eph_pub), GOLDEN_EPHEMERAL_PUBLIC);
    assert_eq!(hex::encode(session_key(&session)), GOLDEN_OBJECT_KEY);

    let keys = full();
    let id = keys.blob_id(b"cairn");
    let bytes = hex::decode(GOLDEN_SEALED).unwrap();
    assert_eq!(&bytes[..8], b"CAIRNSLD");
    assert_eq!(bytes[8..40], eph_pub);
    let plain = envelope::open(&keys, ObjectType::DataBlob, Some(&id), &bytes, Some(5)).unwrap();
    assert_eq!(plain, b"cairn");
    // The put-only writer with the same ephemeral key makes the same layout.
    let writer = Keys::put_only_with_ephemeral(&pk, &[7; 32]);
    let fresh = envelope::seal(&writer, ObjectType::DataBlob, Some(&id), b"cairn", None);
    assert_eq!(fresh.len(), bytes.len());
    assert_eq!(fresh[..40], bytes[..40]);
    assert_eq!(
        envelope::open(&keys, ObjectType::DataBlob, Some(&id), &fresh, Some(5)).unwrap(),
        b"cairn"
    );
}

fn session_key(s: &sealed::Session) -> [u8; 32] {
    // The object key is the AEAD key: open a known message with it.
    let mut buf = vec![0u8; SEALED_PREFIX_LEN + NONCE_LEN];
    buf.extend_from_slice(b"x");
    s.seal_in_place(&mut buf, b"");
    let derived = blake3::derive_key(
        "cairn 2026-12-06 v1 sealed object key",
        &[
            x25519_dalek::StaticSecret::from([7u8; 32])
                .diffie_hellman(&x25519_dalek::PublicKey::from(
                    MasterKey::from_bytes([42; 32]).put_keys().seal_public,
                ))
                .as_bytes()
                .as_slice(),
            &sealed::public_of(&[7; 32]),
            &MasterKey::from_bytes([42; 32]).put_keys().seal_public,
        ]
        .concat(),
    );
    assert_eq!(
        open_with(&derived, &buf[SEALED_PREFIX_LEN..], b"", "t").unwrap(),
        b"x"
    );
    derived
}

const GOLDEN_SEAL_PUBLIC: &str = "0ea7e08d2f21b009ba6112612b5af6b11c02bab02aac19205f03255be4aa3f08";
const GOLDEN_EPHEMERAL_PUBLIC: &str =
    "13be4feaeaf204c7fd3358fc9c00721881d174278128227ec674f37f7fe97b6d";
const GOLDEN_OBJECT_KEY: &str = "73356f65c87b2b8f707a4f665176e29a68c7388c92f5efd947ef908fe14d5e3e";
/// `"CAIRNSLD" || ephemeral public || nonce || E(00 "cairn") || tag`.
const GOLDEN_SEALED: &str = "434149524e534c44\
    13be4feaeaf204c7fd3358fc9c00721881d174278128227ec674f37f7fe97b6d\
    ec1181c27ea53555286dbf0da6902abe2d26d4096fb58804\
    cd0cb7a901a6\
    dd2aa3b12db6e4e6cff51249e96e68d8";

#[test]
fn put_only_keys_seal_but_never_open() {
    let (w, r) = (put(), full());
    assert!(w.is_put_only() && !r.is_put_only());
    let sealed = envelope::seal(&w, ObjectType::Index, None, b"index body", Some(3));
    assert!(sealed.starts_with(&SEALED_MARK));
    assert_eq!(
        envelope::open(&r, ObjectType::Index, None, &sealed, None).unwrap(),
        b"index body"
    );
    // Neither its own objects nor a full key's: a refusal, not corruption.
    let mine = envelope::open(&w, ObjectType::Index, None, &sealed, None).unwrap_err();
    assert_eq!(mine.kind(), ErrorKind::PutOnlyKey, "{mine}");
    let theirs = envelope::seal(&r, ObjectType::Index, None, b"x", None);
    let err = envelope::open(&w, ObjectType::Index, None, &theirs, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PutOnlyKey, "{err}");
    // Same blob ids and gear table as the full key: dedup works across them.
    assert_eq!(w.blob_id(b"chunk"), r.blob_id(b"chunk"));
    assert_eq!(w.gear()[..], r.gear()[..]);
    // Another repository's full key cannot open it; type and id are bound.
    let stranger = MasterKey::from_bytes([43; 32]).derive();
    assert!(envelope::open(&stranger, ObjectType::Index, None, &sealed, None).is_err());
    assert!(envelope::open(&r, ObjectType::Snapshot, None, &sealed, None).is_err());
}

#[test]
fn one_session_one_ephemeral_key_new_session_new_key() {
    let a = put();
    let x = a.seal(b"1", b"ad");
    let y = a.seal(b"2", b"ad");
    assert_eq!(x[8..40], y[8..40]);
    assert_ne!(x[40..64], y[40..64], "fresh nonce per object");
    let z = put().seal(b"1", b"ad");
    assert_ne!(x[8..40], z[8..40]);
}

#[test]
fn low_order_ephemeral_keys_are_refused() {
    let r = full();
    let sealed = put().seal(b"msg", b"ad");
    for point in [[0u8; 32], {
        let mut one = [0u8; 32];
        one[0] = 1;
        one
    }] {
        let mut bad = sealed.clone();
        bad[8..40].copy_from_slice(&point);
        let err = r.open(&bad, b"ad", "t").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The opener on hostile sealed objects: flipped bytes, truncations and
    /// appended junk fail cleanly (an error, never a panic, never success).
    #[test]
    fn hostile_sealed_objects_fail_cleanly(
        msg in proptest::collection::vec(any::<u8>(), 0..600),
        flips in proptest::collection::vec((any::<usize>(), 1u8..=255), 1..4),
        cut in any::<usize>(),
        junk in proptest::collection::vec(any::<u8>(), 0..40),
        compress in any::<bool>(),
    ) {
        let (w, r) = (put(), full());
        let id = [5u8; 32];
        let sealed = envelope::seal(&w, ObjectType::TreeBlob, Some(&id), &msg, compress.then_some(3));
        let open = |b: &[u8]| envelope::open(&r, ObjectType::TreeBlob, Some(&id), b, None);
        prop_assert_eq!(open(&sealed).unwrap(), msg.clone());
        let mut bad = sealed.clone();
        for (at, x) in &flips {
            let i = at % bad.len();
            bad[i] ^= x;
        }
        if bad != sealed {
            prop_assert!(open(&bad).is_err());
        }
        let cut = cut % sealed.len();
        prop_assert!(open(&sealed[..cut]).is_err());
        if !junk.is_empty() {
            let mut longer = sealed.clone();
            longer.extend_from_slice(&junk);
            prop_assert!(open(&longer).is_err());
        }
        // Anything at all after the mark: an error, never a panic.
        let mut forged = SEALED_MARK.to_vec();
        forged.extend_from_slice(&junk);
        forged.extend_from_slice(&msg);
        prop_assert!(open(&forged).is_err());
    }
}
