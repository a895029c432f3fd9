//! `cairn find`: search every selected snapshot for matching names.

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use clap::Args;

use cairn::explore::find::{FindMatch, FindOptions, Finder};
use cairn::{Error, Result};

use crate::cli::args::{Filter, Global};
use crate::cli::listing;
use crate::cli::output::bytes;
use crate::cli::table::{Align, Table};
use crate::cli::{exit, open, print_json, summary_json};

#[derive(Args, Debug)]
pub struct FindArgs {
    /// Glob. Without `/` it matches file names at any depth (`*.rs`); with `/` it matches
    /// the whole path inside the snapshot (`/home/*/notes.txt`, `**/src/*.rs`).
    pub pattern: String,
    /// Search only this snapshot (repeatable; an id prefix or "latest"). Default: all
    /// snapshots that match --host/--tag/--path.
    #[arg(short, long = "snapshot")]
    pub snapshots: Vec<String>,
    /// Search only below this directory of each snapshot.
    #[arg(long)]
    pub under: Option<String>,
    /// Only entries modified at or before this time.
    #[arg(long)]
    pub newest: Option<String>,
    /// Only entries modified at or after this time.
    #[arg(long)]
    pub oldest: Option<String>,
    /// Match case-insensitively.
    #[arg(short = 'i', long)]
    pub ignore_case: bool,
    #[command(flatten)]
    pub filter: Filter,
}

pub fn run(g: &Global, a: FindArgs) -> Result<i32> {
    let repo = open::open(g, false)?;
    let snaps = a.filter.select(&repo, &a.snapshots)?;
    let mut opts = FindOptions::new(&a.pattern);
    opts.ignore_case = a.ignore_case;
    opts.under = a.under.clone();
    opts.newest = a.newest.as_deref().map(parse).transpose()?;
    opts.oldest = a.oldest.as_deref().map(parse).transpose()?;
    let mut finder = Finder::new(&repo, opts)?;
    let mut out = Table::new(std::io::stdout().lock(), &MATCH_COLUMNS);
    let io_err = |e| Error::io("<stdout>", e);
    for snap in &snaps {
        let offset = snap.snapshot.utc_offset_secs;
        finder.search(snap, &mut |m| {
            if g.json {
                writeln!(out.writer(), "{}", match_json(m, offset)).map_err(io_err)
            } else {
                out.row(match_row(m, offset)).map_err(io_err)
            }
        })?;
    }
    drop(out.finish().map_err(io_err)?);
    let s = finder.stats();
    if let Some(under) = &a.under {
        // In none of them: most likely a typo, not an empty result.
        if s.snapshots > 0 && s.snapshots_without_under == s.snapshots {
            eprintln!(
                "error: --under {under}: in none of the {} snapshots searched",
                s.snapshots
            );
            return Ok(exit::USAGE);
        }
    }
    if g.json {
        let v = summary_json(s)?;
        print_json(&v)?;
    } else if !g.quiet {
        eprintln!(
            "{} matches in {} snapshots; trees read: {}, reused: {}",
            s.matches, s.snapshots, s.trees_read, s.trees_reused
        );
        if s.snapshots_without_under > 0 {
            eprintln!(
                "{} of the snapshots have no {} and were skipped",
                s.snapshots_without_under,
                a.under.as_deref().unwrap_or_default()
            );
        }
    }
    Ok(exit::OK)
}

/// Columns of a match: snapshot, mode, size, time, path.
const MATCH_COLUMNS: [Align; 5] = [
    Align::Left,
    Align::Left,
    Align::Right,
    Align::Left,
    Align::Left,
];

fn match_path(m: &FindMatch) -> &Path {
    Path::new(OsStr::from_bytes(&m.path))
}

/// A match as text: `ls -l` style mode, human size, the time in the
/// snapshot's offset.
fn match_row(m: &FindMatch, utc_offset_secs: i32) -> Vec<String> {
    vec![
        m.snapshot.short(),
        listing::permissions(m.kind, m.mode),
        if m.kind == "file" {
            bytes(m.size)
        } else {
            String::new()
        },
        listing::time_cell(m.mtime, utc_offset_secs),
        match &m.link_target {
            Some(t) => format!(
                "{} -> {}",
                match_path(m).display(),
                String::from_utf8_lossy(t)
            ),
            None => match_path(m).display().to_string(),
        },
    ]
}

/// One `find --json` line (see docs/json.md).
fn match_json(m: &FindMatch, utc_offset_secs: i32) -> serde_json::Value {
    serde_json::json!({
        "message_type": "match",
        "snapshot": m.snapshot.to_hex(),
        "path": match_path(m).to_string_lossy(),
        "type": m.kind,
        "size": m.size,
        "mode": m.mode,
        "permissions": listing::permissions(m.kind, m.mode),
        "link_target": m.link_target.as_deref().map(String::from_utf8_lossy),
        "mtime": cairn::time::rfc3339(m.mtime, utc_offset_secs),
    })
}

fn parse(t: &str) -> Result<cairn::format::tree::Timestamp> {
    Ok(cairn::time::parse_time(t)?.0)
}
