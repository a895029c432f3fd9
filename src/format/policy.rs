//! The retention policy stored in the repository (object `policy`, chapter
//! 11): the rules `cairn forget` applies when it is run without rules of its
//! own, so every machine that opens the repository forgets the same way.
//! Pure codec: [`Policy::decode`] takes plaintext bytes and nothing else, so
//! it can be fuzzed alone; what the rules mean lives in `crate::forget`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::crypto::Keys;
use crate::error::{Error, Result};
use crate::format::envelope::{self, ObjectType};

/// A calendar duration such as `2y5m7d3h`, counted back from the newest
/// snapshot of a group (years and months are calendar units, not fixed
/// second counts, so "1m" from 31 March is 29 February or 28 February).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Span {
    pub years: u32,
    pub months: u32,
    pub days: u32,
    pub hours: u32,
}

impl Span {
    pub fn is_zero(&self) -> bool {
        *self == Span::default()
    }
}

/// Prints the canonical spelling: non-zero units in y, m, d, h order
/// (`2y7d`); the zero span prints as `0h`.
impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0h");
        }
        for (n, unit) in [
            (self.years, 'y'),
            (self.months, 'm'),
            (self.days, 'd'),
            (self.hours, 'h'),
        ] {
            if n > 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        Ok(())
    }
}

/// Which snapshots to keep. A count of 0 and `None` mean "rule not set";
/// a snapshot is kept when any rule keeps it (chapter 13 and the README
/// give the exact selection rule).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Policy {
    /// The N newest snapshots.
    pub last: u32,
    /// The newest snapshot of each of the N newest hours, days, ISO weeks,
    /// months and years that have snapshots.
    pub hourly: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
    pub yearly: u32,
    /// Every snapshot taken within this span of the group's newest.
    pub within: Option<Span>,
    /// The newest snapshot of each hour, day, week, month or year within
    /// this span of the group's newest.
    pub within_hourly: Option<Span>,
    pub within_daily: Option<Span>,
    pub within_weekly: Option<Span>,
    pub within_monthly: Option<Span>,
    pub within_yearly: Option<Span>,
    /// Every snapshot carrying any of these tags.
    pub tags: Vec<String>,
    /// Never keep fewer than this many snapshots in a group.
    pub min: u32,
}

impl Policy {
    /// True when no rule is set: such a policy would keep nothing, so it is
    /// never stored and never applied.
    pub fn is_empty(&self) -> bool {
        let Policy {
            last,
            hourly,
            daily,
            weekly,
            monthly,
            yearly,
            within,
            within_hourly,
            within_daily,
            within_weekly,
            within_monthly,
            within_yearly,
            tags,
            min,
        } = self;
        [last, hourly, daily, weekly, monthly, yearly, min]
            .iter()
            .all(|n| **n == 0)
            && [
                within,
                within_hourly,
                within_daily,
                within_weekly,
                within_monthly,
                within_yearly,
            ]
            .iter()
            .all(|s| s.is_none())
            && tags.is_empty()
    }

    /// The span rules, named as on the command line.
    pub fn spans(&self) -> [(&'static str, Option<Span>); 6] {
        [
            ("within", self.within),
            ("within-hourly", self.within_hourly),
            ("within-daily", self.within_daily),
            ("within-weekly", self.within_weekly),
            ("within-monthly", self.within_monthly),
            ("within-yearly", self.within_yearly),
        ]
    }

    /// Refuses policies no writer produces: empty, a zero span (it would
    /// mean "only the newest", which `--keep-last 1` says plainly), an
    /// empty tag.
    pub fn validate(&self) -> Result<()> {
        if self.is_empty() {
            return Err(Error::Usage("the policy sets no rule".into()));
        }
        if let Some((name, _)) = self
            .spans()
            .into_iter()
            .find(|(_, s)| s.is_some_and(|s| s.is_zero()))
        {
            return Err(Error::Usage(format!("--keep-{name} must not be zero")));
        }
        if self.tags.iter().any(|t| t.is_empty()) {
            return Err(Error::Usage("--keep-tag must not be empty".into()));
        }
        Ok(())
    }

    /// The postcard body (the plaintext inside the envelope).
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("postcard encoding to a Vec cannot fail")
    }

    /// Decodes and validates a body; pure, for fuzzing.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let p: Policy = crate::format::decode_exact(bytes, "policy")?;
        p.validate()
            .map_err(|e| Error::corrupt("policy", e.to_string()))?;
        Ok(p)
    }

    /// The stored object: an envelope of type policy, zero id, uncompressed.
    pub fn seal(&self, keys: &Keys) -> Vec<u8> {
        envelope::seal(keys, ObjectType::Policy, None, &self.encode(), None)
    }

    /// Opens and decodes a stored policy object.
    pub fn open(keys: &Keys, sealed: &[u8]) -> Result<Self> {
        let body = envelope::open(keys, ObjectType::Policy, None, sealed, None)?;
        Policy::decode(&body)
    }
}

#[cfg(test)]
pub(crate) mod tests;
