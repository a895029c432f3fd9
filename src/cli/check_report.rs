//! Rendering `check`'s damage report and audit coverage for people.

use std::collections::BTreeMap;

use cairn::check::{AffectedKind, AuditReport, DamageReport, Problem, Severity, SnapshotStatus};

use crate::cli::output::bytes;

/// Prints the findings. Many alike (one per lost chunk) become one line
/// with a count unless `verbose`: the damage report below names the files.
pub fn print_problems(problems: &[Problem], verbose: bool) {
    let mut groups: BTreeMap<(&str, &str, &str), Vec<&Problem>> = BTreeMap::new();
    for p in problems {
        let label = match p.severity {
            Severity::Damage => "damage",
            Severity::Warning => "warning",
        };
        let kind = p.object.split(' ').next().unwrap_or("");
        groups
            .entry((label, kind, p.message.as_str()))
            .or_default()
            .push(p);
    }
    for ((label, kind, message), list) in groups {
        if verbose || list.len() <= ALIKE_SHOWN {
            for p in list {
                println!("{label}: {}: {}", p.object, p.message);
            }
        } else {
            println!(
                "{label}: {} {kind}s: {message} (the list with -v or --json)",
                list.len()
            );
        }
    }
}

/// Findings of one kind listed one by one before they are only counted.
const ALIKE_SHOWN: usize = 3;

/// Prints which snapshots and paths damage affects, and which are intact:
/// each damaged path once, with the number of snapshots it is damaged in
/// (per snapshot with `verbose`).
pub fn print_damage(d: &DamageReport, verbose: bool) {
    let damaged = d.damaged().count();
    println!(
        "damage report: {damaged} of {} snapshots affected",
        d.snapshots.len()
    );
    let mut paths: BTreeMap<(&str, bool, u64, u64), u64> = BTreeMap::new();
    for s in &d.snapshots {
        let when = s
            .time
            .map(cairn::time::format_local)
            .unwrap_or_else(|| "?".into());
        let head = format!(
            "  snapshot {} {when} {} {}",
            s.id.short(),
            s.host,
            s.paths.join(" ")
        );
        match s.status {
            SnapshotStatus::Intact => println!("{head}: intact"),
            SnapshotStatus::Unreadable => {
                println!(
                    "  snapshot {}: UNREADABLE (the snapshot object is damaged)",
                    s.id.short()
                )
            }
            SnapshotStatus::Damaged => {
                println!("{head}: DAMAGED, {} paths affected", s.affected.len());
                for a in &s.affected {
                    let dir = a.kind == AffectedKind::Directory;
                    if verbose {
                        println!("    {}", describe(&a.path, dir, a.lost_chunks, a.chunks));
                    }
                    *paths
                        .entry((a.path.as_str(), dir, a.lost_chunks, a.chunks))
                        .or_default() += 1;
                }
            }
        }
    }
    if !verbose && !paths.is_empty() {
        println!("  damaged paths:");
        for ((path, dir, lost, chunks), n) in paths {
            println!(
                "    {}, in {n} snapshot{}",
                describe(path, dir, lost, chunks),
                if n == 1 { "" } else { "s" }
            );
        }
    }
    if damaged > 0 {
        println!("  `cairn repair snapshots` writes repaired copies that keep everything intact");
    }
}

fn describe(path: &str, dir: bool, lost: u64, chunks: u64) -> String {
    if dir {
        format!("directory {path}: its listing is lost, nothing under it restores")
    } else {
        format!("file {path}: {lost} of {chunks} chunks missing")
    }
}

/// Prints what an audit run verified and the coverage the log proves.
pub fn print_audit(a: &AuditReport) {
    println!(
        "audit: verified {} of {} packs ({}) in this run, {} failed",
        a.packs_verified,
        a.packs,
        bytes(a.bytes_verified),
        a.packs_failed
    );
    match (a.all_verified_within_days, a.oldest_verification) {
        (Some(days), Some(t)) => println!(
            "audit: every pack verified within the last {days} day{} (oldest: {})",
            if days == 1 { "" } else { "s" },
            cairn::time::format_local(t)
        ),
        _ => println!(
            "audit: {} packs not yet verified (or last found damaged)",
            a.never_verified
        ),
    }
    if a.compacted > 0 {
        println!("audit: compacted {} log objects into one", a.compacted);
    }
}
