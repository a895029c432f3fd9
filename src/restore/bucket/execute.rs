//! Running a bucket restore plan: a fixed number of workers take objects in
//! plan order; each decides (create-only write, HEAD, compare) and uploads.
//! Then, with `--verify`, the same workers read every object back.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::error::{Error, ErrorKind, Result};
use crate::ids::TreeId;
use crate::progress::Progress;
use crate::repo::Repository;
use crate::restore::Overwrite;
use crate::storage::s3::{PutOutcome, S3Bucket};

use super::plan::{plan_objects, PlannedObject};
use super::upload::{upload, UploadError, SINGLE_PUT_MAX};
use super::{compare, BucketRestoreOptions, BucketRestoreReport, KeyError};

/// What happened to one object.
enum Outcome {
    Uploaded,
    Skipped,
    Unchanged,
    Failed { error: String, damaged: bool },
}

struct Ctx<'a> {
    repo: &'a Repository,
    bucket: &'a S3Bucket,
    opts: &'a BucketRestoreOptions,
    /// Cleared when the target answers a create-only write with 501.
    create_only: AtomicBool,
}

/// Restores the tree `root` into `bucket` as `opts` says.
pub fn restore_to_bucket(
    repo: &Repository,
    root: TreeId,
    bucket: &S3Bucket,
    opts: &BucketRestoreOptions,
    progress: &dyn Progress,
) -> Result<BucketRestoreReport> {
    let plan = plan_objects(repo, root, &opts.selection)?;
    let mut report = BucketRestoreReport {
        target: bucket.location().to_string(),
        dry_run: opts.dry_run,
        objects: plan.objects.len() as u64,
        ..Default::default()
    };
    for (path, why) in &plan.refused {
        report.errors.push(KeyError {
            key: path.clone(),
            error: format!("not restored: {why}"),
        });
    }
    // One request before any work: refused credentials or a missing
    // bucket fail the restore once, naming the target.
    if let Some(first) = plan.objects.first() {
        bucket
            .block_on(bucket.head_object(&first.key))
            .map_err(|e| bucket.error(e))?;
    }
    let ctx = Ctx {
        repo,
        bucket,
        opts,
        create_only: AtomicBool::new(true),
    };
    progress.start(
        "restore",
        Some(plan.objects.len() as u64),
        Some(plan.total_bytes),
    );
    let outcomes = parallel(&plan.objects, opts.uploads, progress, |o| {
        let out = one(&ctx, o);
        progress.item(Path::new(&o.key));
        progress.bytes(o.size);
        out
    });
    progress.finish();
    let mut present = Vec::new();
    for (o, out) in plan.objects.iter().zip(outcomes) {
        match out {
            None => {}
            Some(Outcome::Uploaded) => {
                report.objects_uploaded += 1;
                report.bytes_uploaded += o.size;
                present.push(o);
            }
            Some(Outcome::Skipped) => {
                report.objects_skipped += 1;
                report.skipped.push(o.key.clone());
                present.push(o);
            }
            Some(Outcome::Unchanged) => {
                report.objects_unchanged += 1;
                present.push(o);
            }
            Some(Outcome::Failed { error, damaged }) => {
                report.objects_failed += 1;
                report.damaged += damaged as u64;
                report.errors.push(KeyError {
                    key: o.key.clone(),
                    error,
                });
            }
        }
    }
    if progress.cancelled() {
        return Err(Error::Interrupted(
            "restore into the bucket stopped; the objects written so far stay".into(),
        ));
    }
    report.create_only_writes = ctx.create_only.load(Ordering::Relaxed);
    if opts.verify && !opts.dry_run {
        verify(&ctx, &present, progress, &mut report);
    }
    report.requests = bucket.stats();
    report.requests_by_class = bucket.wire().snapshot();
    Ok(report)
}

