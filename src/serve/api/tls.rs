//! Serving the router on a bound listener: plain HTTP, or HTTPS (rustls
//! with the ring provider, through axum-server) when `tls_cert` and
//! `tls_key` are set. Whether a non-loopback address may listen without
//! TLS is decided before (it needs a stated reason).

use std::future::Future;

use axum_server::tls_rustls::RustlsConfig;

use cairn::{Error, Result};

use crate::config::Server;

/// The TLS settings of `server`, loaded (and checked) before listening;
/// `None` without `tls_cert`.
pub async fn load(server: &Server) -> Result<Option<RustlsConfig>> {
    let (cert, key) = match (&server.tls_cert, &server.tls_key) {
        (None, None) => return Ok(None),
        (Some(c), Some(k)) => (c, k),
        _ => {
            return Err(Error::Usage(
                "server.tls_cert and server.tls_key go together".into(),
            ))
        }
    };
    // Another part of the process may have installed it already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    RustlsConfig::from_pem_file(cert, key)
        .await
        .map(Some)
        .map_err(|e| {
            Error::Usage(format!(
                "TLS certificate {} or key {}: {e}",
                cert.display(),
                key.display()
            ))
        })
}

/// Serves `app` on `listener` until `stop` completes, then lets open
/// requests finish.
pub async fn serve(
    app: axum::Router,
    listener: tokio::net::TcpListener,
    tls: Option<RustlsConfig>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let failed = |e: std::io::Error| Error::Internal(format!("HTTP server: {e}"));
    let Some(tls) = tls else {
        return axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
            .map_err(failed);
    };
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        stop.await;
        h.graceful_shutdown(None);
    });
    let std = listener.into_std().map_err(failed)?;
    axum_server::from_tcp_rustls(std, tls)
        .map_err(failed)?
        .handle(handle)
        .serve(app.into_make_service())
        .await
        .map_err(failed)
}
