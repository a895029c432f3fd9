//! `cairn check`.

use cairn::check::{check, AuditOptions, CheckOptions, Severity};
use cairn::Result;

use crate::cli::args::{CheckArgs, Global};
use crate::cli::output::{bytes, Output};
use crate::cli::{exit, open, print_json, summary_json};

pub fn run(g: &Global, a: CheckArgs) -> Result<i32> {
    let repo = open::open(g, false)?;
    let opts = CheckOptions {
        read_data: a.read_data || a.read_data_subset.is_some(),
        subset: a.read_data_subset,
        audit: a.audit.then(|| AuditOptions {
            budget: a.budget.unwrap_or_default(),
            ..Default::default()
        }),
    };
    let out = Output::new(g);
    let report = check(&repo, &opts, &out)?;
    out.clear();
    if opts.read_data {
        crate::cli::last_check::record(g, &repo, &report, opts.subset.is_some());
    }
    if g.json {
        let mut v = summary_json(&report)?;
        v["damaged"] = report.is_damaged().into();
        if let Some(t) = report.audit.as_ref().and_then(|a| a.oldest_verification) {
            v["audit"]["oldest_verification"] = cairn::time::rfc3339_local(t).into();
        }
        print_json(&v)?;
    } else {
        let verbose = g.verbose > 0;
        crate::cli::check_report::print_problems(&report.problems, verbose);
        if let Some(d) = &report.damage {
            crate::cli::check_report::print_damage(d, verbose);
        }
        if let Some(a) = &report.audit {
            crate::cli::check_report::print_audit(a);
        }
        if !g.quiet {
            let damage = report
                .problems
                .iter()
                .filter(|p| p.severity == Severity::Damage)
                .count();
            let warnings = report.problems.len() - damage;
            let data = if opts.read_data {
                format!(
                    "; read {} of {} packs ({}), {} blobs verified",
                    report.packs_read,
                    report.packs,
                    bytes(report.bytes_read),
                    report.blobs_checked
                )
            } else {
                String::new()
            };
            println!(
                "checked {} snapshots, {} trees, {} index files, {} packs{data}: {}",
                report.snapshots,
                report.trees,
                report.index_files,
                report.packs,
                match (damage, warnings) {
                    (0, 0) => "no problems".to_string(),
                    (0, w) => format!("no damage, {w} warnings"),
                    (d, w) => format!("DAMAGED: {d} problems, {w} warnings"),
                },
            );
        }
    }
    Ok(if report.is_damaged() {
        exit::DAMAGED
    } else {
        exit::OK
    })
}
