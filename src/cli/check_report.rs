//! Rendering `check`'s damage report and audit coverage for people.

use cairn::check::{AffectedKind, DamageReport, SnapshotStatus};

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
