//! `cairn repair index` and `cairn repair snapshots`.

use clap::{Args, Subcommand};

use cairn::repair::{plan_index_repair, repair_snapshots, SnapshotRepairOptions};
use cairn::Result;

use crate::cli::args::Global;
use crate::cli::output::Output;
use crate::cli::{exit, last_check, open, print_json};

#[derive(Args, Debug)]
pub struct RepairArgs {
    #[command(subcommand)]
    pub what: RepairWhat,
}

#[derive(Subcommand, Debug)]
pub enum RepairWhat {
    /// Rebuild the index from pack headers (lost or corrupt index files,
    /// unindexed packs, entries for packs that are gone). Never touches packs.
    Index {
        /// Say what would change, write nothing.
        #[arg(short = 'n', long)]
        dry_run: bool,
    },
    /// Write a repaired copy of each damaged snapshot, tagged "repaired":
    /// damaged files keep their intact beginning, lost directories become
    /// empty, both marked with the xattr user.cairn.damaged. Originals stay.
    Snapshots {
        /// Say what would change, write nothing.
        #[arg(short = 'n', long)]
        dry_run: bool,
        /// Read every pack first, so damage inside packs is found too.
        #[arg(long)]
        read_data: bool,
    },
}

pub fn run(g: &Global, a: RepairArgs) -> Result<i32> {
    let repo = open::open(g, false)?;
    match a.what {
        RepairWhat::Index { dry_run } => index(g, &repo, dry_run),
        RepairWhat::Snapshots { dry_run, read_data } => {
            snapshots(g, &repo, SnapshotRepairOptions { read_data, dry_run })
        }
    }
}

fn index(g: &Global, repo: &cairn::repo::Repository, dry_run: bool) -> Result<i32> {
    let plan = plan_index_repair(repo)?;
    let json_plan =
        serde_json::to_value(&plan).map_err(|e| cairn::Error::Internal(e.to_string()))?;
    let noop = plan.is_noop();
    if !g.json {
        for id in &plan.corrupt_index_files {
            println!("index {id}: unreadable, replaced");
        }
        for id in &plan.from_headers {
            println!("pack {id}: indexed from its header");
        }
        for id in &plan.shortened {
            println!("pack {id}: header unreadable, indexed up to its present size");
        }
        for id in &plan.dropped {
            println!("pack {id}: missing, its blobs are now lost (a new backup stores them again)");
        }
        for id in &plan.unreadable {
            println!("pack {id}: not indexed and its header is unreadable, left alone");
        }
    }
    let written = if dry_run { None } else { plan.execute(repo)? };
    if g.json {
        let mut v = json_plan;
        v["message_type"] = "summary".into();
        v["dry_run"] = dry_run.into();
        v["written"] = written.map(|id| id.to_hex()).into();
        print_json(&v)?;
    } else if !g.quiet {
        match (noop, written) {
            (true, _) => println!("the index is whole: nothing to repair"),
            (false, Some(id)) => println!("wrote index {id}, superseding the old index files"),
            (false, None) => println!("dry run: nothing written"),
        }
    }
    Ok(exit::OK)
}

fn snapshots(
    g: &Global,
    repo: &cairn::repo::Repository,
    opts: SnapshotRepairOptions,
) -> Result<i32> {
    let out = Output::new(g);
    let (report, repaired) = repair_snapshots(repo, &opts, &out)?;
    out.clear();
    // Damage the snapshot rewrite cannot fix (an unreadable snapshot).
    let unfixable = repaired.iter().any(|r| r.unreadable);
    // What a check that read the data found and this run, not reading
    // it, cannot see.
    let unseen = match (opts.read_data, last_check::load(g, repo)) {
        (false, Some(last)) => still_to_repair(repo, &last.damaged_snapshots, &repaired)?,
        _ => Vec::new(),
    };
    if g.json {
        let v = serde_json::json!({
            "message_type": "summary",
            "dry_run": opts.dry_run,
            "read_data": opts.read_data,
            "snapshots": repaired,
            "problems": report.problems,
            "damaged_by_last_check": unseen,
        });
        print_json(&v)?;
    } else {
        for r in &repaired {
            let id = r.original.short();
            if r.unreadable {
                println!("snapshot {id}: unreadable, cannot be repaired (forget it)");
                continue;
            }
            if r.already_repaired {
                println!("snapshot {id}: already has a repaired copy");
                continue;
            }
            match r.repaired {
                Some(new) => println!("snapshot {id}: repaired as {}", new.short()),
                None => println!("snapshot {id}: would be repaired"),
            }
            for a in &r.affected {
                println!("    {:?} {}", a.kind, a.path);
            }
        }
        if !unseen.is_empty() {
            let short: Vec<&str> = unseen.iter().map(|id| &id[..8.min(id.len())]).collect();
            println!(
                "the last `check --read-data` found damage inside packs in {} snapshot{} ({}) \
                 that this run, not reading pack data, cannot see: \
                 run `repair snapshots --read-data` to repair {}",
                unseen.len(),
                if unseen.len() == 1 { "" } else { "s" },
                short.join(", "),
                if unseen.len() == 1 { "it" } else { "them" },
            );
        } else if repaired.is_empty() && !g.quiet {
            if opts.read_data {
                println!("no snapshot is damaged: nothing to repair");
            } else {
                // Without the data read only lost index entries, packs
                // and trees are found, not damage inside a pack: saying
                // "no snapshot is damaged" here contradicted `check
                // --read-data` (issue 13).
                println!(
                    "no damage found in the repository's structure; pack data was not read, \
                     so damage inside packs (what `check --read-data` finds) is not seen: \
                     run `repair snapshots --read-data` to read it"
                );
            }
        }
    }
    Ok(if unfixable { exit::DAMAGED } else { exit::OK })
}

/// Of the snapshots a data check found damaged, those this run did not
/// list that still exist and have no repaired copy yet.
fn still_to_repair(
    repo: &cairn::repo::Repository,
    damaged: &[String],
    listed: &[cairn::repair::RepairedSnapshot],
) -> Result<Vec<String>> {
    // An unreadable snapshot must not stop a report about others.
    let (all, _) = repo.readable_snapshots(&Default::default())?;
    let exists = |id: &String| all.iter().any(|s| &s.id.to_hex() == id);
    let copied = |id: &String| {
        all.iter()
            .any(|s| s.snapshot.original.is_some_and(|o| &o.to_hex() == id))
    };
    Ok(damaged
        .iter()
        .filter(|id| !listed.iter().any(|r| &r.original.to_hex() == *id))
        .filter(|id| exists(id) && !copied(id))
        .cloned()
        .collect())
}
