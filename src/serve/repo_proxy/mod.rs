//! `cairn serve-repo`: one repository's storage over HTTP, for clients
//! that hold only a token (the `rest:` backend). The bucket credentials
//! stay in this process's environment, and it never needs the repository
//! password: it moves opaque, sealed objects. `append` tokens may add to
//! the repository but not destroy it (`policy.rs`); `full` tokens may do
//! everything. The protocol is in docs/rest-protocol.md.
//!
//! It refuses to start on a backend whose create-only write overwrites
//! (`probe.rs`): the append-only policy depends on it.
//!
//! SIGHUP re-reads the tokens file (a bad file keeps the tokens in force);
//! SIGTERM and SIGINT stop after the requests in flight.

mod handlers;
mod policy;
mod probe;
mod retention;
mod tokens;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::signal::unix::{signal, SignalKind};

use cairn::storage::Storage;
use cairn::{Error, Result};

use handlers::Proxy;
use tokens::Tokens;

/// Serves `storage` on `listen` until SIGTERM or SIGINT.
pub fn run(storage: Arc<dyn Storage>, listen: SocketAddr, tokens_file: &Path) -> Result<i32> {
    let tokens = load_tokens(tokens_file)?;
    probe::check_create_only(storage.as_ref())?;
    tracing::info!("{}: create-only writes checked", storage.location());
    let proxy = Arc::new(Proxy::new(storage.clone(), tokens));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("starting the runtime: {e}")))?;
    let result = rt.block_on(serve(proxy, listen, tokens_file.to_path_buf()));
    // The runtime goes first and the storage last, outside any async
    // context: an S3 backend owns a runtime that must not be dropped there.
    drop(rt);
    drop(storage);
    result.map(|()| 0)
}

async fn serve(proxy: Arc<Proxy>, listen: SocketAddr, tokens_file: PathBuf) -> Result<()> {
    let sig = |k| signal(k).map_err(|e| Error::Internal(format!("signal handler: {e}")));
    let (mut term, mut int, mut hup) = (
        sig(SignalKind::terminate())?,
        sig(SignalKind::interrupt())?,
        sig(SignalKind::hangup())?,
    );
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on {listen}: {e}")))?;
    let local = listener.local_addr().unwrap_or(listen);
    tracing::info!("serving {} on {local}", proxy.storage.location());
    eprintln!("cairn serve-repo: listening on {local}");
    let app = handlers::router(proxy.clone());
    let stop = async move {
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = hup.recv() => reload(&proxy, &tokens_file),
            }
        }
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
        .map_err(|e| Error::Internal(format!("serving: {e}")))
}

/// The tokens file's tokens; a file without any is an error, at start
/// and on reload alike (an emptied file must not lock everyone out).
fn load_tokens(path: &Path) -> Result<Tokens> {
    let tokens = Tokens::load(path)?;
    if tokens.len() == 0 {
        return Err(Error::Usage(format!(
            "tokens file {}: no tokens in it",
            path.display()
        )));
    }
    Ok(tokens)
}

/// Replaces the tokens with the file's; keeps the old ones if it is bad.
fn reload(proxy: &Proxy, path: &Path) {
    match load_tokens(path) {
        Ok(t) => {
            tracing::info!("reloaded {} tokens from {}", t.len(), path.display());
            *proxy.tokens.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(t);
        }
        Err(e) => tracing::error!("tokens not reloaded, the old ones stay in force: {e}"),
    }
}

#[cfg(test)]
mod retention_tests;
#[cfg(test)]
mod tests;
