//! `cairn copy [SNAP...] --to LOCATION | --to-profile NAME`: snapshots with
//! their trees and data into another cairn repository (`cairn::copy`).

use std::path::PathBuf;

use clap::Args;

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
    if !g.quiet && !cairn::copy::same_chunking(&src, &dst) {
        eprintln!(
            "note: the target does not share this repository's chunking: every file is read \
             from here and cut again with the target's chunker, and every id recomputed, so \
             data the target already holds is not stored twice but is still read (a target made \
             with `cairn init --copy-chunking-from` skips what it has without reading it)"
        );
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
            "{would} {} snapshots ({} already there); {} data and {} tree blobs, {}; {} blobs the target had{}; {} PUT requests on the target{}",
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
            },
            stats.target_puts.total,
            if a.dry_run { " at most" } else { "" }
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
    let pw = crate::cli::password::other_password(
        a.to_password_file.as_deref(),
        "--to-password-file",
        "CAIRN_TO",
        "target",
    )?;
    let storage = crate::cli::storage::open(g, loc, false)?;
    Repository::open(storage, pw.as_bytes(), open::open_options(g))
}
