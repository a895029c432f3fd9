//! The data check: download each selected pack whole and prove every byte
//! of it. Packs are checked in parallel, one pack in memory per worker, so
//! memory stays at threads × pack size however large the repository.

use rayon::prelude::*;

use crate::check::structure::Plan;
use crate::check::{CheckReport, Problem};
use crate::error::{Error, Result};
use crate::format::index::{BlobEntry, BlobKind, PackEntry};
use crate::format::{layout, pack};
use crate::ids::{content_hash, BlobId, PackId};
use crate::progress::Progress;
use crate::repo::Repository;

/// What checking one pack found.
#[derive(Default)]
struct PackOutcome {
    blobs: u64,
    bytes: u64,
    problems: Vec<Problem>,
    /// Blobs that would not open (all of them if the pack is gone).
    lost: Vec<(BlobKind, BlobId)>,
}

/// The verdict on one pack read, for the audit log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PackVerdict {
    pub id: PackId,
    pub ok: bool,
    pub bytes: u64,
}

/// Reads and verifies every pack in `selected`, recording findings in
/// `report` and lost blobs in `lost`; returns one verdict per pack.
pub(crate) fn check_packs(
    repo: &Repository,
    plan: &Plan,
    selected: &[(PackId, u64)],
    report: &mut CheckReport,
    lost: &mut crate::check::lost::LostBlobs,
    progress: &dyn Progress,
) -> Result<Vec<PackVerdict>> {
    let total: u64 = selected.iter().map(|(_, s)| s).sum();
    progress.start("read data", Some(selected.len() as u64), Some(total));
    let outcomes: Vec<PackOutcome> = selected
        .par_iter()
        .map(|(id, _)| {
            crate::progress::check_cancelled(progress, || {
                "check stopped while reading data, before its report; it changes nothing".into()
            })?;
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
    let mut verdicts = Vec::with_capacity(outcomes.len());
    for ((id, _), o) in selected.iter().zip(outcomes) {
        verdicts.push(PackVerdict {
            id: *id,
            ok: o.problems.is_empty(),
            bytes: o.bytes,
        });
        report.blobs_checked += o.blobs;
        report.bytes_read += o.bytes;
        report.problems.extend(o.problems);
        for (kind, blob) in o.lost {
            lost.add(kind, blob);
        }
    }
    Ok(verdicts)
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
            out.lost = entry.blobs.iter().map(|b| (entry.kind, b.id)).collect();
            return Ok(out);
        }
        Err(e) => return Err(e.into()),
    };
    out.bytes = bytes.len() as u64;
    let header = match pack::parse(repo.keys(), &bytes) {
        Ok(h) => h,
        Err(e) => {
            // The header is gone, but the index still says where each blob
            // is: those that open are intact.
            out.problems
                .push(Problem::damage(object.clone(), e.to_string()));
            open_blobs(repo, entry.kind, &entry.blobs, &bytes, &object, &mut out);
            check_name(&bytes, entry, &object, &mut out);
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
    open_blobs(repo, header.kind, &header.blobs, &bytes, &object, &mut out);
    // Blobs the index promises but the header does not hold are lost too.
    let key = |b: &BlobEntry| (b.id, b.offset, b.length, b.raw_length);
    let held: std::collections::HashSet<_> = header.blobs.iter().map(key).collect();
    for b in entry.blobs.iter().filter(|b| !held.contains(&key(b))) {
        out.lost.push((entry.kind, b.id));
    }
    // A sound pack whose blobs tile it has had every byte authenticated;
    // hashing it again would be a third of the check's CPU for no news.
    // (The size is part of it: the hash covered it implicitly.)
    let sound = out.problems.is_empty() && out.lost.is_empty() && out.bytes == entry.size;
    if !(sound && pack::tiles_blob_area(&header, &bytes)) {
        check_name(&bytes, entry, &object, &mut out);
    }
    Ok(out)
}

/// Hashes the pack to its name, reporting a mismatch first.
fn check_name(bytes: &[u8], entry: &PackEntry, object: &str, out: &mut PackOutcome) {
    if content_hash(bytes) != entry.id.0 {
        let p = Problem::damage(object, "content does not match its name");
        out.problems.insert(0, p);
    }
}

/// Opens and verifies each blob; failures become problems and lost blobs.
/// The blobs are opened in parallel too: with packs alone as the unit, the
/// check ended on one core opening the last pack's blobs.
fn open_blobs(
    repo: &Repository,
    kind: BlobKind,
    blobs: &[BlobEntry],
    bytes: &[u8],
    object: &str,
    out: &mut PackOutcome,
) {
    let failed: Vec<Option<Error>> = blobs
        .par_iter()
        .map(|b| {
            let start = b.offset as usize;
            match bytes.get(start..start.saturating_add(b.length as usize)) {
                Some(sealed) => repo.open_blob(kind, b, sealed).err(),
                None => Some(Error::corrupt("pack", "blob outside the pack")),
            }
        })
        .collect();
    for (b, e) in blobs.iter().zip(failed) {
        out.blobs += 1;
        if let Some(e) = e {
            out.problems
                .push(Problem::damage(object, format!("blob {}: {e}", b.id)));
            out.lost.push((kind, b.id));
        }
    }
}

fn sorted(blobs: &[BlobEntry]) -> Vec<BlobEntry> {
    let mut v = blobs.to_vec();
    v.sort_by_key(|b| (b.offset, b.id));
    v
}
