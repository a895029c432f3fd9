//! `cairn serve-repo`: serve the repository's storage to `rest:` clients
//! that hold only a token. The proxy itself lives in
//! `crate::serve::repo_proxy`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use cairn::{Error, Result};

use crate::cli::args::Global;

#[derive(Args, Debug)]
pub struct ServeRepoArgs {
    /// Address to listen on, e.g. 127.0.0.1:8420.
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// The tokens: one `NAME SCOPE SECRET` per line, SCOPE `append` or
    /// `full` (docs/rest-protocol.md). Re-read on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub tokens_file: PathBuf,
    /// Listen on a non-loopback address without TLS, for this stated reason
    /// (e.g. "TLS terminates in the reverse proxy on this host").
    #[arg(long, value_name = "REASON")]
    pub insecure_listen: Option<String>,
}

pub fn run(g: &Global, a: ServeRepoArgs) -> Result<i32> {
    if !a.listen.ip().is_loopback() && a.insecure_listen.is_none() {
        return Err(Error::Usage(format!(
            "--listen {}: tokens would cross the network in clear text; put a TLS reverse \
             proxy in front and pass --insecure-listen REASON",
            a.listen
        )));
    }
    let (location, _) = crate::cli::open::location(g)?;
    // Created if missing (a directory, a bucket), so that the operator can
    // run `init` through the proxy with a `full` token.
    let storage = crate::cli::storage::open(g, &location, true)?;
    crate::serve::repo_proxy::run(storage, a.listen, &a.tokens_file)
}
