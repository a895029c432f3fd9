//! `cairn forget`: apply a retention policy (given rules, or the stored
//! one) and print every snapshot's verdict with its reasons.

use clap::Args;

use cairn::forget::{self, Decision, ForgetOptions, ForgetReport, GroupBy, Policy, Span};
use cairn::format::tree::Timestamp;
use cairn::{Error, Result};

use crate::cli::args::{Filter, Global};
use crate::cli::prune::{self, PruneFlags};
use crate::cli::{exit, open, print_json};

/// Retention rules, shared by `forget` and `policy set`.
#[derive(Args, Debug, Clone, Default)]
pub struct RuleArgs {
    /// Keep the N newest snapshots.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_last: Option<u32>,
    /// Keep the newest snapshot of each of the N newest hours with snapshots.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_hourly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest days with snapshots.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_daily: Option<u32>,
    /// Keep the newest snapshot of each of the N newest ISO weeks with snapshots.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_weekly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest months with snapshots.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_monthly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest years with snapshots.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_yearly: Option<u32>,
    /// Keep every snapshot within DURATION (e.g. 2y5m7d3h) of the group's newest.
    #[arg(long, value_name = "DURATION", value_parser = parse_span)]
    pub keep_within: Option<Span>,
    /// Keep the newest snapshot of each hour within DURATION of the group's newest.
    #[arg(long, value_name = "DURATION", value_parser = parse_span)]
    pub keep_within_hourly: Option<Span>,
    /// Keep the newest snapshot of each day within DURATION of the group's newest.
    #[arg(long, value_name = "DURATION", value_parser = parse_span)]
    pub keep_within_daily: Option<Span>,
    /// Keep the newest snapshot of each ISO week within DURATION of the group's newest.
    #[arg(long, value_name = "DURATION", value_parser = parse_span)]
    pub keep_within_weekly: Option<Span>,
    /// Keep the newest snapshot of each month within DURATION of the group's newest.
    #[arg(long, value_name = "DURATION", value_parser = parse_span)]
    pub keep_within_monthly: Option<Span>,
    /// Keep the newest snapshot of each year within DURATION of the group's newest.
    #[arg(long, value_name = "DURATION", value_parser = parse_span)]
    pub keep_within_yearly: Option<Span>,
    /// Keep every snapshot with this tag (repeatable).
    #[arg(long, value_name = "TAG")]
    pub keep_tag: Vec<String>,
    /// Never keep fewer than N snapshots in a group, however old.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_min: Option<u32>,
    /// Short form: 24h,7d,4w,12m,2y (hourly, daily, weekly, monthly, yearly); a bare number is --keep-last.
    #[arg(long, value_name = "LIST")]
    pub retention: Option<String>,
}

fn parse_span(s: &str) -> std::result::Result<Span, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

impl RuleArgs {
    /// The policy these flags spell (empty when none is given).
    pub fn to_policy(&self) -> Result<Policy> {
        let flags = Policy {
            last: self.keep_last.unwrap_or(0),
            hourly: self.keep_hourly.unwrap_or(0),
            daily: self.keep_daily.unwrap_or(0),
            weekly: self.keep_weekly.unwrap_or(0),
            monthly: self.keep_monthly.unwrap_or(0),
            yearly: self.keep_yearly.unwrap_or(0),
            within: self.keep_within,
            within_hourly: self.keep_within_hourly,
            within_daily: self.keep_within_daily,
            within_weekly: self.keep_within_weekly,
            within_monthly: self.keep_within_monthly,
            within_yearly: self.keep_within_yearly,
            tags: self.keep_tag.clone(),
            min: self.keep_min.unwrap_or(0),
        };
        match &self.retention {
            Some(r) => forget::combine(forget::parse_retention(r)?, flags),
            None => forget::combine(Policy::default(), flags),
        }
    }
}

#[derive(Args, Debug)]
pub struct ForgetArgs {
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Apply the policy to each group of snapshots sharing these fields
    /// (host, paths, tags; '' for one group).
    #[arg(long, value_name = "LIST", default_value = "host,paths")]
    pub group_by: String,
    #[command(flatten)]
    pub filter: Filter,
    /// Show what would be kept and removed, remove nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Run prune right after, to free the space of removed snapshots.
    #[arg(long)]
    pub prune: bool,
    #[command(flatten)]
    pub prune_flags: PruneFlags,
}

