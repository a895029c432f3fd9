//! Index files: which blob lives in which pack, at which offset and length.
//! Written after the packs they describe, before any snapshot that needs them.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ids::{BlobId, IndexId, PackId};

/// The two kinds of blob, kept in separate packs so trees stay cheap to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BlobKind {
    Data,
    Tree,
}

/// One blob's place in its pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobEntry {
    pub id: BlobId,
    /// Byte offset of the sealed blob in the pack.
    pub offset: u32,
    /// Length of the sealed blob as stored.
    pub length: u32,
    /// Length of the plaintext (before compression and sealing).
    pub raw_length: u32,
}

/// One pack and everything in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackEntry {
    pub id: PackId,
    pub kind: BlobKind,
    /// Size of the pack file in bytes.
    pub size: u64,
    pub blobs: Vec<BlobEntry>,
}

/// A pack prune has condemned: it stays readable, but writers MUST NOT
/// deduplicate against it, and a later prune deletes it once the grace
/// period has passed and no snapshot needs it (format-spec/12-prune.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CondemnedPack {
    pub id: PackId,
    /// When it was condemned, in seconds since the Unix epoch (UTC).
    pub since: i64,
}

/// The content of one index file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IndexFile {
    /// Index files this one replaces (written by prune and repair); readers
    /// ignore a superseded index file once they have seen this one.
    pub supersedes: Vec<IndexId>,
    pub packs: Vec<PackEntry>,
    /// Packs condemned by prune; a condemned pack may or may not also be
    /// listed in `packs` (an unindexed pack can be condemned too).
    pub condemned: Vec<CondemnedPack>,
}

impl IndexFile {
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("postcard encoding to a Vec cannot fail")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        crate::format::decode_exact(bytes, "index")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn blob_entry() -> impl Strategy<Value = BlobEntry> {
        (any::<[u8; 32]>(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(
            |(id, offset, length, raw_length)| BlobEntry {
                id: BlobId(id),
                offset,
                length,
                raw_length,
            },
        )
    }

    pub(crate) fn index_file() -> impl Strategy<Value = IndexFile> {
        let pack = (
            any::<[u8; 32]>(),
            any::<bool>(),
            any::<u64>(),
            prop::collection::vec(blob_entry(), 0..6),
        )
            .prop_map(|(id, tree, size, blobs)| PackEntry {
                id: PackId(id),
                kind: if tree { BlobKind::Tree } else { BlobKind::Data },
                size,
                blobs,
            });
        let condemned = (any::<[u8; 32]>(), any::<i64>()).prop_map(|(id, since)| CondemnedPack {
            id: PackId(id),
            since,
        });
        (
            prop::collection::vec(any::<[u8; 32]>().prop_map(IndexId), 0..3),
            prop::collection::vec(pack, 0..5),
            prop::collection::vec(condemned, 0..3),
        )
            .prop_map(|(supersedes, packs, condemned)| IndexFile {
                supersedes,
                packs,
                condemned,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn encode_decode_round_trip(ix in index_file()) {
            let bytes = ix.encode();
            prop_assert_eq!(IndexFile::decode(&bytes).unwrap(), ix);
        }
    }

    pub(crate) fn sample() -> IndexFile {
        IndexFile {
            supersedes: vec![IndexId([0x22; 32])],
            packs: vec![PackEntry {
                id: PackId([0x33; 32]),
                kind: BlobKind::Tree,
                size: 300,
                blobs: vec![BlobEntry {
                    id: BlobId([0x44; 32]),
                    offset: 0,
                    length: 200,
                    raw_length: 1000,
                }],
            }],
            condemned: vec![CondemnedPack {
                id: PackId([0x55; 32]),
                since: 1_795_305_600,
            }],
        }
    }

    #[test]
    fn golden_index_file() {
        let expect = format!(
            "01{}01{}01ac02{}{}{}{}01{}{}",
            "22".repeat(32),
            "33".repeat(32),
            "01",
            "44".repeat(32),
            "00",
            "c801e807",
            "55".repeat(32),
            "80c291b00d"
        );
        assert_eq!(hex::encode(sample().encode()), expect);
        assert_eq!(IndexFile::default().encode(), [0, 0, 0]);
        assert_eq!(postcard::to_allocvec(&BlobKind::Data).unwrap(), [0]);
        assert_eq!(postcard::to_allocvec(&BlobKind::Tree).unwrap(), [1]);
    }

    #[test]
    fn decode_refuses_junk() {
        let mut bytes = sample().encode();
        bytes.push(0);
        assert!(IndexFile::decode(&bytes).is_err(), "trailing byte");
        bytes.pop();
        bytes[1 + 1 + 32 + 32] = 2; // BlobKind 2 does not exist
        assert!(IndexFile::decode(&bytes).is_err(), "unknown kind");
        assert!(IndexFile::decode(&[]).is_err());
    }
}
