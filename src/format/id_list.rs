//! Id lists (format-spec/18-put-only.md, "Id lists"): one per index file,
//! naming the blobs it lists (type and id) grouped by pack, sealed under the
//! dedup key instead of the AEAD key. A put-only client holding the dedup
//! key reads them to deduplicate against the whole repository without
//! being able to read an index file (offsets, lengths) or anything else.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::format::envelope::{self, ObjectType};
use crate::format::index::{BlobKind, IndexFile, PackEntry};
use crate::ids::{BlobId, IndexId, PackId};

/// The blob ids of one index file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdList {
    /// The index file this list mirrors.
    pub index: IndexId,
    /// Its packs in its order, each with its blobs' types and ids in order.
    pub packs: Vec<(PackId, Vec<(BlobKind, BlobId)>)>,
}

impl IdList {
    /// The list mirroring index file `index` whose content is `file`; its
    /// condemnation records and supersessions are not part of it.
    pub fn of(index: IndexId, file: &IndexFile) -> IdList {
        IdList {
            index,
            packs: file
                .packs
                .iter()
                .map(|p| (p.id, p.blobs.iter().map(|b| (p.kind, b.id)).collect()))
                .collect(),
        }
    }

    /// Whether this list mirrors index file `index` exactly: same packs,
    /// same blobs, same types, same order, nothing more.
    pub fn mirrors(&self, index: &IndexId, file: &IndexFile) -> bool {
        *self == IdList::of(*index, file)
    }

    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("postcard encoding to a Vec cannot fail")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        crate::format::decode_exact(bytes, "id list")
    }

    /// The stored bytes: the ordinary envelope under the dedup key.
    pub fn seal(&self, dedup_key: &[u8; 32]) -> Vec<u8> {
        envelope::seal_under(dedup_key, ObjectType::IdList, &self.encode(), Some(1))
    }

    /// Opens and decodes stored bytes (the caller checks their name).
    pub fn open(dedup_key: &[u8; 32], sealed: &[u8]) -> Result<Self> {
        Self::decode(&envelope::open_under(
            dedup_key,
            ObjectType::IdList,
            sealed,
        )?)
    }

    /// The rows a put-only client's dedup cache takes from this list, as
    /// an index file without offsets or sizes (it never reads a blob). A
    /// pack holds one kind of blob (04-pack.md): a list that mixes kinds
    /// within a pack is corrupt.
    pub fn to_cache_rows(&self) -> Result<IndexFile> {
        let mut packs = Vec::with_capacity(self.packs.len());
        for (id, blobs) in &self.packs {
            let kind = blobs.first().map_or(BlobKind::Data, |b| b.0);
            if blobs.iter().any(|b| b.0 != kind) {
                return Err(Error::corrupt(
                    "id list",
                    format!("pack {id} mixes data and tree blobs"),
                ));
            }
            packs.push(PackEntry {
                id: *id,
                kind,
                size: 0,
                blobs: blobs
                    .iter()
                    .map(|(_, b)| crate::format::index::BlobEntry {
                        id: *b,
                        offset: 0,
                        length: 0,
                        raw_length: 0,
                    })
                    .collect(),
            });
        }
        Ok(IndexFile {
            packs,
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKey;
    use proptest::prelude::*;

    fn dedup_key() -> [u8; 32] {
        *MasterKey::from_bytes([42; 32])
            .derive()
            .dedup_key()
            .unwrap()
    }

    fn sample() -> IdList {
        IdList {
            index: IndexId([0x11; 32]),
            packs: vec![(
                PackId([0x33; 32]),
                vec![(BlobKind::Tree, BlobId([0x44; 32]))],
            )],
        }
    }

    /// Golden: the encoding of 18-put-only.md, and a list sealed once under
    /// the dedup key of master key [42; 32] (its random nonce pinned here).
    #[test]
    fn golden_id_list() {
        let expect = format!(
            "{}01{}0101{}",
            "11".repeat(32),
            "33".repeat(32),
            "44".repeat(32)
        );
        assert_eq!(hex::encode(sample().encode()), expect);
        let sealed = hex::decode(
            "ccd5bae6a9f6ba824f6f176b5b2ac76105de83a48b79a57f2479df906e720242\
             bd0fed27b7ded8f3760735bb9cc4b038461e0778d83b590fc7b41794d8a23460dd95",
        )
        .unwrap();
        assert_eq!(IdList::open(&dedup_key(), &sealed).unwrap(), sample());
        // The AD names the type: the same bytes do not open as an index.
        let keys = MasterKey::from_bytes([42; 32]).derive();
        assert!(envelope::open(&keys, ObjectType::Index, None, &sealed, None).is_err());
        assert!(IdList::open(&[7; 32], &sealed).is_err());
    }

    #[test]
    fn mirrors_exactly_and_refuses_mixed_kinds() {
        let ix = crate::format::index::tests::sample();
        let list = IdList::of(IndexId([0x11; 32]), &ix);
        assert_eq!(list, sample());
        assert!(list.mirrors(&IndexId([0x11; 32]), &ix));
        assert!(!list.mirrors(&IndexId([0x12; 32]), &ix));
        let mut extra = list.clone();
        extra.packs[0].1.push((BlobKind::Tree, BlobId([5; 32])));
        assert!(!extra.mirrors(&IndexId([0x11; 32]), &ix));
        let rows = list.to_cache_rows().unwrap();
        assert_eq!(rows.packs[0].kind, BlobKind::Tree);
        assert_eq!(rows.packs[0].blobs[0].id, BlobId([0x44; 32]));
        extra.packs[0].1.push((BlobKind::Data, BlobId([6; 32])));
        assert!(extra.to_cache_rows().is_err());
    }

    #[test]
    fn decode_refuses_junk() {
        let mut bytes = sample().encode();
        bytes.push(0);
        assert!(IdList::decode(&bytes).is_err(), "trailing byte");
        bytes.pop();
        bytes[32 + 1 + 32 + 1] = 2; // BlobKind 2 does not exist
        assert!(IdList::decode(&bytes).is_err(), "unknown kind");
        assert!(IdList::decode(&[]).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn round_trips_through_the_envelope(ix in crate::format::index::tests::index_file()) {
            let list = IdList::of(IndexId([1; 32]), &ix);
            prop_assert_eq!(IdList::decode(&list.encode()).unwrap(), list.clone());
            let sealed = list.seal(&dedup_key());
            prop_assert_eq!(IdList::open(&dedup_key(), &sealed).unwrap(), list);
        }
    }
}
