//! `cairn backup s3:…/BUCKET[/PREFIX]` and `r2:ACCOUNT/BUCKET[/PREFIX]`:
//! the bucket branch of `backup` (format-spec/17-bucket.md). The source
//! has its own endpoint options and credentials (`--source-*`,
//! `CAIRN_SOURCE_*`), never the repository's.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use serde_json::{json, Value};

use cairn::backup::{backup, prepare_source, BackupOptions, BackupReport};
use cairn::repo::Repository;
use cairn::source::bucket::{BucketPlan, BucketSource, Selection};
use cairn::storage::s3::{is_s3_location, Role, S3Bucket, S3Options, Secrets};
use cairn::{Error, Result};

use crate::cli::args::{BackupArgs, Global};
use crate::cli::output::{bytes, Output};
use crate::cli::{exit, print_json};
use crate::config::secret::read_secret_file;

/// Options of a bucket backup (ignored for directories).
#[derive(Args, Debug, Clone, Default)]
pub struct BucketArgs {
    /// Bucket backups: keep only keys matching this glob (repeatable; `*`
    /// also matches `/`, so '*.jpg' selects by extension). --exclude takes
    /// globs on keys too.
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Bucket backups: only objects last modified at or after this time.
    #[arg(long, value_name = "TIME")]
    pub newer_than: Option<String>,
    /// Bucket backups: only objects last modified before this time.
    #[arg(long, value_name = "TIME")]
    pub older_than: Option<String>,
    /// Region of the source bucket (default: CAIRN_SOURCE_REGION, else as
    /// for repositories).
    #[arg(long, value_name = "REGION")]
    pub source_region: Option<String>,
    /// Address the source bucket path-style (ENDPOINT/BUCKET).
    #[arg(long)]
    pub source_path_style: bool,
    /// Requests to the source bucket in flight at once, fixed [default: from
    /// 16, adapting to the bucket's round trips].
    #[arg(long, value_name = "N")]
    pub source_connections: Option<usize>,
    /// File holding the source's access key id (else CAIRN_SOURCE_ACCESS_KEY_ID).
    #[arg(long, value_name = "FILE", requires = "source_secret_access_key_file")]
    pub source_access_key_id_file: Option<PathBuf>,
    /// File holding the source's secret key (else CAIRN_SOURCE_SECRET_ACCESS_KEY).
    #[arg(long, value_name = "FILE", requires = "source_access_key_id_file")]
    pub source_secret_access_key_file: Option<PathBuf>,
}

/// The bucket location the arguments name, if the source is a bucket.
/// One bucket per backup, and nothing else with it (exit 2).
pub fn location(a: &BackupArgs) -> Result<Option<String>> {
    let is_bucket = |p: &PathBuf| p.to_str().is_some_and(is_s3_location);
    if !a.paths.iter().any(is_bucket) {
        return Ok(None);
    }
    if a.paths.len() != 1 || !a.sqlite.is_empty() || a.stdin || a.stdin_from_command {
        return Err(Error::Usage(
            "a bucket is backed up on its own: give one s3:/r2: location and no paths, \
             --sqlite or --stdin (write ./s3:name for a local path)"
                .into(),
        ));
    }
    Ok(a.paths[0].to_str().map(str::to_string))
}

/// Opens the source bucket with its own options and credentials.
pub fn open(location: &str, b: &BucketArgs) -> Result<Arc<S3Bucket>> {
    let mut s3 = S3Options {
        region: b.source_region.clone(),
        path_style: b.source_path_style.then_some(true),
        connections: b
            .source_connections
            .unwrap_or(cairn::source::bucket::DEFAULT_CONNECTIONS)
            .max(1),
        adaptive: b.source_connections.is_none(),
        ..S3Options::default()
    };
    if let (Some(id), Some(secret)) = (
        &b.source_access_key_id_file,
        &b.source_secret_access_key_file,
    ) {
        s3.credentials = Some(Secrets {
            access_key_id: read_secret_file("source access key id file", id)?.to_string(),
            secret_access_key: read_secret_file("source secret key file", secret)?,
            session_token: None,
            source: "--source-access-key-id-file/--source-secret-access-key-file",
        });
    }
    Ok(Arc::new(S3Bucket::open(location, Role::Source, &s3)?))
}

/// The source bucket opened and listed, its objects selected.
pub type Listed = (Arc<S3Bucket>, BucketSource);

/// Opens and lists the source bucket. `backup` runs this while the
/// repository is opened (its key derivation takes a few hundred ms, the
/// listing one request per 1,000 keys), unless a before-hook must quiesce
/// the bucket first.
pub fn list(location: &str, a: &BackupArgs) -> Result<Listed> {
    let bucket = open(location, &a.bucket)?;
    let src = BucketSource::open(bucket.clone(), &selection(a)?)?;
    Ok((bucket, src))
}

