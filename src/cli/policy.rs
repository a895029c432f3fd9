//! `cairn policy set|show|clear`: the retention policy stored in the
//! repository, which a bare `cairn forget` applies on any machine.

use clap::{Args, Subcommand};

use cairn::forget;
use cairn::Result;

use crate::cli::args::Global;
use crate::cli::forget::RuleArgs;
use crate::cli::{exit, open, print_json};

#[derive(Args, Debug)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub action: PolicyAction,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per run
pub enum PolicyAction {
    /// Store a policy, replacing the stored one (e.g. --retention 7d,4w,12m).
    Set(RuleArgs),
    /// Print the stored policy.
    Show,
    /// Remove the stored policy.
    Clear,
}

pub fn run(g: &Global, a: PolicyArgs) -> Result<i32> {
    let repo = open::open(g, false)?;
    match a.action {
        PolicyAction::Set(rules) => {
            let policy = rules.to_policy()?;
            repo.save_policy(&policy)?;
            report(g, "stored", Some(&policy))
        }
        PolicyAction::Show => report(g, "stored", repo.load_policy()?.as_ref()),
        PolicyAction::Clear => {
            repo.clear_policy()?;
            report(g, "cleared", None)
        }
    }
}

fn report(g: &Global, what: &str, policy: Option<&forget::Policy>) -> Result<i32> {
    if g.json {
        print_json(&serde_json::json!({
            "policy": policy,
            "rules": policy.map(forget::describe).unwrap_or_default(),
        }))?;
    } else if !g.quiet {
        match policy {
            Some(p) if what == "stored" => {
                println!("policy: {}", forget::describe(p).join(", "))
            }
            _ if what == "cleared" => println!("policy cleared"),
            _ => println!("no policy stored"),
        }
    }
    Ok(exit::OK)
}
