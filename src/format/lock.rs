//! Lock records: the content of one generation of the maintenance lock
//! (format-spec/11-lock.md). Pure codec; the protocol is in `repo::lock`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Whether a generation holds the lock or gives it up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockState {
    /// The lock is held until `expires` (unless a newer generation exists).
    Held,
    /// The lock is free: written by a holder on release and by `cairn unlock`.
    Released,
}

/// One generation of the lock, stored sealed at `locks/<generation>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    /// Must equal the generation in the record's key; a record copied to
    /// another key is refused.
    pub generation: u64,
    pub state: LockState,
    /// What holds it, for messages: `prune`, `unlock`, ...
    pub operation: String,
    pub host: String,
    pub pid: u32,
    /// When this generation was written, seconds since the Unix epoch (UTC).
    pub time: i64,
    /// After this second the record no longer holds the lock.
    pub expires: i64,
    /// Random, the same in every generation one holder writes: how a holder
    /// recognises its own record after an ambiguous create.
    pub token: [u8; 16],
    /// When the writing process started, in clock ticks since its host
    /// booted (Linux: field 22 of `/proc/PID/stat`): with `host` and `pid`
    /// it tells a dead holder from a live one even after the PID is reused.
    /// Optional and last, encoded only when known, so records without it
    /// (older writers, other systems) keep their exact old bytes.
    #[serde(skip)]
    pub start_time: Option<u64>,
}

/// Upper bound on a record's encoded size; anything longer is hostile.
pub const MAX_RECORD_LEN: usize = 4096;

impl LockRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = postcard::to_allocvec(self).expect("postcard encoding to a Vec cannot fail");
        if let Some(start) = self.start_time {
            out = postcard::to_extend(&start, out).expect("postcard encoding to a Vec cannot fail");
        }
        out
    }

    /// Decodes the plaintext of a lock record (after the envelope is opened):
    /// the eight fields, then the start time if any bytes follow.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_RECORD_LEN {
            return Err(Error::corrupt("lock", "record too long"));
        }
        let (mut record, rest) = postcard::take_from_bytes::<LockRecord>(bytes)
            .map_err(|e| Error::corrupt("lock", e))?;
        if !rest.is_empty() {
            record.start_time = Some(crate::format::decode_exact(rest, "lock start time")?);
        }
        if record.encode() != bytes {
            return Err(Error::corrupt("lock", "not in canonical encoding"));
        }
        Ok(record)
    }

    /// Does this record hold the lock at `now` (Unix seconds)?
    pub fn holds_at(&self, now: i64) -> bool {
        self.state == LockState::Held && now < self.expires
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn sample() -> LockRecord {
        LockRecord {
            generation: 3,
            state: LockState::Held,
            operation: "prune".into(),
            host: "h".into(),
            pid: 300,
            time: 1_795_305_600,
            expires: 1_795_307_400,
            token: [0x11; 16],
            start_time: None,
        }
    }

    #[test]
    fn golden_lock_record() {
        let expect = format!(
            "0300{}{}{}{}{}{}",
            "057072756e65", // "prune"
            "0168",         // "h"
            "ac02",         // pid 300
            "80c291b00d",   // time (zigzag varint)
            "90de91b00d",   // expires
            "11".repeat(16)
        );
        assert_eq!(hex::encode(sample().encode()), expect);
        assert_eq!(LockRecord::decode(&sample().encode()).unwrap(), sample());
    }

    /// The start time follows the eight old fields; a record without one
    /// keeps the old bytes, so old records decode and old readers read it.
    #[test]
    fn golden_lock_record_with_start_time() {
        let r = LockRecord {
            start_time: Some(123_456),
            ..sample()
        };
        let old = hex::encode(sample().encode());
        assert_eq!(hex::encode(r.encode()), format!("{old}c0c407"));
        assert_eq!(LockRecord::decode(&r.encode()).unwrap(), r);
    }

    #[test]
    fn decode_refuses_junk() {
        let mut b = sample().encode();
        b.push(0x80); // an unfinished varint
        assert!(LockRecord::decode(&b).is_err());
        b.extend_from_slice(&[0x01, 0x00]); // a start time, then junk
        assert!(LockRecord::decode(&b).is_err());
        b.truncate(sample().encode().len());
        b[1] = 2; // no such state
        assert!(LockRecord::decode(&b).is_err());
        assert!(LockRecord::decode(&[]).is_err());
        assert!(LockRecord::decode(&vec![0u8; MAX_RECORD_LEN + 1]).is_err());
    }

    #[test]
    fn holds_only_while_held_and_unexpired() {
        let r = sample();
        assert!(r.holds_at(r.expires - 1));
        assert!(!r.holds_at(r.expires));
        let released = LockRecord {
            state: LockState::Released,
            ..r
        };
        assert!(!released.holds_at(0));
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = LockRecord::decode(&bytes);
        }
    }
}
