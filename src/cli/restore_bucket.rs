//! `cairn restore SNAP --target s3:…`: a restore into a bucket.

use cairn::ids::SnapshotId;
use cairn::repo::{Repository, SnapshotRef};
use cairn::restore::bucket::{restore_to_bucket, BucketRestoreOptions, BucketRestoreReport};
use cairn::restore::Overwrite;
use cairn::storage::s3::{Role, S3Bucket, S3Options, Secrets};
use cairn::Result;

use crate::cli::args::{Global, RestoreArgs};
use crate::cli::inplace::Hooks;
use crate::cli::output::{bytes, Output};
use crate::cli::{exit, print_json, summary_json};
use crate::config::secret::read_secret_file;

/// Restores `snap` (below `sub`) into the bucket `target`.
pub fn run(
    g: &Global,
    a: &RestoreArgs,
    repo: &Repository,
    snap: &SnapshotRef,
    sub: Option<&str>,
    target: &str,
    overwrite: Overwrite,
) -> Result<i32> {
    let t = &a.bucket;
    let mut s3 = S3Options {
        region: t.target_region.clone(),
        path_style: t.target_path_style.then_some(true),
        connections: t.target_connections.max(1),
        // As many uploads as threads: a limit could only shrink below them.
        adaptive: false,
        ..S3Options::default()
    };
    if let (Some(id), Some(secret)) = (
        &t.target_access_key_id_file,
        &t.target_secret_access_key_file,
    ) {
        s3.credentials = Some(Secrets {
            access_key_id: read_secret_file("target access key id file", id)?.to_string(),
            secret_access_key: read_secret_file("target secret key file", secret)?,
            session_token: None,
            source: "--target-access-key-id-file/--target-secret-access-key-file",
        });
    }
    let bucket = S3Bucket::open(target, Role::Target, &s3)?;
    let opts = BucketRestoreOptions {
        selection: crate::cli::restore::selection(a, sub, &snap.snapshot)?,
        overwrite,
        verify: a.verify,
        dry_run: a.dry_run,
        uploads: s3.connections,
    };
    let out = Output::new(g);
    let mut hooks = Hooks::new(g, a, &snap.id, &out);
    hooks.before()?;
    let report = restore_to_bucket(repo, snap.snapshot.tree, &bucket, &opts, &out);
    hooks.after(report.as_ref().is_ok_and(BucketRestoreReport::is_complete));
    let report = report?;
    out.clear();
    if g.json {
        let mut v = summary_json(&report)?;
        v["snapshot_id"] = snap.id.to_hex().into();
        print_json(&v)?;
    } else {
        print_problems(&report);
        if !g.quiet {
            print_summary(&snap.id, &report);
        }
    }
    hooks.into_result()?;
    if report.damaged > 0 {
        return Ok(exit::DAMAGED);
    }
    if !report.is_complete() {
        return Ok(exit::INCOMPLETE);
    }
    Ok(exit::OK)
}

fn print_problems(r: &BucketRestoreReport) {
    let verb = if r.dry_run {
        "would be kept"
    } else {
        "not overwritten"
    };
    for k in &r.skipped {
        eprintln!("{verb} (exists; use --overwrite): {k}");
    }
    for e in &r.errors {
        eprintln!("error: {}: {}", e.key, e.error);
    }
    for e in &r.verify_failures {
        eprintln!("verify failed: {}: {}", e.key, e.error);
    }
}

fn print_summary(id: &SnapshotId, r: &BucketRestoreReport) {
    let w = &r.requests_by_class;
    println!(
        "{} snapshot {} into {}: {} objects {} ({}), {} left as they were, {} unchanged, {} failed{}",
        if r.dry_run { "would restore" } else { "restored" },
        id.short(),
        r.target,
        r.objects_uploaded,
        if r.dry_run { "to upload" } else { "uploaded" },
        bytes(r.bytes_uploaded),
        r.objects_skipped,
        r.objects_unchanged,
        r.objects_failed,
        if r.verified {
            format!("; {} verified", r.objects_verified)
        } else {
            String::new()
        },
    );
    println!(
        "target requests: {} ({} class A, {} class B): {} puts, {} heads, {} gets",
        w.requests, w.class_a, w.class_b, r.requests.puts, r.requests.heads, r.requests.gets
    );
}
