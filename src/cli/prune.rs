//! `cairn prune` and `cairn unlock`.

use std::time::Duration;

use clap::Args;

use cairn::prune::{prune, PruneOptions, PruneReport};
use cairn::repo::lock::{self, UnlockOutcome};
use cairn::repo::Repository;
use cairn::Result;

use crate::cli::args::Global;
use crate::cli::output::{bytes, Output};
use crate::cli::{exit, open, print_json, summary_json};

/// The prune policy flags, shared by `prune` and `forget --prune`
/// (flatten them into another command's arguments).
#[derive(Args, Debug, Clone)]
pub struct PruneFlags {
    /// Repack a pack once more than this share of it is unused (e.g. 10%).
    #[arg(long, default_value = "10%", value_parser = parse_percent)]
    pub max_unused: f64,
    /// Repack at most this much used data per run (e.g. 2GiB); default no limit.
    #[arg(long, value_parser = parse_size)]
    pub max_repack_bytes: Option<u64>,
    /// How long condemned packs wait before deletion (e.g. 24h, 90m, 2d). Must
    /// exceed the longest backup; 0 deletes at once (only when no backup runs).
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub grace: Duration,
}

impl PruneFlags {
    pub fn options(&self, dry_run: bool) -> PruneOptions {
        PruneOptions {
            max_unused: self.max_unused,
            max_repack_bytes: self.max_repack_bytes,
            grace: self.grace,
            dry_run,
            now: cairn::prune::test_clock(),
            ..Default::default()
        }
    }
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    #[command(flatten)]
    pub flags: PruneFlags,
    /// Report what would be deleted and repacked and what it costs; change nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct UnlockArgs {
    /// Also remove a lock that has not expired (its holder stops at its next refresh).
    #[arg(long)]
    pub force: bool,
}

pub fn run(g: &Global, a: PruneArgs) -> Result<i32> {
    let repo = open::open(g, false)?;
    prune_and_report(g, &repo, &a.flags, a.dry_run)
}

/// Prunes and prints the report: also what `forget --prune` calls.
pub fn prune_and_report(
    g: &Global,
    repo: &Repository,
    flags: &PruneFlags,
    dry_run: bool,
) -> Result<i32> {
    let out = Output::new(g);
    let report = prune(repo, &flags.options(dry_run), &out)?;
    out.clear();
    if g.json {
        let v = summary_json(&report)?;
        print_json(&v)?;
    } else if !g.quiet {
        print_report(&report);
        print_running_backups(&report);
    }
    warn_refused(&report);
    Ok(exit::OK)
}

/// Deletes the storage refused under a retention lock: not an error (the
/// objects are still locked, and condemned), but the operator's rule is
/// longer than the repository knows.
pub fn warn_refused(r: &PruneReport) {
    if r.packs_refused + r.index_files_refused == 0 {
        return;
    }
    eprintln!(
        "warning: the storage refused to delete {} packs and {} index files whose recorded \
         retention has passed: they are still locked (a bucket-lock rule longer than the \
         repository's --lock-rules age?), stay condemned, and a later prune deletes them; \
         compare the rules with `cairn repo lock-rules --check`",
        r.packs_refused, r.index_files_refused
    );
}

fn print_report(r: &PruneReport) {
    let verb = |now: &str, dry: &str| {
        if r.dry_run {
            dry.to_string()
        } else {
            now.to_string()
        }
    };
    println!(
        "{} snapshots use {} blobs; {} packs ({}), {} unindexed, {} missing",
        r.snapshots,
        r.used_blobs,
        r.packs_total,
        bytes(r.bytes_total),
        r.packs_unindexed,
        r.packs_missing
    );
    println!(
        "{} {} packs, freeing {}",
        verb("deleted", "would delete"),
        r.packs_deleted,
        bytes(r.bytes_freed)
    );
    println!(
        "{} {} packs ({}) for a later prune; {} condemned packs still in their grace period, {} restored",
        verb("condemned", "would condemn"),
        r.packs_condemned,
        bytes(r.bytes_condemned),
        r.packs_waiting,
        r.packs_restored
    );
    println!(
        "{} {} packs: {} to download, {} to upload",
        verb("repacked", "would repack"),
        r.packs_repacked,
        bytes(r.bytes_to_download),
        bytes(r.bytes_to_upload)
    );
    if r.stray_temp_files.count > 0 {
        println!(
            "{} {} temporary files ({}) older than a day, left by interrupted writes",
            verb("removed", "would remove"),
            r.stray_temp_files.count,
            bytes(r.stray_temp_files.bytes)
        );
    }
    print_waiting(r);
    // Deletes are of packs, of the index files the new index supersedes
    // (a prune that only condemns still rewrites the index), and of the
    // maintenance lock's own objects.
    let index_deletes = r
        .requests
        .deletes
        .saturating_sub(r.packs_deleted + LOCK_DELETES);
    println!(
        "{}: {} writes and lists, {} reads, {} deletes ({} packs, {} superseded index files, {} of the maintenance lock)",
        verb("requests", "requests a real run would make"),
        r.requests.writes_lists,
        r.requests.reads,
        r.requests.deletes,
        r.packs_deleted,
        index_deletes,
        r.requests
            .deletes
            .saturating_sub(r.packs_deleted + index_deletes),
    );
}

