//! Typed 32-byte identifiers. A pack id can never be passed where a chunk id
//! is expected. All print and parse as lowercase hex; in human-readable serde
//! formats (JSON) they are hex strings, in postcard they are 32 raw bytes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Length in bytes of every identifier.
pub const ID_LEN: usize = 32;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub [u8; ID_LEN]);

        impl $name {
            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; ID_LEN] {
                &self.0
            }
            /// Lowercase hex, 64 characters.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
            /// The first 8 hex characters, for display.
            pub fn short(&self) -> String {
                hex::encode(&self.0[..4])
            }
            /// Builds an id from a byte slice of exactly [`ID_LEN`] bytes.
            pub fn from_slice(b: &[u8]) -> Option<Self> {
                <[u8; ID_LEN]>::try_from(b).ok().map($name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.short())
            }
        }

        impl FromStr for $name {
            type Err = crate::Error;
            fn from_str(s: &str) -> crate::Result<Self> {
                let mut out = [0u8; ID_LEN];
                hex::decode_to_slice(s, &mut out).map_err(|e| {
                    crate::Error::Usage(format!("invalid id {s:?}: {e}"))
                })?;
                Ok($name(out))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(&self.to_hex())
                } else {
                    self.0.serialize(s)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    let s = String::deserialize(d)?;
                    s.parse().map_err(serde::de::Error::custom)
                } else {
                    <[u8; ID_LEN]>::deserialize(d).map($name)
                }
            }
        }
    };
}

id_type!(
    /// Keyed BLAKE3 of a blob's plaintext (chunk or tree): its name in packs and indexes.
    BlobId
);
id_type!(
    /// Keyed BLAKE3 of a file-content chunk's plaintext.
    ChunkId
);
id_type!(
    /// Keyed BLAKE3 of an encoded tree's plaintext.
    TreeId
);
id_type!(
    /// Plain BLAKE3 of a pack file's stored bytes.
    PackId
);
id_type!(
    /// Plain BLAKE3 of an index file's stored bytes.
    IndexId
);
id_type!(
    /// Plain BLAKE3 of an id list's stored bytes (format-spec/18-put-only.md).
    IdListId
);
id_type!(
    /// Plain BLAKE3 of a snapshot file's stored bytes.
    SnapshotId
);
id_type!(
    /// Plain BLAKE3 of a key file's stored bytes.
    KeyId
);

impl From<ChunkId> for BlobId {
    fn from(c: ChunkId) -> Self {
        BlobId(c.0)
    }
}

impl From<TreeId> for BlobId {
    fn from(t: TreeId) -> Self {
        BlobId(t.0)
    }
}

/// Plain (unkeyed) BLAKE3 of stored bytes: how backend file names are derived.
pub fn content_hash(bytes: &[u8]) -> [u8; ID_LEN] {
    *blake3::hash(bytes).as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_json_is_hex() {
        let id = PackId(content_hash(b"x"));
        assert_eq!(id.to_hex().parse::<PackId>().unwrap(), id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{}\"", id.to_hex()));
        let bin = postcard::to_allocvec(&id).unwrap();
        assert_eq!(bin.len(), ID_LEN);
        assert_eq!(postcard::from_bytes::<PackId>(&bin).unwrap(), id);
    }

    #[test]
    fn bad_hex_is_an_error() {
        assert!("zz".parse::<SnapshotId>().is_err());
        assert!("abcd".parse::<SnapshotId>().is_err());
    }
}
