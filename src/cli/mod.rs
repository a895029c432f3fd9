//! The command-line layer: parse arguments, call the library, render the
//! result. No repository logic lives here.

pub mod args;
mod backup;
mod browse;
mod check;
mod check_report;
mod copy;
mod diff;
pub mod exit;
mod export;
mod find;
pub mod forget;
mod generate;
mod import_restic;
mod init;
mod inplace;
mod interrupt;
mod key;
mod last_check;
mod listing;
mod mount;
mod open;
mod output;
mod password;
pub mod policy;
mod prune;
mod repair;
mod repo;
mod repo_lock;
mod restore;
mod restore_bucket;
pub(crate) mod serve;
mod serve_repo;
mod stats;
mod storage;
mod table;

use cairn::repo::SnapshotFilter;
use cairn::Result;

use args::{Cli, Command, Filter};

/// Runs a parsed command; returns the process exit code.
pub fn run(cli: Cli) -> Result<i32> {
    let g = &cli.global;
    interrupt::install_for(&cli.command)?;
    let result = match cli.command {
        Command::Init(a) => init::run(g, a),
        Command::Backup(a) => backup::run(g, a),
        Command::Snapshots(a) => browse::snapshots(g, a),
        Command::Restore(a) => restore::run(g, a),
        Command::Ls(a) => browse::ls(g, a),
        Command::Dump(a) => browse::dump(g, a),
        Command::Cat(a) => browse::cat(g, a),
        Command::Check(a) => check::run(g, a),
        Command::Repo(a) => repo::run(g, a),
        Command::Prune(a) => prune::run(g, a),
        Command::Unlock(a) => prune::unlock(g, a),
        Command::Forget(a) => forget::run(g, a),
        Command::Policy(a) => policy::run(g, a),
        Command::Repair(a) => repair::run(g, a),
        Command::Mount(a) => mount::run(g, a),
        Command::Find(a) => find::run(g, a),
        Command::Diff(a) => diff::run(g, a),
        Command::Export(a) => export::export(g, a),
        Command::Import(a) => export::import(g, a),
        Command::Serve(a) => serve::run(g, a),
        Command::ServeRepo(a) => serve_repo::run(g, a),
        Command::Key(a) => key::run(g, a),
        Command::Copy(a) => copy::run(g, a),
        Command::ImportRestic(a) => import_restic::run(g, a),
        Command::Stats(a) => stats::run(g, a),
        Command::Completions(a) => generate::completions(a),
        Command::Man(a) => generate::man(a),
    };
    storage::report(g);
    if interrupt::requested() && result.is_ok() {
        // A command with no safe point left (forget, repair, or one that
        // was already done) finished: still say the signal was heard.
        eprintln!("cairn: interrupted after the work was done: nothing is left half done");
    }
    result
}

impl Filter {
    pub fn to_filter(&self) -> SnapshotFilter {
        SnapshotFilter {
            hosts: self.hosts.clone(),
            tags: self.tags.clone(),
            paths: self.paths.clone(),
            as_of: None,
        }
    }

    /// The snapshots `names` (id prefixes or `latest`) matching the filter,
    /// or every matching snapshot when none is named.
    pub fn select(
        &self,
        repo: &cairn::repo::Repository,
        names: &[String],
    ) -> cairn::Result<Vec<cairn::repo::SnapshotRef>> {
        let filter = self.to_filter();
        if names.is_empty() {
            return repo.snapshots(&filter);
        }
        names
            .iter()
            .map(|s| repo.find_snapshot(s, &filter))
            .collect()
    }
}

/// Splits `SNAPSHOT[:path]`.
pub fn split_spec(spec: &str) -> (&str, Option<&str>) {
    match spec.split_once(':') {
        Some((s, p)) => (s, Some(p)),
        None => (spec, None),
    }
}

/// A command's report as its final JSON line: the report's fields plus
/// `"message_type": "summary"`.
pub fn summary_json(report: &impl serde::Serialize) -> Result<serde_json::Value> {
    let mut v =
        serde_json::to_value(report).map_err(|e| cairn::Error::Internal(format!("json: {e}")))?;
    v["message_type"] = "summary".into();
    Ok(v)
}

/// Prints a value as one line of JSON.
pub fn print_json(v: &impl serde::Serialize) -> Result<()> {
    let s = serde_json::to_string(v).map_err(|e| cairn::Error::Internal(format!("json: {e}")))?;
    println!("{s}");
    Ok(())
}
