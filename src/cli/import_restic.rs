//! `cairn import-restic RESTIC_REPO`: every snapshot of a restic repository
//! into the open cairn repository (`cairn::import::restic`). The restic
//! password comes from `RESTIC_PASSWORD_FILE` or `RESTIC_PASSWORD`, as
//! restic itself takes it.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use zeroize::Zeroizing;

use cairn::import::restic::{self, ImportOptions, SnapshotOutcome, SnapshotReport};
use cairn::{Error, Result};

use crate::cli::args::Global;
use crate::cli::output::{bytes, Output};
use crate::cli::{exit, open, print_json, summary_json};

#[derive(Args, Debug)]
pub struct ImportResticArgs {
    /// The restic repository: a directory, or s3:… as for cairn repositories.
    pub restic_repo: String,
    /// List what would be imported; store nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(g: &Global, a: ImportResticArgs) -> Result<i32> {
    let password = restic_password()?;
    let storage = crate::cli::storage::open(g, &a.restic_repo, false)?;
    // Opened (and the password checked) before anything is written.
    let source = Arc::new(restic::ResticRepo::open(storage, password.as_bytes())?);
    drop(password);
    let repo = open::open(g, false)?;
    let opts = ImportOptions {
        dry_run: a.dry_run,
        threads: None,
    };
    let progress = Output::new(g);
    let mut each = |r: &SnapshotReport| {
        progress.clear();
        if !g.quiet || !r.damaged.is_empty() || r.error.is_some() {
            eprintln!("{}", line(r));
        }
        for d in &r.damaged {
            eprintln!("  damaged, left out: {}: {}", d.path.display(), d.error);
        }
    };
    let report = restic::import_restic(&repo, source, &opts, &progress, &mut each);
    progress.clear();
    let report = report?;
    if g.json {
        print_json(&summary_json(&report)?)?;
    } else if !g.quiet {
        println!(
            "{} snapshots imported, {} already imported, {} failed; {} files, {} read, {} added",
            report.imported,
            report.already_imported,
            report.failed,
            report.files,
            bytes(report.bytes_read),
            bytes(report.bytes_added),
        );
        if report.imported == 0 && report.failed == 0 && !a.dry_run {
            println!("nothing new to import");
        }
    }
    Ok(if report.is_complete() {
        exit::OK
    } else {
        exit::INCOMPLETE
    })
}

/// One line per restic snapshot.
fn line(r: &SnapshotReport) -> String {
    let short = &r.restic_id[..8.min(r.restic_id.len())];
    let cairn = r.cairn_id.map(|c| c.to_string()[..8].to_string());
    match r.outcome {
        SnapshotOutcome::Imported => format!(
            "restic {short} -> {}: {} files, {} read, {} added{}",
            cairn.unwrap_or_default(),
            r.files,
            bytes(r.bytes_read),
            bytes(r.bytes_added),
            match r.damaged.len() {
                0 => String::new(),
                n => format!(", {n} damaged entries left out"),
            }
        ),
        SnapshotOutcome::AlreadyImported => {
            format!(
                "restic {short}: already imported as {}",
                cairn.unwrap_or_default()
            )
        }
        SnapshotOutcome::WouldImport => format!(
            "restic {short}: would import ({} {})",
            r.host,
            r.paths.join(" ")
        ),
        SnapshotOutcome::Failed => format!(
            "restic {short}: not imported: {}",
            r.error.as_deref().unwrap_or("unknown error")
        ),
    }
}

/// `RESTIC_PASSWORD_FILE` (trailing newline dropped) or `RESTIC_PASSWORD`;
/// exactly one must be set.
fn restic_password() -> Result<Zeroizing<String>> {
    let env = |n: &str| std::env::var_os(n).filter(|v| !v.is_empty());
    match (
        env("RESTIC_PASSWORD_FILE").map(PathBuf::from),
        env("RESTIC_PASSWORD"),
    ) {
        (Some(_), Some(_)) => Err(Error::Usage(
            "both RESTIC_PASSWORD_FILE and RESTIC_PASSWORD are set: use only one".into(),
        )),
        (None, None) => Err(Error::Usage(
            "the restic repository's password: set RESTIC_PASSWORD_FILE or RESTIC_PASSWORD".into(),
        )),
        (Some(file), None) => {
            let text = Zeroizing::new(std::fs::read_to_string(&file).map_err(|e| {
                Error::Usage(format!("RESTIC_PASSWORD_FILE {}: {e}", file.display()))
            })?);
            Ok(Zeroizing::new(
                text.trim_end_matches(['\n', '\r']).to_string(),
            ))
        }
        (None, Some(v)) => Ok(Zeroizing::new(v.to_string_lossy().into_owned())),
    }
}
