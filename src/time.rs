//! The clock and the machine's identity, in one place so tests and imports
//! can set the time explicitly instead of reading the clock everywhere.

use crate::format::tree::Timestamp;

/// Now, as a timestamp and the local UTC offset in seconds.
pub fn now() -> (Timestamp, i32) {
    let now = chrono::Local::now();
    (
        Timestamp {
            secs: now.timestamp(),
            nanos: now.timestamp_subsec_nanos(),
        },
        now.offset().local_minus_utc(),
    )
}

/// A timestamp as local date-time text (`2026-11-22 04:36:02`).
pub fn format_local(t: Timestamp) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_opt(t.secs, t.nanos) {
        chrono::LocalResult::Single(d) | chrono::LocalResult::Ambiguous(d, _) => {
            d.format("%Y-%m-%d %H:%M:%S").to_string()
        }
        chrono::LocalResult::None => format!("@{}", t.secs),
    }
}

/// Parses a user-given time: RFC 3339, or local `YYYY-MM-DD[ HH:MM[:SS]]`.
pub fn parse_time(s: &str) -> crate::Result<(Timestamp, i32)> {
    use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone};
    let s = s.trim();
    let to = |d: DateTime<chrono::FixedOffset>| {
        (
            Timestamp {
                secs: d.timestamp(),
                nanos: d.timestamp_subsec_nanos(),
            },
            d.offset().local_minus_utc(),
        )
    };
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Ok(to(d));
    }
    let naive = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    });
    let naive = naive.ok_or_else(|| {
        crate::Error::Usage(format!(
            "cannot parse time {s:?}: use \"YYYY-MM-DD HH:MM[:SS]\" or RFC 3339"
        ))
    })?;
    match Local.from_local_datetime(&naive) {
        chrono::LocalResult::Single(d) | chrono::LocalResult::Ambiguous(d, _) => {
            Ok(to(d.fixed_offset()))
        }
        chrono::LocalResult::None => Err(crate::Error::Usage(format!(
            "time {s:?} does not exist in the local time zone"
        ))),
    }
}

/// This machine's host name, or `unknown`.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into())
}

/// The effective user's name, or the uid when it has none.
pub fn username() -> String {
    let uid = nix::unistd::Uid::effective();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(u)) => u.name,
        _ => uid.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_users_write() {
        let (a, _) = parse_time("2026-11-01 12:00").unwrap();
        let (b, _) = parse_time("2026-11-01 12:00:00").unwrap();
        assert_eq!(a, b);
        let (c, off) = parse_time("2026-11-01T12:00:00Z").unwrap();
        assert_eq!(off, 0);
        assert_eq!(c.secs, 1_793_534_400);
        assert!(parse_time("yesterday-ish").is_err());
    }
}
