//! Backup markers: the "backup in progress" record a running backup keeps
//! at `running/<id>` so prune can see it (format-spec/12-prune.md). Pure
//! codec; writing, refreshing and reading them is `repo::marker`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::ID_LEN;

/// The random name of one backup's marker, chosen when the backup starts.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MarkerId(pub [u8; ID_LEN]);

impl MarkerId {
    pub fn random() -> Self {
        let mut id = [0u8; ID_LEN];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut id);
        MarkerId(id)
    }
}

impl fmt::Display for MarkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for MarkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MarkerId({})", &hex::encode(self.0)[..8])
    }
}

impl FromStr for MarkerId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let mut out = [0u8; ID_LEN];
        hex::decode_to_slice(s, &mut out)
            .map_err(|e| Error::Usage(format!("invalid id {s:?}: {e}")))?;
        Ok(MarkerId(out))
    }
}

/// The content of a marker, sealed as an envelope of type `Marker`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkerRecord {
    /// Who runs the backup, for messages.
    pub host: String,
    pub pid: u32,
    /// When the backup started: read before the marker was first stored,
    /// so before the backup listed snapshots or loaded the index. Unix
    /// seconds (UTC). The same in every version of one marker.
    pub started: i64,
    /// When this version was written.
    pub time: i64,
    /// The marker protects the backup while `now < expires` (plus prune's
    /// clock-skew margin); a refresh moves it on.
    pub expires: i64,
}

/// Upper bound on a record's encoded size; anything longer is hostile.
pub const MAX_RECORD_LEN: usize = 4096;

impl MarkerRecord {
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("postcard encoding to a Vec cannot fail")
    }

    /// Decodes the plaintext of a marker (after the envelope is opened).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_RECORD_LEN {
            return Err(Error::corrupt("backup marker", "record too long"));
        }
        crate::format::decode_exact(bytes, "backup marker")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> MarkerRecord {
        MarkerRecord {
            host: "h".into(),
            pid: 300,
            started: 1_795_305_600,
            time: 1_795_305_900,
            expires: 1_795_306_800,
        }
    }

    #[test]
    fn golden_marker_record() {
        let expect = format!(
            "{}{}{}{}{}",
            "0168",       // host "h"
            "ac02",       // pid 300
            "80c291b00d", // started (zigzag varint)
            "d8c691b00d", // time
            "e0d491b00d", // expires
        );
        assert_eq!(hex::encode(sample().encode()), expect);
        assert_eq!(MarkerRecord::decode(&sample().encode()).unwrap(), sample());
    }

    #[test]
    fn decode_refuses_junk() {
        let mut b = sample().encode();
        b.push(0);
        assert!(MarkerRecord::decode(&b).is_err());
        assert!(MarkerRecord::decode(&[]).is_err());
        assert!(MarkerRecord::decode(&vec![0u8; MAX_RECORD_LEN + 1]).is_err());
    }

    #[test]
    fn ids_print_and_parse_as_hex() {
        let id = MarkerId([0xab; ID_LEN]);
        assert_eq!(id.to_string(), "ab".repeat(32));
        assert_eq!(id.to_string().parse::<MarkerId>().unwrap(), id);
        assert_ne!(MarkerId::random(), MarkerId::random());
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = MarkerRecord::decode(&bytes);
        }
    }
}
