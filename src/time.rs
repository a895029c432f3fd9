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

/// A timestamp as wall-clock text in a fixed UTC offset (`2026-11-22
/// 04:36:02`): how listings show times in the offset the snapshot was
/// taken in, so the same snapshot reads the same on every machine.
pub fn format_in_offset(t: Timestamp, offset_secs: i32) -> String {
    in_offset(t, offset_secs)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| format!("@{}", t.secs))
}

/// A timestamp as RFC 3339 text with the given UTC offset
/// (`2026-11-22T04:36:02.5+01:00`): the one time format of `--json` output.
pub fn rfc3339(t: Timestamp, offset_secs: i32) -> String {
    in_offset(t, offset_secs)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false))
        .unwrap_or_else(|| format!("@{}", t.secs))
}

/// A timestamp as RFC 3339 text in this machine's local offset at that time.
pub fn rfc3339_local(t: Timestamp) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_opt(t.secs, t.nanos) {
        chrono::LocalResult::Single(d) | chrono::LocalResult::Ambiguous(d, _) => {
            d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
        }
        chrono::LocalResult::None => format!("@{}", t.secs),
    }
}

fn in_offset(t: Timestamp, offset_secs: i32) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    let zone = chrono::FixedOffset::east_opt(offset_secs)?;
    chrono::DateTime::from_timestamp(t.secs, t.nanos).map(|d| d.with_timezone(&zone))
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

    #[test]
    fn formats_in_the_given_offset() {
        let t = Timestamp {
            secs: 1_793_534_400,
            nanos: 0,
        };
        assert_eq!(rfc3339(t, 3600), "2026-11-01T13:00:00+01:00");
        assert_eq!(rfc3339(t, 0), "2026-11-01T12:00:00+00:00");
        assert_eq!(format_in_offset(t, -5 * 3600), "2026-11-01 07:00:00");
        let half = Timestamp {
            nanos: 500_000_000,
            ..t
        };
        assert_eq!(rfc3339(half, 0), "2026-11-01T12:00:00.500+00:00");
        assert!(chrono::DateTime::parse_from_rfc3339(&rfc3339_local(t)).is_ok());
    }
}
