//! Audit objects: the rolling audit's log, stored in the repository so any
//! machine can continue the rotation. Each `check --audit` run writes one
//! immutable object with a record per pack it verified; a run may write an
//! object that supersedes older ones (compaction), as index files do.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::format::tree::Timestamp;
use crate::ids::{PackId, ID_LEN};

/// Plain BLAKE3 of an audit object's stored bytes: its name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct AuditId(pub [u8; ID_LEN]);

impl fmt::Display for AuditId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for AuditId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuditId({})", &hex::encode(self.0)[..8])
    }
}

impl FromStr for AuditId {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self> {
        let mut out = [0u8; ID_LEN];
        hex::decode_to_slice(s, &mut out)
            .map_err(|e| crate::Error::Usage(format!("invalid id {s:?}: {e}")))?;
        Ok(AuditId(out))
    }
}

/// What verifying one pack found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditResult {
    /// Name = hash of the bytes, header agrees with the index, every blob opens.
    Ok,
    /// Read, but something in it is wrong.
    Damaged,
}

/// One verification of one pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub pack: PackId,
    /// When it was verified (UTC).
    pub time: Timestamp,
    pub result: AuditResult,
}

/// The content of one audit object.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AuditLog {
    /// Audit objects this one replaces: it repeats every record of theirs
    /// that still matters (the latest per pack still present).
    pub supersedes: Vec<AuditId>,
    /// When the run that wrote it started, and where.
    pub time: Timestamp,
    pub host: String,
    pub records: Vec<AuditRecord>,
}

impl AuditLog {
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("postcard encoding to a Vec cannot fail")
    }

    /// Pure decoding of the plaintext (after the envelope is opened).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        crate::format::decode_exact(bytes, "audit log")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record() -> impl Strategy<Value = AuditRecord> {
        (any::<[u8; 32]>(), any::<i64>(), any::<u32>(), any::<bool>()).prop_map(
            |(p, secs, nanos, ok)| AuditRecord {
                pack: PackId(p),
                time: Timestamp { secs, nanos },
                result: if ok {
                    AuditResult::Ok
                } else {
                    AuditResult::Damaged
                },
            },
        )
    }

    pub(crate) fn audit_log() -> impl Strategy<Value = AuditLog> {
        (
            prop::collection::vec(any::<[u8; 32]>().prop_map(AuditId), 0..3),
            any::<i64>(),
            ".{0,12}",
            prop::collection::vec(record(), 0..6),
        )
            .prop_map(|(supersedes, secs, host, records)| AuditLog {
                supersedes,
                time: Timestamp { secs, nanos: 0 },
                host,
                records,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn encode_decode_round_trip(log in audit_log()) {
            let bytes = log.encode();
            prop_assert_eq!(AuditLog::decode(&bytes).unwrap(), log);
        }
    }

    pub(crate) fn sample() -> AuditLog {
        AuditLog {
            supersedes: vec![AuditId([0x11; 32])],
            time: Timestamp {
                secs: 1_700_000_000,
                nanos: 0,
            },
            host: "h".into(),
            records: vec![
                AuditRecord {
                    pack: PackId([0x22; 32]),
                    time: Timestamp {
                        secs: 1_700_000_001,
                        nanos: 5,
                    },
                    result: AuditResult::Ok,
                },
                AuditRecord {
                    pack: PackId([0x33; 32]),
                    time: Timestamp {
                        secs: 1_700_000_002,
                        nanos: 0,
                    },
                    result: AuditResult::Damaged,
                },
            ],
        }
    }

    #[test]
    fn golden_audit_log() {
        let expect = [
            &format!("01{}", "11".repeat(32)), // supersedes [11…11]
            "80c49fd50c00",                    // time 1700000000 s, 0 ns
            "0168",                            // host "h"
            "02",                              // two records
            &"22".repeat(32),                  // pack
            "82c49fd50c05",                    // 1700000001 s, 5 ns
            "00",                              // Ok
            &"33".repeat(32),                  // pack
            "84c49fd50c00",                    // 1700000002 s, 0 ns
            "01",                              // Damaged
        ]
        .concat();
        assert_eq!(hex::encode(sample().encode()), expect);
        assert_eq!(AuditLog::default().encode(), [0, 0, 0, 0, 0]);
    }

    #[test]
    fn decode_refuses_junk() {
        let good = sample().encode();
        let mut bytes = good.clone();
        bytes.push(0);
        assert!(AuditLog::decode(&bytes).is_err(), "trailing byte");
        bytes = good.clone();
        let last = bytes.len() - 1;
        bytes[last] = 2; // no AuditResult 2
        assert!(AuditLog::decode(&bytes).is_err(), "unknown result");
        for n in 0..good.len() {
            assert!(AuditLog::decode(&good[..n]).is_err(), "truncated to {n}");
        }
    }
}
