//! The data check: download each selected pack whole and prove every byte
//! of it. Packs are checked in parallel, one pack in memory per worker, so
//! memory stays at threads × pack size however large the repository.

use rayon::prelude::*;

use crate::check::structure::Plan;
use crate::check::{CheckReport, Problem};
use crate::error::{Error, Result};
use crate::format::index::{BlobEntry, PackEntry};
use crate::format::{layout, pack};
use crate::ids::{content_hash, PackId};
use crate::progress::Progress;
use crate::repo::Repository;

/// What checking one pack found.
#[derive(Default)]
struct PackOutcome {
    blobs: u64,
    bytes: u64,
    problems: Vec<Problem>,
}

/// Reads and verifies every pack in `selected`, recording findings.
pub(crate) fn check_packs(
    repo: &Repository,
    plan: &Plan,
    selected: &[(PackId, u64)],
    report: &mut CheckReport,
    progress: &dyn Progress,
) -> Result<()> {
    let total: u64 = selected.iter().map(|(_, s)| s).sum();
    progress.start("read data", Some(selected.len() as u64), Some(total));
    let outcomes: Vec<PackOutcome> = selected
        .par_iter()
        .map(|(id, _)| {
            let entry = plan
                .indexed
                .get(id)
                .ok_or_else(|| Error::Internal(format!("pack {id} selected but not indexed")))?;
            let out = check_pack(repo, entry)?;
            progress.bytes(out.bytes);
            Ok(out)
        })
        .collect::<Result<_>>()?;
    progress.finish();
    report.packs_read += selected.len() as u64;
    for o in outcomes {
        report.blobs_checked += o.blobs;
        report.bytes_read += o.bytes;
        report.problems.extend(o.problems);
    }
    Ok(())
}

/// Checks one pack against its index entry. Damage goes into the outcome;
/// only a storage failure that is not "missing" is an error.
fn check_pack(repo: &Repository, entry: &PackEntry) -> Result<PackOutcome> {
    let object = format!("pack {}", entry.id);
    let mut out = PackOutcome::default();
    let bytes = match repo.storage().get(&layout::pack(&entry.id)) {
        Ok(b) => b,
        Err(e) if e.is_not_found() => {
            // Vanished since the listing: the structure check saw it.
            out.problems.push(Problem::damage(object, "missing"));
            return Ok(out);
        }
        Err(e) => return Err(e.into()),
    };
    out.bytes = bytes.len() as u64;
    if content_hash(&bytes) != entry.id.0 {
        out.problems.push(Problem::damage(
            object.clone(),
            "content does not match its name",
        ));
    }
    let header = match pack::parse(repo.keys(), &bytes) {
        Ok(h) => h,
        Err(e) => {
            out.problems.push(Problem::damage(object, e.to_string()));
            return Ok(out);
        }
    };
    if header.kind != entry.kind {
        out.problems.push(Problem::damage(
            object.clone(),
            format!(
                "header says {:?} blobs, the index {:?}",
                header.kind, entry.kind
            ),
        ));
    }
    if sorted(&header.blobs) != sorted(&entry.blobs) {
        out.problems.push(Problem::damage(
            object.clone(),
            "header and index disagree on the blobs it holds",
        ));
    }
    // The header's entries are bounds-checked against the pack by `parse`.
    for b in &header.blobs {
        let start = b.offset as usize;
        let opened = match bytes.get(start..start + b.length as usize) {
            Some(sealed) => repo.open_blob(header.kind, b, sealed).map(|_| ()),
            None => Err(Error::corrupt("pack", "blob outside the pack")),
        };
        out.blobs += 1;
        if let Err(e) = opened {
            out.problems.push(Problem::damage(
                object.clone(),
                format!("blob {}: {e}", b.id),
            ));
        }
    }
    Ok(out)
}

fn sorted(blobs: &[BlobEntry]) -> Vec<BlobEntry> {
    let mut v = blobs.to_vec();
    v.sort_by_key(|b| (b.offset, b.id));
    v
}
