//! Snapshots: small sealed files naming a root tree plus who, when and what.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::format::tree::Timestamp;
use crate::ids::{SnapshotId, TreeId};

/// Counts recorded at the end of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Summary {
    pub files_new: u64,
    pub files_changed: u64,
    pub files_unchanged: u64,
    pub dirs: u64,
    /// Entries that could not be read and were left out.
    pub errors: u64,
    /// Total size of all files in the snapshot.
    pub total_bytes: u64,
    /// File content actually read from the source.
    pub bytes_read: u64,
    pub blobs_added: u64,
    /// Plaintext bytes of new blobs, and what they took after compression and sealing.
    pub bytes_added: u64,
    pub bytes_added_stored: u64,
    pub packs_added: u64,
    pub duration_ms: u64,
}

/// One snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub time: Timestamp,
    /// The local UTC offset when the snapshot was taken, for display and retention buckets.
    pub utc_offset_secs: i32,
    pub host: String,
    pub username: String,
    pub tags: Vec<String>,
    /// The absolute source paths as given (lossy UTF-8; used to find parents and filter).
    pub paths: Vec<String>,
    pub excludes: Vec<String>,
    pub parent: Option<SnapshotId>,
    pub tree: TreeId,
    /// Set on snapshots written by `repair snapshots`: the damaged original.
    pub original: Option<SnapshotId>,
    pub program: String,
    pub summary: Summary,
}

impl Snapshot {
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("postcard encoding to a Vec cannot fail")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        crate::format::decode_exact(bytes, "snapshot")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn snapshot() -> impl Strategy<Value = Snapshot> {
        let strings = || prop::collection::vec(".{0,12}", 0..4);
        let id = || any::<[u8; 32]>();
        (
            (
                any::<i64>(),
                any::<u32>(),
                any::<i32>(),
                ".{0,12}",
                ".{0,12}",
            ),
            (strings(), strings(), strings()),
            (
                prop::option::of(id()),
                id(),
                prop::option::of(id()),
                ".{0,12}",
            ),
            prop::array::uniform12(any::<u64>()),
        )
            .prop_map(|(a, b, c, s)| Snapshot {
                time: Timestamp {
                    secs: a.0,
                    nanos: a.1,
                },
                utc_offset_secs: a.2,
                host: a.3,
                username: a.4,
                tags: b.0,
                paths: b.1,
                excludes: b.2,
                parent: c.0.map(SnapshotId),
                tree: TreeId(c.1),
                original: c.2.map(SnapshotId),
                program: c.3,
                summary: Summary {
                    files_new: s[0],
                    files_changed: s[1],
                    files_unchanged: s[2],
                    dirs: s[3],
                    errors: s[4],
                    total_bytes: s[5],
                    bytes_read: s[6],
                    blobs_added: s[7],
                    bytes_added: s[8],
                    bytes_added_stored: s[9],
                    packs_added: s[10],
                    duration_ms: s[11],
                },
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn encode_decode_round_trip(s in snapshot()) {
            let bytes = s.encode();
            prop_assert_eq!(Snapshot::decode(&bytes).unwrap(), s);
        }
    }

    pub(crate) fn sample() -> Snapshot {
        Snapshot {
            time: Timestamp {
                secs: 1_700_000_000,
                nanos: 0,
            },
            utc_offset_secs: -3600,
            host: "h".into(),
            username: "u".into(),
            tags: vec!["t".into()],
            paths: vec!["/p".into()],
            excludes: vec![],
            parent: Some(SnapshotId([0x55; 32])),
            tree: TreeId([0x66; 32]),
            original: None,
            program: "cairn".into(),
            summary: Summary {
                files_new: 1,
                files_changed: 2,
                files_unchanged: 3,
                dirs: 4,
                errors: 0,
                total_bytes: 300,
                bytes_read: 5,
                blobs_added: 6,
                bytes_added: 7,
                bytes_added_stored: 8,
                packs_added: 9,
                duration_ms: 10,
            },
        }
    }

    #[test]
    fn golden_snapshot() {
        let expect = [
            "80c49fd50c00",                    // time: secs zigzag varint, nanos
            "9f38",                            // utc_offset_secs -3600: zigzag 7199
            "0168",                            // host "h"
            "0175",                            // username "u"
            "010174",                          // tags ["t"]
            "01022f70",                        // paths ["/p"]
            "00",                              // excludes []
            &format!("01{}", "55".repeat(32)), // parent Some
            &"66".repeat(32),                  // tree
            "00",                              // original None
            "05636169726e",                    // program "cairn"
            "0102030400ac020506070809 0a",     // summary, 12 varints
        ]
        .concat()
        .replace(' ', "");
        assert_eq!(hex::encode(sample().encode()), expect);
    }

    #[test]
    fn decode_refuses_junk() {
        let good = sample().encode();
        let mut bytes = good.clone();
        bytes.push(0);
        assert!(Snapshot::decode(&bytes).is_err(), "trailing byte");
        let parent_tag = 6 + 2 + 2 + 2 + 3 + 4 + 1;
        assert_eq!(good[parent_tag], 1);
        bytes = good.clone();
        bytes[parent_tag] = 2;
        assert!(Snapshot::decode(&bytes).is_err(), "option tag 2");
        bytes = good.clone();
        bytes[7 + 1] = 0xff; // host "h" → invalid UTF-8
        assert!(Snapshot::decode(&bytes).is_err(), "bad UTF-8");
        for n in 0..good.len() {
            assert!(Snapshot::decode(&good[..n]).is_err(), "truncated to {n}");
        }
    }
}
