//! `cairn stats`: what snapshots hold and what they cost.

use clap::Args;

use cairn::stats::{stats, SnapshotStats, DEFAULT_TOP};
use cairn::{Error, Result};

use crate::cli::args::{Filter, Global};
use crate::cli::output::{bytes, Output};
use crate::cli::{exit, open, print_json};

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Snapshots (id prefixes or "latest"). Default: every snapshot that
    /// matches --host/--tag/--path.
    pub snapshots: Vec<String>,
    /// How many of the largest prefixes (directories) to list per snapshot.
    #[arg(long, default_value_t = DEFAULT_TOP)]
    pub top: usize,
    #[command(flatten)]
    pub filter: Filter,
}

pub fn run(g: &Global, a: StatsArgs) -> Result<i32> {
    let repo = open::open(g, false)?;
    let snaps = a.filter.select(&repo, &a.snapshots)?;
    let mut ids: Vec<_> = snaps.iter().map(|s| s.id).collect();
    ids.dedup();
    let out = Output::new(g);
    let all = stats(&repo, &ids, a.top, &out)?;
    out.clear();
    if g.json {
        let v: Vec<serde_json::Value> = all.iter().map(json).collect::<Result<_>>()?;
        print_json(&v)?;
    } else if !g.quiet {
        for s in &all {
            render(s);
        }
    }
    Ok(exit::OK)
}

fn json(s: &SnapshotStats) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(s).map_err(|e| Error::Internal(format!("json: {e}")))?;
    v["short_id"] = s.snapshot_id.short().into();
    Ok(v)
}

fn render(s: &SnapshotStats) {
    let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    println!("snapshot {}", s.snapshot_id.short());
    println!("  files:            {} in {} directories", s.files, s.dirs);
    println!("  logical size:     {}", bytes(s.logical_bytes));
    println!(
        "  after dedup:      {} in {} chunks (dedup ratio {:.2})",
        bytes(s.distinct_bytes),
        s.chunks,
        s.dedup_ratio
    );
    println!(
        "  stored:           {} (compression ratio {:.2})",
        bytes(s.stored_bytes),
        ratio(s.distinct_bytes, s.stored_bytes)
    );
    println!(
        "  unique to it:     {} in {} chunks ({} stored)",
        bytes(s.unique_bytes),
        s.unique_chunks,
        bytes(s.unique_stored_bytes)
    );
    if !s.largest_prefixes.is_empty() {
        println!("  largest prefixes:");
        for p in &s.largest_prefixes {
            println!(
                "    {:>10}  {:>7} files  {}",
                bytes(p.logical_bytes),
                p.files,
                p.path
            );
        }
    }
}
