//! `cairn diff`: what changed between two snapshots.

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use clap::Args;

use cairn::explore::diff::{diff, DiffOptions};
use cairn::explore::resolve;
use cairn::{Error, Result};

use crate::cli::args::{Filter, Global};
use crate::cli::output::bytes;
use crate::cli::{exit, open, print_json, split_spec, summary_json};

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The older snapshot: SNAPSHOT or SNAPSHOT:path.
    pub first: String,
    /// The newer snapshot: SNAPSHOT or SNAPSHOT:path. A path given on only one side
    /// applies to both.
    pub second: String,
    /// Also list entries whose metadata alone changed (mode, owner, mtime, xattrs).
    #[arg(long)]
    pub metadata: bool,
    #[command(flatten)]
    pub filter: Filter,
}

pub fn run(g: &Global, a: DiffArgs) -> Result<i32> {
    let repo = open::open(g, false)?;
    let filter = a.filter.to_filter();
    let (s1, p1) = split_spec(&a.first);
    let (s2, p2) = split_spec(&a.second);
    let (p1, p2) = (p1.or(p2).unwrap_or(""), p2.or(p1).unwrap_or(""));
    let old = repo.find_snapshot(s1, &filter)?;
    let new = repo.find_snapshot(s2, &filter)?;
    let (old_path, old_node) = resolve(&repo, old.snapshot.tree, p1)?;
    let (_, new_node) = resolve(&repo, new.snapshot.tree, p2)?;
    let mut out = std::io::stdout().lock();
    let start = old_path.as_os_str().as_bytes().to_vec();
    let opts = DiffOptions {
        metadata: a.metadata,
    };
    let stats = diff(&repo, &old_node, &new_node, &start, opts, &mut |e| {
        let path = Path::new(OsStr::from_bytes(&e.path));
        let line = if g.json {
            let mut v = serde_json::to_value(e).map_err(|e| Error::Internal(e.to_string()))?;
            v["message_type"] = "change".into();
            v["path"] = path.to_string_lossy().into();
            v.to_string()
        } else {
            format!("{}    {}", e.change.code(), path.display())
        };
        writeln!(out, "{line}").map_err(|e| Error::io("<stdout>", e))
    })?;
    drop(out);
    if g.json {
        let mut v = summary_json(&stats)?;
        v["old_snapshot"] = old.id.to_hex().into();
        v["new_snapshot"] = new.id.to_hex().into();
        print_json(&v)?;
    } else if !g.quiet {
        println!();
        println!(
            "added {} ({}), removed {} ({}), modified {} ({} -> {}), type changed {}{}",
            stats.added,
            bytes(stats.added_bytes),
            stats.removed,
            bytes(stats.removed_bytes),
            stats.modified,
            bytes(stats.modified_old_bytes),
            bytes(stats.modified_new_bytes),
            stats.type_changed,
            if a.metadata {
                format!(", metadata changed {}", stats.metadata_changed)
            } else {
                String::new()
            }
        );
    }
    Ok(exit::OK)
}
