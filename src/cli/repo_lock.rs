//! `cairn repo lock-rules` and `cairn repo extend-lock`: the operator's side
//! of repositories a stolen client cannot destroy (docs/ransomware.md).

use std::path::PathBuf;

use clap::Args;

use cairn::format::tree::Timestamp;
use cairn::prune::{extend_lock as extend, ExtendOptions};
use cairn::repo::lock_rules::{check_rules, parse_rules, rules_for};
use cairn::storage::s3::{config::process_env, is_s3_location, S3Location};
use cairn::{Error, Result};

use crate::cli::args::Global;
use crate::cli::{exit, open, print_json};

#[derive(Args, Debug)]
pub struct LockRulesArgs {
    /// The retention in days; without it, the one the repository was
    /// created with (`init --lock-rules`), which needs the password.
    #[arg(long)]
    pub days: Option<u32>,
    /// Compare this rules file (Cloudflare's JSON) with the repository
    /// instead of printing the rules: exit 1 if a rule would break backups.
    #[arg(long, value_name = "FILE")]
    pub check: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ExtendLockArgs {
    /// Extend objects with fewer than this many days of retention left.
    #[arg(long, value_name = "DAYS", default_value_t = 7)]
    pub min_remaining: u32,
    /// Count the objects to extend and the requests; change nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
}

/// The key prefix of the repository inside its bucket.
fn location_prefix(loc: &str) -> Result<String> {
    if !is_s3_location(loc) {
        return Ok(String::new());
    }
    Ok(S3Location::parse(loc, &process_env)
        .map_err(Error::Usage)?
        .prefix)
}

pub fn lock_rules(g: &Global, a: LockRulesArgs) -> Result<i32> {
    let (loc, _) = open::location(g)?;
    let prefix = location_prefix(&loc)?;
    let days = match a.days {
        Some(d) => d,
        None => open::open(g, false)?
            .config()
            .lock
            .map(|l| l.days)
            .ok_or_else(|| {
                Error::Usage("the repository has no retention lock: give --days".into())
            })?,
    };
    let Some(file) = a.check else {
        let rules = rules_for(&prefix, days);
        let text = serde_json::to_string_pretty(&rules).expect("rules encode");
        println!("{text}");
        return Ok(exit::OK);
    };
    let text = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
    let findings = check_rules(&parse_rules(&text)?, &prefix, days);
    let errors = findings.iter().filter(|f| f.severity == "error").count();
    if g.json {
        print_json(&serde_json::json!({
            "message_type": "lock_rules_check",
            "days": days,
            "ok": findings.is_empty(),
            "findings": findings,
        }))?;
    } else {
        for f in &findings {
            eprintln!("{}: {}: {}", f.severity, f.prefix, f.message);
        }
        if findings.is_empty() && !g.quiet {
            println!("the rules protect every immutable prefix for {days} days and no mutable one");
        }
    }
    Ok(if errors > 0 { exit::FAILED } else { exit::OK })
}

pub fn extend_lock(g: &Global, a: ExtendLockArgs) -> Result<i32> {
    let repo = open::open(g, false)?;
    let opts = ExtendOptions {
        min_remaining: i64::from(a.min_remaining) * 86_400,
        dry_run: a.dry_run,
        now: cairn::prune::test_clock(),
    };
    let r = extend(&repo, &opts)?;
    if g.json {
        let mut v = serde_json::to_value(&r).map_err(|e| Error::Internal(format!("json: {e}")))?;
        v["message_type"] = "extend_lock".into();
        print_json(&v)?;
    } else if !g.quiet {
        let until = Timestamp {
            secs: r.retain_until_unix,
            nanos: 0,
        };
        println!(
            "{} {} of {} objects in use to {}",
            if r.dry_run {
                "would extend"
            } else {
                "extended"
            },
            r.objects_extended,
            r.objects_checked,
            cairn::time::format_local(until)
        );
        println!(
            "requests: {} GetObjectRetention (class B), {} PutObjectRetention (class A){}, {} LIST (class A)",
            r.reads,
            if r.dry_run { r.objects_extended } else { r.writes },
            if r.dry_run { " to make" } else { "" },
            r.lists
        );
    }
    Ok(exit::OK)
}
