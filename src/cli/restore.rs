//! `cairn restore`.

use cairn::restore::{restore, Overwrite, RestoreOptions, Selection};
use cairn::{Error, Result};

use crate::cli::args::{Global, OverwriteArg, RestoreArgs};
use crate::cli::output::{bytes, Output};
use crate::cli::{exit, open, print_json, split_spec, summary_json};

pub fn run(g: &Global, a: RestoreArgs) -> Result<i32> {
    if a.target.symlink_metadata().is_ok() && !a.target.is_dir() {
        return Err(Error::Usage(format!(
            "restore target {} exists and is not a directory",
            a.target.display()
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
    let opts = RestoreOptions {
        target: a.target.clone(),
        selection: Selection {
            sub_path: sub.map(str::to_string),
            include: a.include.clone(),
            exclude: a.exclude.clone(),
        },
        overwrite: match a.overwrite {
            OverwriteArg::Never => Overwrite::Never,
            OverwriteArg::IfChanged => Overwrite::IfChanged,
            OverwriteArg::Always => Overwrite::Always,
        },
        verify: a.verify,
        threads: None,
        dry_run: a.dry_run,
    };
    let out = Output::new(g);
    let report = restore(&repo, snap.snapshot.tree, &opts, &out)?;
    out.clear();
    if g.json {
        let mut v = summary_json(&report)?;
        v["snapshot_id"] = snap.id.to_hex().into();
        print_json(&v)?;
    } else {
        for p in &report.not_overwritten {
            eprintln!(
                "not overwritten (differs; use --overwrite): {}",
                p.display()
            );
        }
        for (p, e) in report.errors.iter().chain(&report.verify_failures) {
            eprintln!("error: {}: {e}", p.display());
        }
        for w in &report.warnings {
            eprintln!("warning: {w}");
        }
        if !g.quiet {
            println!(
                "restored snapshot {}: {} files ({}), {} unchanged, {} directories, {} other{}",
                snap.id.short(),
                report.files_restored,
                bytes(report.bytes_written),
                report.files_unchanged,
                report.dirs,
                report.others,
                if report.verified { "; verified" } else { "" },
            );
        }
    }
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
