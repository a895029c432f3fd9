//! Checking that a storage works before trusting a backup to it: list,
//! write, read back and delete a probe object, and say which step failed.
//! The probe key is random and outside the repository's prefixes, and it is
//! deleted again.

use std::time::Instant;

use bytes::Bytes;
use serde::Serialize;

use super::{Storage, StorageError, StorageErrorKind};

/// Probe objects are named `PROBE_PREFIX` + random hex.
pub const PROBE_PREFIX: &str = "cairn-probe-";

/// A probe step's action; `Ok(true)` unless it found something missing.
type Step<'a> = dyn Fn() -> Result<bool, StorageError> + 'a;

/// One step of a probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeStep {
    /// `list`, `write`, `read` or `delete`.
    pub step: &'static str,
    pub ok: bool,
    pub millis: u64,
    /// What went wrong, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What [`probe`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeReport {
    pub location: String,
    /// Steps run, in order; the first failure ends the probe.
    pub steps: Vec<ProbeStep>,
    /// Is there an object under the key that marks a repository?
    pub repository_found: bool,
    /// The first failure's kind, if any step failed.
    #[serde(skip)]
    pub failure: Option<StorageErrorKind>,
}

impl ProbeReport {
    pub fn ok(&self) -> bool {
        self.failure.is_none()
    }
}

/// Runs the probe. `marker` is the key whose presence means a repository
/// is there (the repository's config object).
pub fn probe(s: &dyn Storage, marker: &str) -> ProbeReport {
    let mut report = ProbeReport {
        location: s.location(),
        steps: Vec::new(),
        repository_found: false,
        failure: None,
    };
    let key = format!("{PROBE_PREFIX}{:016x}", rand::random::<u64>());
    let payload = Bytes::from(format!("cairn storage probe {key}\n"));
    let steps: [(&str, &Step); 4] = [
        ("list", &|| {
            Ok(s.list(marker)?.iter().any(|o| o.key == marker))
        }),
        ("write", &|| s.put(&key, payload.clone()).map(|_| true)),
        ("read", &|| {
            let got = s.get(&key)?;
            if got != payload.as_ref() {
                return Err(StorageError::new(
                    StorageErrorKind::Permanent,
                    "get",
                    &key,
                    "read back different bytes than were written",
                ));
            }
            Ok(true)
        }),
        ("delete", &|| {
            s.delete(&key)?;
            match s.get(&key) {
                Err(e) if e.is_not_found() => Ok(true),
                Err(e) => Err(e),
                Ok(_) => Err(StorageError::new(
                    StorageErrorKind::Permanent,
                    "delete",
                    &key,
                    "the object is still there after delete",
                )),
            }
        }),
    ];
    for (name, run) in steps {
        let started = Instant::now();
        let result = run();
        let millis = started.elapsed().as_millis() as u64;
        match result {
            Ok(found) => {
                if name == "list" {
                    report.repository_found = found;
                }
                report.steps.push(ProbeStep {
                    step: name,
                    ok: true,
                    millis,
                    error: None,
                });
            }
            Err(e) => {
                report.failure = Some(e.kind);
                report.steps.push(ProbeStep {
                    step: name,
                    ok: false,
                    millis,
                    error: Some(e.to_string()),
                });
                if name == "read" || name == "delete" {
                    // Best effort: do not leave the probe behind.
                    let _ = s.delete(&key);
                }
                break;
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::faulty::{FaultConfig, FaultyStorage};
    use crate::storage::memory::MemoryStorage;

    #[test]
    fn a_working_storage_passes_and_keeps_nothing() {
        let s = MemoryStorage::new();
        let r = probe(&s, "config");
        assert!(r.ok(), "{r:?}");
        assert!(!r.repository_found);
        assert_eq!(r.steps.len(), 4);
        assert!(s.list("").unwrap().is_empty());
        s.put("config", Bytes::from_static(b"x")).unwrap();
        assert!(probe(&s, "config").repository_found);
    }

    #[test]
    fn names_the_failing_step() {
        let config = FaultConfig {
            permanent_prefixes: vec![PROBE_PREFIX.into()],
            ..FaultConfig::seeded(1)
        };
        let s = FaultyStorage::new(MemoryStorage::new(), config);
        let r = probe(&s, "config");
        assert!(!r.ok());
        assert_eq!(r.failure, Some(StorageErrorKind::Permanent));
        let last = r.steps.last().unwrap();
        assert_eq!((last.step, last.ok), ("write", false));
        assert!(last.error.is_some());
    }
}
