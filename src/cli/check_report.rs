//! Rendering `check`'s damage report and audit coverage for people.

use cairn::check::{AffectedKind, AuditReport, DamageReport, SnapshotStatus};

use crate::cli::output::bytes;

/// Prints which snapshots and paths damage affects, and which are intact.
pub fn print_damage(d: &DamageReport) {
    let damaged = d.damaged().count();
    println!(
        "damage report: {damaged} of {} snapshots affected",
        d.snapshots.len()
    );
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
                    match a.kind {
                        AffectedKind::File => println!(
                            "    file {}: {} of {} chunks lost",
                            a.path, a.lost_chunks, a.chunks
                        ),
                        AffectedKind::Directory => println!(
                            "    directory {}: its listing is lost, nothing under it restores",
                            a.path
                        ),
                    }
                }
            }
        }
    }
    if damaged > 0 {
        println!("  `cairn repair snapshots` writes repaired copies that keep everything intact");
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
