//! What both ends of the `rest:` protocol share (docs/rest-protocol.md):
//! how keys become URL paths, the listing and error bodies, and which
//! statuses are worth retrying.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};

use crate::storage::StorageErrorKind;

/// Everything but letters, digits, `-`, `_`, `~` and `/` is escaped in an
/// object path: dots too, so no key segment can read as `.` or `..` to
/// anything that normalises paths on the way.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// The path of an object below the base URL: `o/` + the escaped key.
pub fn object_path(key: &str) -> String {
    format!("o/{}", utf8_percent_encode(key, PATH))
}

/// The path of a listing below the base URL.
pub fn list_path(prefix: &str) -> String {
    format!(
        "list?prefix={}",
        utf8_percent_encode(prefix, NON_ALPHANUMERIC)
    )
}

/// The path that tells whether the proxy's backend has Object Lock.
pub const LOCK_PATH: &str = "lock";

/// The path of an object's retention below the base URL.
pub fn retention_path(key: &str) -> String {
    format!("retention/{}", utf8_percent_encode(key, PATH))
}

/// The body of `GET /lock`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockInfo {
    pub object_lock: bool,
}

/// The body of `GET /retention/KEY` (`mode` absent) and of
/// `PUT /retention/KEY` (`mode`: `compliance` or `governance`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Retention {
    /// Unix seconds; `null` when the object has no retention.
    pub until: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// A retention mode as the protocol names it.
pub fn mode_name(mode: crate::storage::RetentionMode) -> &'static str {
    match mode {
        crate::storage::RetentionMode::Compliance => "compliance",
        crate::storage::RetentionMode::Governance => "governance",
    }
}

/// The mode the protocol name `name` stands for.
pub fn parse_mode(name: &str) -> Option<crate::storage::RetentionMode> {
    match name {
        "compliance" => Some(crate::storage::RetentionMode::Compliance),
        "governance" => Some(crate::storage::RetentionMode::Governance),
        _ => None,
    }
}

/// One entry of a listing (the body is a JSON array of these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    /// Unix seconds, when the backend says (R2 bucket-lock ages count from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<i64>,
}

/// The body of every error response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// How the client takes an unexpected status: 404 NotFound; 408, 429 and
/// 5xx other than 500 (the proxy's word for a permanent backend failure)
/// Transient; every other status Permanent.
pub fn status_kind(status: u16) -> StorageErrorKind {
    match status {
        404 => StorageErrorKind::NotFound,
        408 | 429 => StorageErrorKind::Transient,
        500 => StorageErrorKind::Permanent,
        s if s >= 500 => StorageErrorKind::Transient,
        _ => StorageErrorKind::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_escape_everything_that_could_be_read_twice() {
        assert_eq!(object_path("packs/ab/ab01"), "o/packs/ab/ab01");
        assert_eq!(object_path("a/../b"), "o/a/%2E%2E/b");
        assert_eq!(object_path("p%20 q?#"), "o/p%2520%20q%3F%23");
        assert_eq!(list_path("packs/a"), "list?prefix=packs%2Fa");
    }

    #[test]
    fn only_passing_failures_are_transient() {
        assert_eq!(status_kind(404), StorageErrorKind::NotFound);
        for s in [408, 429, 502, 503, 504] {
            assert_eq!(status_kind(s), StorageErrorKind::Transient, "{s}");
        }
        for s in [400, 401, 403, 412, 416, 500] {
            assert_eq!(status_kind(s), StorageErrorKind::Permanent, "{s}");
        }
    }
}
