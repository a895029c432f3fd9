//! Retention policies as people write them: spans like `2y5m7d3h`, the short
//! form `--retention 7d,4w,12m`, `--group-by host,paths`, and the rule that
//! decides between rules given on the command line and the stored policy.
//! The policy type itself is the stored one ([`crate::format::policy`]).

use std::str::FromStr;

use crate::error::{Error, Result};
pub use crate::format::policy::{Policy, Span};

impl FromStr for Span {
    type Err = Error;

    /// `2y5m7d3h`: numbers with units y(ears), m(onths), d(ays), h(ours),
    /// each unit at most once, in any order, at least one of them.
    fn from_str(s: &str) -> Result<Span> {
        let bad = |why: &str| Error::Usage(format!("bad duration {s:?}: {why} (e.g. 2y5m7d3h)"));
        let mut span = Span::default();
        let mut seen = [false; 4];
        let mut rest = s.trim();
        if rest.is_empty() {
            return Err(bad("empty"));
        }
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(bad("expected a number"));
            }
            let n: u32 = rest[..digits]
                .parse()
                .map_err(|_| bad("number too large"))?;
            let (slot, field) = match rest[digits..].chars().next() {
                Some('y') => (0, &mut span.years),
                Some('m') => (1, &mut span.months),
                Some('d') => (2, &mut span.days),
                Some('h') => (3, &mut span.hours),
                _ => return Err(bad("each number needs a unit y, m, d or h")),
            };
            if std::mem::replace(&mut seen[slot], true) {
                return Err(bad("a unit appears twice"));
            }
            *field = n;
            rest = &rest[digits + 1..];
        }
        if span.is_zero() {
            return Err(bad("must not be zero"));
        }
        Ok(span)
    }
}

/// Parses the short form operators write, `7d,4w,12m`: h = hourly,
/// d = daily, w = weekly, m = monthly, y = yearly, and a bare number = the
/// last N snapshots. Each kind at most once; counts are positive.
pub fn parse_retention(s: &str) -> Result<Policy> {
    let mut p = Policy::default();
    for item in s.split(',').map(str::trim) {
        let bad = |why: &str| {
            Error::Usage(format!(
                "bad retention item {item:?} in {s:?}: {why} (e.g. 7d,4w,12m)"
            ))
        };
        let (number, unit) = match item.char_indices().last() {
            Some((i, c)) if c.is_ascii_alphabetic() => (&item[..i], Some(c)),
            Some(_) => (item, None),
            None => return Err(bad("empty")),
        };
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("expected a number"));
        }
        let n: u32 = number.parse().map_err(|_| bad("number too large"))?;
        if n == 0 {
            return Err(bad("must be positive"));
        }
        let field = match unit {
            None => &mut p.last,
            Some('h') => &mut p.hourly,
            Some('d') => &mut p.daily,
            Some('w') => &mut p.weekly,
            Some('m') => &mut p.monthly,
            Some('y') => &mut p.yearly,
            Some(_) => return Err(bad("unit must be h, d, w, m or y")),
        };
        if *field != 0 {
            return Err(bad("this kind appears twice"));
        }
        *field = n;
    }
    Ok(p)
}

/// Joins two partial policies (`--retention` and `--keep-*` flags); a rule
/// set in both is an error rather than a silent choice.
pub fn combine(a: Policy, b: Policy) -> Result<Policy> {
    fn count(name: &str, x: u32, y: u32) -> Result<u32> {
        match (x, y) {
            (0, v) | (v, 0) => Ok(v),
            _ => Err(Error::Usage(format!("--keep-{name} is given twice"))),
        }
    }
    fn span(name: &str, x: Option<Span>, y: Option<Span>) -> Result<Option<Span>> {
        match (x, y) {
            (None, v) | (v, None) => Ok(v),
            _ => Err(Error::Usage(format!("--keep-{name} is given twice"))),
        }
    }
    let mut tags = a.tags;
    tags.extend(b.tags);
    tags.sort();
    tags.dedup();
    Ok(Policy {
        last: count("last", a.last, b.last)?,
        hourly: count("hourly", a.hourly, b.hourly)?,
        daily: count("daily", a.daily, b.daily)?,
        weekly: count("weekly", a.weekly, b.weekly)?,
        monthly: count("monthly", a.monthly, b.monthly)?,
        yearly: count("yearly", a.yearly, b.yearly)?,
        within: span("within", a.within, b.within)?,
        within_hourly: span("within-hourly", a.within_hourly, b.within_hourly)?,
        within_daily: span("within-daily", a.within_daily, b.within_daily)?,
        within_weekly: span("within-weekly", a.within_weekly, b.within_weekly)?,
        within_monthly: span("within-monthly", a.within_monthly, b.within_monthly)?,
        within_yearly: span("within-yearly", a.within_yearly, b.within_yearly)?,
        tags,
        min: count("min", a.min, b.min)?,
    })
}

/// The rules a policy sets, one short phrase each (`daily 7`,
/// `within 2y`, `tag prod`), for `policy show` and forget's report.
pub fn describe(p: &Policy) -> Vec<String> {
    let mut out = Vec::new();
    for (name, n) in [
        ("last", p.last),
        ("hourly", p.hourly),
        ("daily", p.daily),
        ("weekly", p.weekly),
        ("monthly", p.monthly),
        ("yearly", p.yearly),
    ] {
        if n > 0 {
            out.push(format!("{name} {n}"));
        }
    }
    for (name, span) in p.spans() {
        if let Some(s) = span {
            out.push(format!("{name} {s}"));
        }
    }
    out.extend(p.tags.iter().map(|t| format!("tag {t}")));
    if p.min > 0 {
        out.push(format!("min {}", p.min));
    }
    out
}

