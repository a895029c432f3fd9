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
}

/// Upper bound on a record's encoded size; anything longer is hostile.
pub const MAX_RECORD_LEN: usize = 4096;

impl LockRecord {
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("postcard encoding to a Vec cannot fail")
    }

    /// Decodes the plaintext of a lock record (after the envelope is opened).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_RECORD_LEN {
            return Err(Error::corrupt("lock", "record too long"));
        }
        crate::format::decode_exact(bytes, "lock")
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

    #[test]
    fn decode_refuses_junk() {
        let mut b = sample().encode();
        b.push(0);
        assert!(LockRecord::decode(&b).is_err());
        b.pop();
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
