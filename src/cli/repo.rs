//! `cairn repo …`: commands about the repository's storage itself.

use clap::{Args, Subcommand};

use cairn::format::layout;
use cairn::storage::probe::{probe, ProbeReport};
use cairn::storage::StorageErrorKind;
use cairn::Result;

use crate::cli::args::Global;
use crate::cli::{exit, open, print_json, storage};

#[derive(Args, Debug)]
pub struct RepoArgs {
    #[command(subcommand)]
    pub command: RepoCommand,
}

#[derive(Subcommand, Debug)]
pub enum RepoCommand {
    /// Check that the storage works: credentials, bucket access, and writing,
    /// reading and deleting a probe object. Needs no password.
    Ping,
    /// Print the Cloudflare R2 bucket-lock rules that protect this
    /// repository's immutable objects, or check a rules file against it.
    LockRules(crate::cli::repo_lock::LockRulesArgs),
    /// Extend the Object Lock retention of objects still in use whose
    /// retention ends soon.
    ExtendLock(crate::cli::repo_lock::ExtendLockArgs),
}

pub fn run(g: &Global, a: RepoArgs) -> Result<i32> {
    match a.command {
        RepoCommand::Ping => ping(g),
        RepoCommand::LockRules(a) => crate::cli::repo_lock::lock_rules(g, a),
        RepoCommand::ExtendLock(a) => crate::cli::repo_lock::extend_lock(g, a),
    }
}

fn ping(g: &Global) -> Result<i32> {
    let (loc, _) = open::location(g)?;
    let storage = storage::open(g, &loc, false)?;
    let report = probe(&*storage, layout::CONFIG);
    let code = match report.failure {
        None if report.repository_found => exit::OK,
        None => exit::NO_REPOSITORY,
        Some(StorageErrorKind::NotFound) => exit::NO_REPOSITORY,
        Some(_) => exit::FAILED,
    };
    if g.json {
        let mut v = serde_json::to_value(&report)
            .map_err(|e| cairn::Error::Internal(format!("json: {e}")))?;
        v["message_type"] = "ping".into();
        v["ok"] = report.ok().into();
        print_json(&v)?;
    } else {
        render(&report, g.quiet);
    }
    Ok(code)
}

fn render(r: &ProbeReport, quiet: bool) {
    for s in &r.steps {
        match &s.error {
            None if !quiet => println!("{:<6} ok   ({} ms)", s.step, s.millis),
            None => {}
            Some(e) => eprintln!("{:<6} FAILED: {e}", s.step),
        }
    }
    if quiet {
        return;
    }
    match (r.ok(), r.repository_found) {
        (true, true) => println!("{}: storage works; a repository is there", r.location),
        (true, false) => println!(
            "{}: storage works, but there is no repository yet (`cairn init` creates one)",
            r.location
        ),
        (false, _) => println!("{}: storage does NOT work (see above)", r.location),
    }
}
