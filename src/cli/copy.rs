//! `cairn copy [SNAP...] --to LOCATION | --to-profile NAME`: snapshots with
//! their trees and data into another cairn repository (`cairn::copy`).

use std::path::PathBuf;

use clap::Args;
use zeroize::Zeroizing;

use cairn::repo::{Repository, SnapshotRef};
use cairn::{Error, Result};

use crate::cli::args::{Filter, Global};
use crate::cli::output::{bytes, Output};
use crate::cli::{exit, open, print_json, summary_json};

#[derive(Args, Debug)]
pub struct CopyArgs {
    /// Snapshots to copy (id prefixes or "latest"); all that match the
    /// filters when none is given.
    pub snapshots: Vec<String>,
    /// The target repository's location (a directory, s3:… or r2:…).
    #[arg(
        long,
        conflicts_with = "to_profile",
        required_unless_present = "to_profile"
    )]
    pub to: Option<String>,
    /// The target repository's section of the configuration file.
    #[arg(long)]
    pub to_profile: Option<String>,
    /// Read the target's password from this file (else
    /// $CAIRN_TO_PASSWORD_FILE, else $CAIRN_TO_PASSWORD).
    #[arg(long)]
    pub to_password_file: Option<PathBuf>,
    /// Say what would be copied; store nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub filter: Filter,
}

pub fn run(g: &Global, a: CopyArgs) -> Result<i32> {
    let src = open::open(g, false)?;
    let snaps = select(&src, &a)?;
    let dst = open_target(g, &a)?;
    if dst.config().repo_id == src.config().repo_id {
        return Err(Error::Usage(
            "the source and the target are the same repository".into(),
        ));
    }
    let progress = Output::new(g);
    let stats = cairn::copy::copy_snapshots(&src, &dst, &snaps, a.dry_run, &progress);
    progress.clear();
    let stats = stats?;
    if g.json {
        print_json(&summary_json(&stats)?)?;
    } else if !g.quiet {
        let would = if a.dry_run { "would copy" } else { "copied" };
        println!(
            "{would} {} snapshots ({} already there); {} data and {} tree blobs, {}; {} blobs the target had{}",
            stats.snapshots_copied,
            stats.snapshots_present,
            stats.data_blobs_copied,
            stats.tree_blobs_copied,
            bytes(stats.bytes_copied),
            stats.blobs_known,
            if stats.ids_rewritten {
                "; ids recomputed for the target's key"
            } else {
                ""
            }
        );
    }
    Ok(exit::OK)
}

/// The snapshots named (or all matching the filters), oldest first so a
/// copied parent is stored before its children.
fn select(repo: &Repository, a: &CopyArgs) -> Result<Vec<SnapshotRef>> {
    let mut snaps = a.filter.select(repo, &a.snapshots)?;
    let mut seen = std::collections::HashSet::new();
    snaps.retain(|s| seen.insert(s.id));
    snaps.sort_by_key(|s| s.snapshot.time);
    Ok(snaps)
}

fn open_target(g: &Global, a: &CopyArgs) -> Result<Repository> {
    if let Some(name) = &a.to_profile {
        if a.to_password_file.is_some() {
            return Err(Error::Usage(format!(
                "--to-profile {name} takes the password of the configuration: drop --to-password-file"
            )));
        }
        let file = crate::config::path(g)?;
        let access = crate::config::load(&file)?.access(name)?;
        let (repo, _) = crate::config::open_repository(&access, g.cache_dir.clone())?;
        return Ok(repo);
    }
    let loc = a.to.as_deref().unwrap_or_default();
    let pw = target_password(a)?;
    let storage = crate::cli::storage::open(g, loc, false)?;
    Repository::open(storage, pw.as_bytes(), open::open_options(g))
}

/// `--to-password-file`, then `$CAIRN_TO_PASSWORD_FILE`, then
/// `$CAIRN_TO_PASSWORD`; exactly one may be set.
fn target_password(a: &CopyArgs) -> Result<Zeroizing<String>> {
    let env = |n: &str| std::env::var_os(n).filter(|v| !v.is_empty());
    let file_var = env("CAIRN_TO_PASSWORD_FILE").map(PathBuf::from);
    let value = env("CAIRN_TO_PASSWORD");
    let set = [
        a.to_password_file.is_some(),
        file_var.is_some(),
        value.is_some(),
    ];
    if set.iter().filter(|s| **s).count() > 1 {
        return Err(Error::Usage(
            "more than one target password source is set (--to-password-file, \
             CAIRN_TO_PASSWORD_FILE, CAIRN_TO_PASSWORD): use only one"
                .into(),
        ));
    }
    if let Some(f) = a.to_password_file.as_ref().or(file_var.as_ref()) {
        return crate::config::secret::read_secret_file("target password file", f);
    }
    match value {
        Some(v) => Ok(Zeroizing::new(v.to_string_lossy().into_owned())),
        None => Err(Error::Usage(
            "no password for the target: use --to-password-file or set CAIRN_TO_PASSWORD_FILE \
             or CAIRN_TO_PASSWORD"
                .into(),
        )),
    }
}
