//! The last check before a snapshot is stored: every pack the backup
//! relies on still exists (format-spec/12-prune.md, rule B4). Markers keep
//! a current prune from deleting them; this catches what markers cannot:
//! a prune of an older version, a hand-deleted pack, a marker that lapsed.

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::format::layout;
use crate::ids::PackId;
use crate::repo::Repository;

/// Why an attempt stored no snapshot, though nothing failed.
#[derive(Debug)]
pub(super) enum Void {
    /// This many packs it relies on are missing from storage.
    Vanished(usize),
    /// Its marker lapsed: a prune may have missed it ([`Error::Raced`]).
    Lapsed(Error),
}

impl Void {
    /// The error for a caller that cannot read its source again.
    pub(super) fn into_error(self) -> Error {
        match self {
            Void::Vanished(n) => Error::Raced(format!(
                "{n} packs this backup relies on were deleted while it ran; \
                 nothing recorded; run the backup again"
            )),
            Void::Lapsed(e) => e,
        }
    }

    /// What a caller that reads its source again says.
    pub(super) fn describe(&self) -> String {
        match self {
            Void::Vanished(n) => format!(
                "{n} packs this backup relies on were deleted while it ran; \
                 reading the source again to store what they held"
            ),
            Void::Lapsed(e) => format!("{e}; starting over"),
        }
    }
}

/// The packs of `relied` that are not in storage, from one listing of
/// `packs/`. In the normal case that listing is all it costs.
pub(super) fn vanished(repo: &Repository, relied: &HashSet<PackId>) -> Result<Vec<PackId>> {
    if relied.is_empty() {
        return Ok(Vec::new());
    }
    let stored: HashSet<PackId> = repo
        .storage()
        .list(layout::PACKS_PREFIX)?
        .iter()
        .filter_map(|o| layout::parse_pack(&o.key))
        .collect();
    let mut gone: Vec<PackId> = relied
        .iter()
        .filter(|p| !stored.contains(p))
        .copied()
        .collect();
    gone.sort();
    Ok(gone)
}
