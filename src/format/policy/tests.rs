use super::*;
use crate::crypto::MasterKey;
use crate::error::ErrorKind;
use proptest::prelude::*;

fn keys() -> Keys {
    MasterKey::from_bytes([42; 32]).derive()
}

pub(crate) fn sample() -> Policy {
    Policy {
        last: 3,
        daily: 7,
        weekly: 4,
        monthly: 12,
        yearly: 2,
        within: Some(Span {
            years: 2,
            months: 5,
            days: 7,
            hours: 3,
        }),
        within_daily: Some(Span {
            days: 7,
            ..Span::default()
        }),
        tags: vec!["prod".into()],
        min: 2,
        ..Policy::default()
    }
}

#[test]
fn golden_policy_body() {
    let expect = [
        "03",           // last 3
        "00",           // hourly 0
        "07040c02",     // daily 7, weekly 4, monthly 12, yearly 2
        "0102050703",   // within Some(2y5m7d3h)
        "00",           // within_hourly None
        "0100000700",   // within_daily Some(7d)
        "000000",       // within_weekly, _monthly, _yearly None
        "010470726f64", // tags ["prod"]
        "02",           // min 2
    ]
    .concat();
    assert_eq!(hex::encode(sample().encode()), expect);
    assert_eq!(
        Policy::decode(&hex::decode(expect).unwrap()).unwrap(),
        sample()
    );
}

/// Golden: `sample()` sealed under master key [42; 32] (its random nonce
/// fixed by this vector). Pins the object type (7) in the associated data.
#[test]
fn golden_sealed_policy_opens() {
    let sealed = hex::decode(GOLDEN_SEALED).unwrap();
    assert_eq!(Policy::open(&keys(), &sealed).unwrap(), sample());
    for ty in [ObjectType::Config, ObjectType::Snapshot] {
        assert!(envelope::open(&keys(), ty, None, &sealed, None).is_err());
    }
}

const GOLDEN_SEALED: &str = "3e9510dde886f95ed5c07f5a16e657e36f1bc220c6fa06ba\
    ebee41e40b172db01c42cb99b751ff87ba327e81c8105d022b\
    9a9deb1597b0d6877cfddbb1b97d643f6d097a";

#[test]
fn span_display_is_canonical() {
    let s = |years, months, days, hours| Span {
        years,
        months,
        days,
        hours,
    };
    assert_eq!(s(2, 5, 7, 3).to_string(), "2y5m7d3h");
    assert_eq!(s(0, 0, 7, 0).to_string(), "7d");
    assert_eq!(s(1, 0, 0, 12).to_string(), "1y12h");
    assert_eq!(s(0, 0, 0, 0).to_string(), "0h");
}

#[test]
fn decode_refuses_junk_and_invalid_policies() {
    let good = sample().encode();
    let mut bytes = good.clone();
    bytes.push(0);
    assert!(Policy::decode(&bytes).is_err(), "trailing byte");
    for n in 0..good.len() {
        assert!(Policy::decode(&good[..n]).is_err(), "truncated to {n}");
    }
    bytes = good.clone();
    bytes[6] = 2; // option tag of `within`
    assert!(Policy::decode(&bytes).is_err(), "option tag 2");
    bytes = good.clone();
    bytes[0] = 0x83; // over-long varint for 3
    bytes.insert(1, 0x00);
    assert!(Policy::decode(&bytes).is_err(), "non-canonical varint");
    let invalid = [
        Policy::default(),
        Policy {
            within: Some(Span::default()),
            last: 1,
            ..Policy::default()
        },
        Policy {
            tags: vec![String::new()],
            ..Policy::default()
        },
    ];
    for p in invalid {
        assert!(p.validate().is_err(), "{p:?}");
        let err = Policy::decode(&p.encode()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{p:?}");
    }
}

#[test]
fn sealed_round_trip_and_wrong_key() {
    let k = keys();
    let sealed = sample().seal(&k);
    assert_eq!(Policy::open(&k, &sealed).unwrap(), sample());
    let stranger = MasterKey::from_bytes([1; 32]).derive();
    assert_eq!(
        Policy::open(&stranger, &sealed).unwrap_err().kind(),
        ErrorKind::Corrupt
    );
}

fn span() -> impl Strategy<Value = Span> {
    (any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(
        |(years, months, days, hours)| Span {
            years,
            months,
            days,
            hours,
        },
    )
}

pub(crate) fn policy() -> impl Strategy<Value = Policy> {
    (
        prop::array::uniform7(any::<u32>()),
        prop::array::uniform6(prop::option::of(span())),
        prop::collection::vec(".{0,8}", 0..4),
    )
        .prop_map(|(n, s, tags)| Policy {
            last: n[0],
            hourly: n[1],
            daily: n[2],
            weekly: n[3],
            monthly: n[4],
            yearly: n[5],
            within: s[0],
            within_hourly: s[1],
            within_daily: s[2],
            within_weekly: s[3],
            within_monthly: s[4],
            within_yearly: s[5],
            tags,
            min: n[6],
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn encode_decode_round_trip(p in policy()) {
        let bytes = p.encode();
        match p.validate() {
            Ok(()) => prop_assert_eq!(Policy::decode(&bytes).unwrap(), p),
            Err(_) => prop_assert!(Policy::decode(&bytes).is_err()),
        }
    }

    #[test]
    fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(p) = Policy::decode(&bytes) {
            prop_assert_eq!(p.encode(), bytes);
        }
    }
}
