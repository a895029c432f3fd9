//! `cairn restore`.

use cairn::format::snapshot::Snapshot;
use cairn::ids::SnapshotId;
use cairn::restore::{restore, Overwrite, RestoreOptions, RestoreReport, Selection};
use cairn::storage::s3::is_s3_location;
use cairn::{Error, Result};

use crate::cli::args::{Global, OverwriteArg, RestoreArgs};
use crate::cli::inplace::Hooks;
use crate::cli::output::{bytes, Output};
use crate::cli::{exit, open, print_json, split_spec, summary_json};

pub fn run(g: &Global, a: RestoreArgs) -> Result<i32> {
    if a.in_place {
        return crate::cli::inplace::run(g, a);
    }
    let target = a.target.clone().unwrap_or_default();
    let bucket = target.to_str().filter(|t| is_s3_location(t));
    if bucket.is_none() && target.symlink_metadata().is_ok() && !target.is_dir() {
        return Err(Error::Usage(format!(
            "restore target {} exists and is not a directory",
            target.display()
        )));
    }
    let (spec, sub) = split_spec(&a.snapshot);
    if a.as_of.is_some() && spec != "latest" {
        return Err(Error::Usage(format!(
            "--as-of selects from `latest` (the newest snapshot at or before that time), \
             not from {spec}: use `restore latest --as-of TIME`, or drop --as-of"
        )));
    }
    let repo = open::open(g, false)?;
    let mut filter = a.filter.to_filter();
    if let Some(t) = &a.as_of {
        filter.as_of = Some(cairn::time::parse_time(t)?.0);
    }
    let snap = repo.find_snapshot(spec, &filter)?;
    let overwrite = match a.overwrite {
        OverwriteArg::Never => Overwrite::Never,
        OverwriteArg::IfChanged => Overwrite::IfChanged,
        OverwriteArg::Always => Overwrite::Always,
    };
    if let Some(bucket) = bucket {
        return crate::cli::restore_bucket::run(g, &a, &repo, &snap, sub, bucket, overwrite);
    }
    let opts = RestoreOptions {
        target: target.clone(),
        selection: selection(&a, sub, &snap.snapshot)?,
        overwrite,
        verify: a.verify,
        threads: None,
        dry_run: a.dry_run,
    };
    let out = Output::new(g);
    let mut hooks = Hooks::new(g, &a, &snap.id, &out);
    hooks.before()?;
    let report = restore(&repo, snap.snapshot.tree, &opts, &out);
    hooks.after(report.as_ref().is_ok_and(|r| r.errors.is_empty()));
    let report = report?;
    out.clear();
    if g.json {
        let mut v = summary_json(&report)?;
        v["snapshot_id"] = snap.id.to_hex().into();
        v["files_kept"] = report.not_overwritten.len().into();
        v["files_not_restored"] = report.errors.len().into();
        print_json(&v)?;
    } else {
        print_problems(g, &a, &report);
        if !g.quiet {
            print_summary(&snap.id, &report);
        }
    }
    hooks.into_result()?;
    if report.damaged > 0 {
        return Ok(exit::DAMAGED);
    }
    // A file that fails `--verify` was read back wrong from the target: the
    // repository's data was authenticated, so this is not repository damage.
    let incomplete = !report.not_overwritten.is_empty()
        || !report.errors.is_empty()
        || !report.verify_failures.is_empty();
    if incomplete {
        return Ok(exit::INCOMPLETE);
    }
    Ok(exit::OK)
}

/// What `a` selects of `snap` (below `sub`). Patterns name keys in a
/// bucket snapshot (its root is the backed-up prefix).
pub fn selection(a: &RestoreArgs, sub: Option<&str>, snap: &Snapshot) -> Result<Selection> {
    let time = |t: &Option<String>| -> Result<_> {
        t.as_deref()
            .map(|t| cairn::time::parse_time(t).map(|(t, _)| t))
            .transpose()
    };
    Ok(Selection {
        sub_path: sub.map(str::to_string),
        include: a.include.clone(),
        exclude: a.exclude.clone(),
        newer_than: time(&a.newer_than)?,
        older_than: time(&a.older_than)?,
        keys_relative: snap.paths.first().is_some_and(|p| is_s3_location(p)),
    })
}

/// Problems on stderr. A full disk is one message and a count, not a line
/// per file that could not be written after it (the list with `-v`).
fn print_problems(g: &Global, a: &RestoreArgs, report: &RestoreReport) {
    let verb = if report.dry_run {
        "would be kept"
    } else {
        "not overwritten"
    };
    for p in &report.not_overwritten {
        eprintln!("{verb} (differs; use --overwrite): {}", p.display());
    }
    let each = report.disk_full.is_none() || g.verbose > 0;
    for (p, e) in report.errors.iter().chain(&report.verify_failures) {
        if each {
            eprintln!("error: {}: {e}", p.display());
        }
    }
    if let Some(full) = &report.disk_full {
        // The message names the file being written when the disk filled.
        eprintln!(
            "error: restore into {} stopped: {}; {} files not restored{}",
            a.target
                .as_deref()
                .unwrap_or(std::path::Path::new(""))
                .display(),
            full.message,
            report.errors.len(),
            if each { "" } else { " (list them with -v)" },
        );
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
}

fn print_summary(id: &SnapshotId, r: &RestoreReport) {
    if r.dry_run {
        println!(
            "would restore {} files, {}, {} to overwrite, {} kept; {} unchanged, {} directories, {} other",
            r.files_restored,
            bytes(r.bytes_written),
            r.files_overwritten,
            r.not_overwritten.len(),
            r.files_unchanged,
            r.dirs,
            r.others,
        );
        return;
    }
    println!(
        "restored snapshot {}: {} files ({}), {} overwritten, {} unchanged, {} directories, {} other{}",
        id.short(),
        r.files_restored,
        bytes(r.bytes_written),
        r.files_overwritten,
        r.files_unchanged,
        r.dirs,
        r.others,
        if r.verified { "; verified" } else { "" },
    );
}
