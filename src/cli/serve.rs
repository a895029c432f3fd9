//! `cairn serve`: run the service, validate its configuration, and manage
//! its API tokens. The service itself lives in `crate::serve`.

use clap::{Args, Subcommand};

use cairn::Result;

use crate::cli::args::Global;

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(subcommand)]
    pub command: Option<ServeCommand>,
    /// Validate the configuration file and exit (0 when valid, 2 with the
    /// file, line and reason when not).
    #[arg(long)]
    pub check_config: bool,
    /// Listen on a non-loopback address without TLS, for this stated reason
    /// (e.g. "TLS terminates in the proxy on this host").
    #[arg(long, value_name = "REASON")]
    pub insecure_listen: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum ServeCommand {
    /// Create, list and revoke the API's bearer tokens.
    Token(TokenArgs),
}

#[derive(Args, Debug)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token; it is printed once, alone on the last line of stdout.
    Create {
        #[arg(long)]
        name: String,
        /// read, backup, restore or admin (repeatable).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
    /// List tokens (names, scopes, creation and last use; never the token).
    List,
    /// Revoke a token by name.
    Revoke { name: String },
}

pub fn run(g: &Global, a: ServeArgs) -> Result<i32> {
    if a.check_config {
        return crate::config::check_cli(g, a.insecure_listen.as_deref());
    }
    let path = crate::config::path(g)?;
    if let Some(ServeCommand::Token(t)) = a.command {
        return crate::serve::auth::command::run(&path, t.command, g.json);
    }
    crate::serve::run(&path, a.insecure_listen)
}
