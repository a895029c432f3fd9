//! Durations as the configuration writes them: `90s`, `15m`, `6h`, `1d`,
//! and combinations such as `1h30m` (each unit at most once).

use std::time::Duration;

/// Parses `1d2h30m15s`-style durations; the message says what is wrong
/// (the caller adds the file, line and key).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = |why: &str| format!("bad duration {s:?}: {why} (e.g. 90s, 15m, 6h, 1d, 1h30m)");
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad("empty"));
    }
    let mut total: u64 = 0;
    let mut seen = [false; 4];
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad("expected a number"));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| bad("number too large"))?;
        let (slot, unit) = match rest[digits..].chars().next() {
            Some('d') => (0, 86_400),
            Some('h') => (1, 3_600),
            Some('m') => (2, 60),
            Some('s') => (3, 1),
            _ => return Err(bad("each number needs a unit d, h, m or s")),
        };
        if std::mem::replace(&mut seen[slot], true) {
            return Err(bad("a unit appears twice"));
        }
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| bad("too long"))?;
        rest = &rest[digits + 1..];
    }
    if total == 0 {
        return Err(bad("must not be zero"));
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let secs = |s: &str| parse_duration(s).unwrap().as_secs();
        assert_eq!(secs("90s"), 90);
        assert_eq!(secs("15m"), 900);
        assert_eq!(secs("6h"), 21_600);
        assert_eq!(secs("1d"), 86_400);
        assert_eq!(secs("1h30m"), 5_400);
        assert_eq!(secs("30m1h"), 5_400);
        for bad in ["", "0s", "5", "h", "1x", "1h1h", "1.5h", "-1h", "1 h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