/// Deletes a run makes for taking and releasing the maintenance lock
/// (`prune::execute` counts them so).
const LOCK_DELETES: u64 = 2;

/// Why space was not freed yet, and when it will be.
fn print_waiting(r: &PruneReport) {
    let Some(at) = r.next_free_after_unix else {
        return;
    };
    let packs = r.packs_condemned + r.packs_waiting;
    let when = cairn::time::format_local(cairn::format::tree::Timestamp { secs: at, nanos: 0 });
    println!(
        "not freed yet: {} packs ({}) condemned; freed by a prune after {} (grace {}: a backup running now may still need them)",
        packs,
        bytes(r.bytes_condemned + r.bytes_waiting),
        when,
        human_duration(r.grace_secs),
    );
}

/// `24h`, `90m`, `3d`, `45s`: as `--grace` takes it, days from two on.
fn human_duration(secs: u64) -> String {
    for (unit, n, from) in [("d", 86_400, 172_800), ("h", 3600, 3600), ("m", 60, 60)] {
        if secs >= from && secs.is_multiple_of(n) {
            return format!("{}{unit}", secs / n);
        }
    }
    format!("{secs}s")
}

/// Why packs past their grace period stay (format-spec/12-prune.md).
fn print_running_backups(r: &PruneReport) {
    if let Some(reason) = &r.kept_for_backups_reason {
        println!("{reason}; a later prune frees them");
    } else if let Some(who) = &r.running_summary {
        println!("{who}: nothing it may rely on is deleted");
    }
}

pub fn unlock(g: &Global, a: UnlockArgs) -> Result<i32> {
    let repo = open::open(g, false)?;
    let outcome = lock::unlock(&repo, a.force)?;
    let (message, removed) = match &outcome {
        UnlockOutcome::NotLocked => ("the repository is not locked".to_string(), false),
        UnlockOutcome::Released {
            previous,
            was_expired,
        } => {
            let who = previous
                .as_ref()
                .map(lock::describe)
                .unwrap_or_else(|| "an unreadable lock".into());
            let warning = if *was_expired {
                "removed an expired lock"
            } else {
                "removed a lock that had not expired: if its holder still runs, it stops at its next refresh"
            };
            (format!("{warning} ({who})"), true)
        }
    };
    if g.json {
        print_json(&serde_json::json!({
            "message_type": "summary", "removed": removed, "message": message,
        }))?;
    } else if removed {
        eprintln!("warning: {message}");
    } else if !g.quiet {
        println!("{message}");
    }
    Ok(exit::OK)
}

/// `10%`, `10` or `0.5%`.
fn parse_percent(s: &str) -> Result<f64, String> {
    let n: f64 = s
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("{s:?} is not a percentage"))?;
    if !(0.0..=100.0).contains(&n) {
        return Err(format!("{s:?} is not between 0% and 100%"));
    }
    Ok(n / 100.0)
}

/// `500MiB`, `2G`, `1048576` (binary units).
fn parse_size(s: &str) -> Result<u64, String> {
    cairn::units::parse_size(s).map_err(|e| e.to_string())
}

/// `0`, `90s`, `30m`, `24h`, `7d`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 24h, 90m, 2d, 0)"))?;
    let secs = match unit {
        "" if num == 0 => 0,
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("{s:?}: give a unit: s, m, h or d")),
    };
    Ok(Duration::from_secs(num.saturating_mul(secs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_options() {
        assert_eq!(parse_percent("10%").unwrap(), 0.1);
        assert!(parse_percent("101").is_err());
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
        assert!(parse_duration("5").is_err());
        assert_eq!(human_duration(86_400), "24h");
        assert_eq!(human_duration(172_800), "2d");
        assert_eq!(human_duration(5400), "90m");
        assert_eq!(human_duration(7), "7s");
    }
}