fn selection(a: &BackupArgs) -> Result<Selection> {
    let time = |t: &Option<String>| {
        t.as_deref()
            .map(|s| cairn::time::parse_time(s).map(|(t, _)| t))
            .transpose()
    };
    Ok(Selection {
        include: a.bucket.include.clone(),
        exclude: a.exclude.clone(),
        newer_than: time(&a.bucket.newer_than)?,
        older_than: time(&a.bucket.older_than)?,
    })
}

/// Backs up the bucket; `source` receives the requests it cost, for the
/// summary. `None`: nothing selected and no snapshot saved (as for an
/// empty directory: `--allow-empty` saves one anyway).
pub fn take(
    (g, a): (&Global, &BackupArgs),
    location: &str,
    repo: &Repository,
    opts: &BackupOptions,
    (out, listed): (&Arc<Output>, Option<Listed>),
    source: &mut Option<Value>,
) -> Result<Option<BackupReport>> {
    let (bucket, mut src) = match listed {
        Some(listed) => listed,
        None => list(location, a)?,
    };
    if src.plan().objects == 0 && !super::save_empty_anyway(g, a) {
        return Ok(None);
    }
    let report = backup(repo, &mut src, opts, &**out);
    *source = Some(requests(&bucket));
    report.map(Some)
}

/// `--dry-run`: what a backup would read, from the listing and the parent
/// snapshot alone; nothing is downloaded.
pub fn dry_run(
    g: &Global,
    a: &BackupArgs,
    location: &str,
    repo: &Repository,
    (opts, listed): (&BackupOptions, Option<Listed>),
) -> Result<i32> {
    let (bucket, mut src) = match listed {
        Some(listed) => listed,
        None => list(location, a)?,
    };
    let parent = prepare_source(repo, &mut src, opts)?;
    let plan = src.plan();
    if g.json {
        print_json(&json!({
            "message_type": "summary",
            "dry_run": true,
            "snapshot_id": null,
            "parent": parent,
            "bucket": plan_json(&plan, &bucket),
        }))?;
    } else if !g.quiet {
        println!(
            "objects: {} new, {} changed, {} unchanged",
            plan.objects_new, plan.objects_changed, plan.objects_unchanged
        );
        println!(
            "would download {} in {} GET requests, after {} LIST requests; \
             estimated R2 cost {}",
            bytes(plan.bytes_to_download),
            plan.gets,
            plan.lists,
            usd(cost(plan.lists, plan.gets))
        );
        println!("dry run: nothing saved");
    }
    Ok(exit::OK)
}

fn plan_json(plan: &BucketPlan, bucket: &S3Bucket) -> Value {
    json!({
        "location": bucket.location().to_string(),
        "objects": plan.objects,
        "objects_new": plan.objects_new,
        "objects_changed": plan.objects_changed,
        "objects_unchanged": plan.objects_unchanged,
        "bytes_to_download": plan.bytes_to_download,
        "requests": {"class_a": plan.lists, "class_b": plan.gets},
        "estimated_cost_usd": cost(plan.lists, plan.gets),
    })
}

/// The requests a backup sent to its source, for the summary's `source`.
pub fn requests(bucket: &S3Bucket) -> Value {
    let s = bucket.stats();
    let w = bucket.wire().snapshot();
    json!({
        "location": bucket.location().to_string(),
        "lists": s.lists,
        "gets": s.gets,
        "bytes_down": s.bytes_down,
        "peak_in_flight": bucket.peak_in_flight(),
        "requests": {"class_a": w.class_a, "class_b": w.class_b},
        "estimated_cost_usd": cost(w.class_a, w.class_b),
    })
}

/// Prints the source's requests in the text summary.
pub fn print(source: &Value) {
    println!(
        "source: {} LIST and {} GET requests, {} downloaded; estimated R2 cost {}",
        source["lists"],
        source["gets"],
        bytes(source["bytes_down"].as_u64().unwrap_or(0)),
        usd(source["estimated_cost_usd"].as_f64().unwrap_or(0.0))
    );
}

/// Cloudflare R2's list prices: class A (writes, lists) $4.50 and class B
/// (reads) $0.36 per million requests; the free tier is not subtracted.
fn cost(class_a: u64, class_b: u64) -> f64 {
    (class_a as f64 * 4.50 + class_b as f64 * 0.36) / 1e6
}

fn usd(v: f64) -> String {
    format!("${v:.6}")
}