/// Reads every object in `present` back and compares it with the snapshot.
fn verify(
    ctx: &Ctx,
    present: &[&PlannedObject],
    progress: &dyn Progress,
    report: &mut BucketRestoreReport,
) {
    progress.start("verify", Some(present.len() as u64), None);
    let results = parallel(present, ctx.opts.uploads, progress, |o| {
        compare::mismatch(ctx.repo, ctx.bucket, o)
    });
    progress.finish();
    for (o, r) in present.iter().zip(results) {
        let error = match r {
            None | Some(Ok(None)) => continue,
            Some(Ok(Some(why))) => why,
            Some(Err(e)) => e.to_string(),
        };
        report.verify_failures.push(KeyError {
            key: o.key.clone(),
            error,
        });
    }
    report.verified = true;
    report.objects_verified = present.len() as u64 - report.verify_failures.len() as u64;
}

/// Decides and uploads one object.
fn one(ctx: &Ctx, o: &PlannedObject) -> Outcome {
    match decide_and_upload(ctx, o) {
        Ok(out) => out,
        Err(UploadError::Repository(e)) => Outcome::Failed {
            damaged: e.kind() == ErrorKind::Corrupt,
            error: e.to_string(),
        },
        Err(UploadError::Target(e)) => Outcome::Failed {
            damaged: false,
            error: e.to_string(),
        },
    }
}

fn decide_and_upload(ctx: &Ctx, o: &PlannedObject) -> std::result::Result<Outcome, UploadError> {
    let (repo, bucket, opts) = (ctx.repo, ctx.bucket, ctx.opts);
    let head = || {
        bucket
            .block_on(bucket.head_object(&o.key))
            .map_err(|e| UploadError::Target(bucket.error(e)))
    };
    let written = |out: PutOutcome| match out {
        PutOutcome::Written => Outcome::Uploaded,
        _ => Outcome::Skipped,
    };
    match opts.overwrite {
        Overwrite::Never => {
            let create_only = ctx.create_only.load(Ordering::Relaxed);
            if (opts.dry_run || !create_only || o.size > SINGLE_PUT_MAX) && head()?.is_some() {
                return Ok(Outcome::Skipped);
            }
            if opts.dry_run {
                return Ok(Outcome::Uploaded);
            }
            // A multipart object is HEADed first (parts are costly to send
            // for nothing) and still completed create-only: an object
            // created after the HEAD is kept.
            match upload(repo, bucket, o, create_only)? {
                PutOutcome::Unsupported => {
                    ctx.create_only.store(false, Ordering::Relaxed);
                    if head()?.is_some() {
                        return Ok(Outcome::Skipped);
                    }
                    upload(repo, bucket, o, false).map(written)
                }
                out => Ok(written(out)),
            }
        }
        Overwrite::IfChanged => {
            if let Some(h) = head()? {
                let same = h.size == o.size
                    && compare::headers_differ(&o.headers, &h.headers).is_none()
                    && (o.etag.as_deref() == Some(h.etag.as_str())
                        || compare::mismatch(repo, bucket, o)
                            .map_err(UploadError::Target)?
                            .is_none());
                if same {
                    return Ok(Outcome::Unchanged);
                }
            }
            if opts.dry_run {
                return Ok(Outcome::Uploaded);
            }
            upload(repo, bucket, o, false).map(written)
        }
        Overwrite::Always if opts.dry_run => Ok(Outcome::Uploaded),
        Overwrite::Always => upload(repo, bucket, o, false).map(written),
    }
}

/// Runs `f` on every item with `n` threads, results in item order; items
/// not started because the operation was cancelled give `None`.
fn parallel<T: Sync, R: Send>(
    items: &[T],
    n: usize,
    progress: &dyn Progress,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<Option<R>> {
    let next = AtomicUsize::new(0);
    let mut out: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    let slots: Vec<std::sync::Mutex<&mut Option<R>>> =
        out.iter_mut().map(std::sync::Mutex::new).collect();
    std::thread::scope(|s| {
        for _ in 0..n.clamp(1, items.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= items.len() || progress.cancelled() {
                    return;
                }
                let r = f(&items[i]);
                if let Ok(mut slot) = slots[i].lock() {
                    **slot = Some(r);
                }
            });
        }
    });
    drop(slots);
    out
}
