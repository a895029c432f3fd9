//! Which packs `check --read-data` reads when asked to read only part of
//! the repository. Every choice is a pure function of the pack ids (and
//! sizes), so repeated runs with `1/5` … `5/5` cover every pack exactly
//! once without any state kept between runs.

use std::str::FromStr;

use crate::error::{Error, Result};
use crate::ids::PackId;

/// A deterministic share of the packs to read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Subset {
    /// The `n`-th (1-based) of `m` disjoint slices that together cover every
    /// pack: a pack is in slice `id % m + 1`, reading its id as a number.
    Slice { n: u64, m: u64 },
    /// This percentage of the packs (by count), first by id.
    Percent(f64),
    /// Packs in id order until this many bytes are selected; the last pack
    /// may overshoot, so a budget smaller than one pack still reads one.
    Bytes(u64),
}

impl Subset {
    /// Picks the packs to read from `(id, size)` pairs in any order; the
    /// result is sorted by id.
    pub fn select(&self, packs: &[(PackId, u64)]) -> Vec<(PackId, u64)> {
        let mut sorted = packs.to_vec();
        sorted.sort_by_key(|(id, _)| *id);
        match *self {
            Subset::Slice { n, m } => sorted
                .into_iter()
                .filter(|(id, _)| slice_of(id, m) == n - 1)
                .collect(),
            Subset::Percent(p) => {
                let want = (sorted.len() as f64 * p / 100.0).ceil() as usize;
                sorted.truncate(want.min(sorted.len()));
                sorted
            }
            Subset::Bytes(budget) => {
                let mut total = 0u64;
                sorted
                    .into_iter()
                    .take_while(|(_, size)| {
                        let take = total < budget;
                        total = total.saturating_add(*size);
                        take
                    })
                    .collect()
            }
        }
    }
}

/// The 0-based slice of `m` a pack falls in. Ids are BLAKE3 hashes, so
/// their leading bytes are uniform and the slices come out even.
fn slice_of(id: &PackId, m: u64) -> u64 {
    let head: [u8; 8] = id.0[..8].try_into().expect("ids are 32 bytes");
    u64::from_be_bytes(head) % m
}

impl FromStr for Subset {
    type Err = Error;

    /// Accepts `N/M`, `P%` and sizes such as `500MiB`, `2G` or `1048576`
    /// (units are binary: K, M, G and T mean KiB, MiB, GiB and TiB).
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        if let Some((n, m)) = s.split_once('/') {
            let bad = || {
                Error::Usage(format!(
                    "bad subset {s:?}: expected N/M with 1 <= N <= M, e.g. 2/5"
                ))
            };
            let n: u64 = n.trim().parse().map_err(|_| bad())?;
            let m: u64 = m.trim().parse().map_err(|_| bad())?;
            if n == 0 || m == 0 || n > m {
                return Err(bad());
            }
            return Ok(Subset::Slice { n, m });
        }
        if let Some(p) = s.strip_suffix('%') {
            let p: f64 = p.trim().parse().map_err(|_| {
                Error::Usage(format!("bad subset {s:?}: expected a percentage, e.g. 5%"))
            })?;
            if !(p > 0.0 && p <= 100.0) {
                return Err(Error::Usage(format!(
                    "bad subset {s:?}: the percentage must be above 0 and at most 100"
                )));
            }
            return Ok(Subset::Percent(p));
        }
        parse_size(s).map(Subset::Bytes)
    }
}

fn parse_size(s: &str) -> Result<u64> {
    crate::units::parse_size(s)
        .ok()
        .filter(|&b| b >= 1)
        .ok_or_else(|| {
            Error::Usage(format!(
                "bad subset {s:?}: expected N/M, a percentage (5%) or a size (500MiB, 2GiB)"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packs(n: usize) -> Vec<(PackId, u64)> {
        (0..n as u64)
            .map(|i| (PackId(crate::ids::content_hash(&i.to_le_bytes())), 100 + i))
            .collect()
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(
            "2/5".parse::<Subset>().unwrap(),
            Subset::Slice { n: 2, m: 5 }
        );
        assert_eq!("5%".parse::<Subset>().unwrap(), Subset::Percent(5.0));
        assert_eq!("2.5%".parse::<Subset>().unwrap(), Subset::Percent(2.5));
        assert_eq!("2GiB".parse::<Subset>().unwrap(), Subset::Bytes(2 << 30));
        assert_eq!(
            "500MiB".parse::<Subset>().unwrap(),
            Subset::Bytes(500 << 20)
        );
        assert_eq!("1k".parse::<Subset>().unwrap(), Subset::Bytes(1024));
        assert_eq!("4096".parse::<Subset>().unwrap(), Subset::Bytes(4096));
        for bad in [
            "", "0/3", "4/3", "1/0", "a/b", "1/2/3", "0%", "101%", "-5%", "x%", "5XB", "GiB", "0",
            "-1M",
        ] {
            let e = bad.parse::<Subset>().unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Usage, "{bad:?}");
        }
    }

    #[test]
    fn slices_partition_the_packs() {
        let all = packs(200);
        for m in [1u64, 2, 3, 7, 300] {
            let mut seen: Vec<PackId> = (1..=m)
                .flat_map(|n| Subset::Slice { n, m }.select(&all))
                .map(|(id, _)| id)
                .collect();
            assert_eq!(seen.len(), all.len(), "m = {m}");
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), all.len(), "m = {m}: a pack in two slices");
        }
        // Deterministic whatever the input order.
        let mut rev = all.clone();
        rev.reverse();
        let s = Subset::Slice { n: 2, m: 3 };
        assert_eq!(s.select(&all), s.select(&rev));
    }

    #[test]
    fn percent_and_bytes_take_a_prefix_by_id() {
        let all = packs(10);
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(Subset::Percent(100.0).select(&all), sorted);
        assert_eq!(Subset::Percent(25.0).select(&all), sorted[..3]);
        assert_eq!(Subset::Percent(0.1).select(&all).len(), 1);
        assert_eq!(Subset::Bytes(1).select(&all), sorted[..1]);
        let two = sorted[0].1 + sorted[1].1;
        assert_eq!(Subset::Bytes(two).select(&all), sorted[..2]);
        assert_eq!(Subset::Bytes(two + 1).select(&all), sorted[..3]);
        assert!(Subset::Bytes(5).select(&[]).is_empty());
    }
}