pub fn run(g: &Global, a: ForgetArgs) -> Result<i32> {
    let group_by: GroupBy = a.group_by.parse()?;
    let given = a.rules.to_policy()?;
    let repo = open::open(g, false)?;
    let stored = if given.is_empty() {
        repo.load_policy()?
    } else {
        None
    };
    let (policy, source) = forget::resolve(given, stored)?;
    let opts = ForgetOptions {
        policy,
        group_by,
        filter: a.filter.to_filter(),
        dry_run: a.dry_run,
        now: cairn::prune::test_clock(),
    };
    let report = forget::forget(&repo, &opts)?;
    for w in &report.floods {
        eprintln!("warning: {w}");
    }
    if !report.refused.is_empty() {
        eprintln!(
            "warning: the storage refused to delete {} snapshots whose recorded retention has \
             passed: they are still locked (a bucket-lock rule longer than the repository's \
             --lock-rules age?) and a later forget removes them; compare the rules with \
             `cairn repo lock-rules --check`",
            report.refused.len()
        );
    }
    if g.json {
        // One document: with --prune, prune's summary is nested in it.
        let prune = match a.prune {
            true => Some(prune_json(g, &repo, &a)?),
            false => None,
        };
        print_json(&serde_json::json!({
            "message_type": "summary",
            "dry_run": report.dry_run,
            "policy_source": source,
            "policy": forget::describe(&opts.policy),
            "kept": report.kept(),
            "removed": report.removed.len(),
            "to_remove": report.to_remove(),
            "snapshots": report.decisions.iter().map(decision_json).collect::<Vec<_>>(),
            "locked": report.locked.iter().map(locked_json).collect::<Vec<_>>(),
            "refused": report.refused,
            "flood_warnings": report.floods,
            "prune": prune,
        }))?;
        return Ok(exit::OK);
    } else if !g.quiet {
        print_report(&report, &opts.policy, source);
    }
    if a.prune {
        return prune::prune_and_report(g, &repo, &a.prune_flags, a.dry_run);
    }
    Ok(exit::OK)
}

/// `forget --prune --json`: prune's report, to nest in forget's.
fn prune_json(
    g: &Global,
    repo: &cairn::repo::Repository,
    a: &ForgetArgs,
) -> Result<serde_json::Value> {
    let out = crate::cli::output::Output::new(g);
    let report = cairn::prune::prune(repo, &a.prune_flags.options(a.dry_run), &out)?;
    out.clear();
    prune::warn_refused(&report);
    serde_json::to_value(&report).map_err(|e| Error::Internal(format!("json: {e}")))
}

/// A snapshot the policy removes that its retention keeps for now.
fn locked_json((id, until): &(cairn::ids::SnapshotId, i64)) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "locked_until": cairn::time::rfc3339_local(Timestamp { secs: *until, nanos: 0 }),
        "locked_until_unix": until,
    })
}

fn decision_json(d: &Decision) -> serde_json::Value {
    serde_json::json!({
        "id": d.id,
        "short_id": d.id.short(),
        "time": cairn::time::rfc3339(d.time, d.utc_offset_secs),
        "group": d.group,
        "keep": d.keep,
        "reasons": d.reasons,
    })
}

/// The time as recorded where the snapshot was taken, with its offset:
/// the wall clock its calendar buckets were computed from.
fn snapshot_time(d: &Decision) -> String {
    chrono::FixedOffset::east_opt(d.utc_offset_secs)
        .and_then(|zone| {
            chrono::DateTime::from_timestamp(d.time.secs, d.time.nanos)
                .map(|t| t.with_timezone(&zone).format("%Y-%m-%d %H:%M:%S %:z"))
        })
        .map(|t| t.to_string())
        .unwrap_or_else(|| format!("@{}", d.time.secs))
}

fn print_report(report: &ForgetReport, policy: &Policy, source: forget::PolicySource) {
    let from = match source {
        forget::PolicySource::CommandLine => "command line",
        forget::PolicySource::Repository => "stored in the repository",
    };
    println!("policy ({from}): {}", forget::describe(policy).join(", "));
    let mut group = None;
    for d in &report.decisions {
        if group != Some(&d.group) {
            println!("\n{}:", d.group);
            group = Some(&d.group);
        }
        let reasons: Vec<String> = d.reasons.iter().map(|r| r.to_string()).collect();
        let line = format!(
            "  {:<10} {:<25} {:<6} {}",
            d.id.short(),
            snapshot_time(d),
            if d.keep { "keep" } else { "remove" },
            reasons.join(", ")
        );
        println!("{}", line.trim_end());
    }
    if let Some(last) = report.locked.iter().map(|l| l.1).max() {
        println!(
            "\n{} snapshots stay stored until their retention ends (at the latest {}); \
             a later forget removes them",
            report.locked.len(),
            cairn::time::format_local(Timestamp {
                secs: last,
                nanos: 0
            })
        );
    }
    let n = report.to_remove();
    if report.dry_run {
        println!("\ndry run: would keep {}, remove {n}", report.kept());
    } else {
        println!("\nkept {}, removed {n}", report.kept());
    }
}