/// Where the policy `forget` applies came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicySource {
    CommandLine,
    Repository,
}

/// Rules on the command line *replace* the stored policy as a whole (what
/// you typed is exactly what runs); with none, the stored policy applies;
/// with neither, it is a usage error, never "remove everything".
pub fn resolve(given: Policy, stored: Option<Policy>) -> Result<(Policy, PolicySource)> {
    if !given.is_empty() {
        given.validate()?;
        return Ok((given, PolicySource::CommandLine));
    }
    match stored {
        Some(p) => Ok((p, PolicySource::Repository)),
        None => Err(Error::Usage(
            "no retention rule given and no policy stored in the repository \
             (use --keep-* flags, or `cairn policy set`)"
                .into(),
        )),
    }
}

/// What makes two snapshots belong to one group: each group is forgotten
/// on its own, so one host's history never thins out another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupBy {
    pub host: bool,
    pub paths: bool,
    pub tags: bool,
}

/// Host and paths, as restic: one group per backup job.
impl Default for GroupBy {
    fn default() -> Self {
        GroupBy {
            host: true,
            paths: true,
            tags: false,
        }
    }
}

impl FromStr for GroupBy {
    type Err = Error;

    /// `host,paths,tags` in any combination; the empty string is one group.
    fn from_str(s: &str) -> Result<GroupBy> {
        let mut g = GroupBy {
            host: false,
            paths: false,
            tags: false,
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "host" => g.host = true,
                "paths" | "path" => g.paths = true,
                "tags" | "tag" => g.tags = true,
                _ => {
                    return Err(Error::Usage(format!(
                        "bad --group-by {s:?}: use host, paths and tags, comma-separated, or ''"
                    )))
                }
            }
        }
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(years: u32, months: u32, days: u32, hours: u32) -> Span {
        Span {
            years,
            months,
            days,
            hours,
        }
    }

    #[test]
    fn spans_parse_and_print() {
        assert_eq!("2y5m7d3h".parse::<Span>().unwrap(), span(2, 5, 7, 3));
        assert_eq!("7d".parse::<Span>().unwrap(), span(0, 0, 7, 0));
        assert_eq!("3h1y".parse::<Span>().unwrap(), span(1, 0, 0, 3));
        assert_eq!("36h".parse::<Span>().unwrap().to_string(), "36h");
        for bad in [
            "",
            "7",
            "d",
            "7x",
            "7d7d",
            "0d",
            "0y0h",
            "-1d",
            "1.5d",
            "99999999999d",
            "7 d",
        ] {
            assert!(bad.parse::<Span>().is_err(), "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn span_text_round_trips(y in 0..500u32, m in 0..500u32, d in 0..5000u32, h in 0..50_000u32) {
            let s = span(y, m, d, h);
            proptest::prop_assume!(!s.is_zero());
            proptest::prop_assert_eq!(s.to_string().parse::<Span>().unwrap(), s);
        }
    }

    #[test]
    fn retention_short_form() {
        let p = parse_retention("7d,4w,12m").unwrap();
        assert_eq!((p.daily, p.weekly, p.monthly), (7, 4, 12));
        let p = parse_retention("5, 24h ,2y").unwrap();
        assert_eq!((p.last, p.hourly, p.yearly), (5, 24, 2));
        for bad in ["", "7d,", "7d,7d", "0d", "d", "7x", "3,4", "-1d", "7dd"] {
            assert!(parse_retention(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn combine_refuses_a_rule_given_twice() {
        let a = parse_retention("7d").unwrap();
        let b = Policy {
            weekly: 4,
            tags: vec!["prod".into()],
            ..Policy::default()
        };
        let c = combine(a.clone(), b).unwrap();
        assert_eq!((c.daily, c.weekly, c.tags.len()), (7, 4, 1));
        assert!(combine(a.clone(), a).is_err());
        assert_eq!(
            describe(&combine(c, parse_retention("2y").unwrap()).unwrap()),
            ["daily 7", "weekly 4", "yearly 2", "tag prod"]
        );
    }

    #[test]
    fn command_line_replaces_the_stored_policy() {
        let stored = parse_retention("7d,4w").unwrap();
        let given = parse_retention("3").unwrap();
        let (p, from) = resolve(given.clone(), Some(stored.clone())).unwrap();
        assert_eq!((p, from), (given, PolicySource::CommandLine));
        let (p, from) = resolve(Policy::default(), Some(stored.clone())).unwrap();
        assert_eq!((p, from), (stored, PolicySource::Repository));
        let err = resolve(Policy::default(), None).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Usage);
    }

    #[test]
    fn group_by_parses() {
        assert_eq!("host,paths".parse::<GroupBy>().unwrap(), GroupBy::default());
        let none: GroupBy = "".parse().unwrap();
        assert!(!none.host && !none.paths && !none.tags);
        let tags: GroupBy = "tags".parse().unwrap();
        assert!(tags.tags && !tags.host);
        assert!("hosts".parse::<GroupBy>().is_err());
    }
}
