//! `cairn find`: search every selected snapshot for matching names.

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use clap::Args;

use cairn::explore::find::{FindOptions, Finder};
use cairn::{Error, Result};

use crate::cli::args::{Filter, Global};
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
    let filter = a.filter.to_filter();
    let snaps = if a.snapshots.is_empty() {
        repo.snapshots(&filter)?
    } else {
        a.snapshots
            .iter()
            .map(|s| repo.find_snapshot(s, &filter))
            .collect::<Result<Vec<_>>>()?
    };
    let mut opts = FindOptions::new(&a.pattern);
    opts.ignore_case = a.ignore_case;
    opts.under = a.under.clone();
    opts.newest = a.newest.as_deref().map(parse).transpose()?;
    opts.oldest = a.oldest.as_deref().map(parse).transpose()?;
    let mut finder = Finder::new(&repo, opts)?;
    let mut out = std::io::stdout().lock();
    for snap in &snaps {
        finder.search(snap, &mut |m| {
            let path = Path::new(OsStr::from_bytes(&m.path));
            let line = if g.json {
                let mut v = serde_json::to_value(m).map_err(|e| Error::Internal(e.to_string()))?;
                v["message_type"] = "match".into();
                v["path"] = path.to_string_lossy().into();
                v["mtime_local"] = cairn::time::format_local(m.mtime).into();
                v.to_string()
            } else {
                format!(
                    "{}  {:>7o} {:>12} {}  {}",
                    m.snapshot.short(),
                    m.mode,
                    m.size,
                    cairn::time::format_local(m.mtime),
                    path.display()
                )
            };
            writeln!(out, "{line}").map_err(|e| Error::io("<stdout>", e))
        })?;
    }
    drop(out);
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

fn parse(t: &str) -> Result<cairn::format::tree::Timestamp> {
    Ok(cairn::time::parse_time(t)?.0)
}
