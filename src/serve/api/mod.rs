//! The REST API (`/api/v1`, JSON over HTTP, axum): one file per resource,
//! each handler short: take the guard (token and scope), parse, call the
//! library or enqueue a job, render. Long operations answer 202 with a job
//! id at once and are followed through `/jobs`. Blocking library calls
//! (opening a repository, reading trees and blobs) run on tokio's blocking
//! pool, so pollers never wait behind a repository read.
//!
//! Unknown resources named in the path (plan, repository, job) are 404s;
//! every other bad input is a 400; both name the field. The OpenAPI
//! document ([`doc::ApiDoc`]) is generated from the handlers' annotations
//! and served at `/api/v1/openapi.json`; `docs/openapi.json` is a copy a
//! test keeps equal.

pub mod doc;
pub mod download;
pub mod error;
mod guard;
pub mod jobs;
mod meta;
pub mod plans;
pub mod repos;
pub mod restore;
pub mod snapshots;
pub mod tls;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;

use cairn::Result;

use self::error::{ApiError, ApiResult};
use super::auth::Tokens;
use super::Service;

/// Request bodies larger than this are refused (413): every body the API
/// takes is a few fields.
pub const BODY_LIMIT: usize = 64 * 1024;

/// What every handler gets: the service and the token checker.
#[derive(Clone)]
pub struct Api {
    pub svc: Arc<Service>,
    pub tokens: Arc<Tokens>,
}

/// The whole HTTP application: `/api/v1/…`, `/metrics` and the dashboard
/// (`super::web`).
pub fn router(svc: Arc<Service>) -> Result<Router> {
    let tokens = Arc::new(Tokens::new(&svc.config().server.state_dir()));
    let v1 = Router::new()
        .route("/health", get(meta::health))
        .route("/openapi.json", get(meta::openapi))
        .route("/plans", get(plans::list))
        .route("/plans/{name}", get(plans::show))
        .route("/plans/{name}/run", post(plans::run))
        .route("/plans/{name}/cleanup", post(plans::cleanup))
        .route("/jobs", get(jobs::list))
        .route("/jobs/events", get(jobs::events))
        .route("/jobs/{id}", get(jobs::show))
        .route("/jobs/{id}/log", get(jobs::log))
        .route("/jobs/{id}/cancel", post(jobs::cancel))
        .route("/repositories", get(repos::list))
        .route("/repositories/{name}/test", post(repos::test))
        .route("/repositories/{name}/stats", get(repos::stats))
        .route("/repositories/{name}/check", post(repos::check))
        .route("/repositories/{name}/restore", post(restore::start))
        .route("/repositories/{name}/snapshots", get(snapshots::list))
        .route("/repositories/{name}/snapshots/{id}", get(snapshots::show))
        .route(
            "/repositories/{name}/snapshots/{id}/files",
            get(snapshots::files),
        )
        .route(
            "/repositories/{name}/snapshots/{id}/download",
            get(download::download),
        );
    let counted = svc.clone();
    let api = Api { svc, tokens };
    Ok(Router::new()
        .nest("/api/v1", v1)
        .route("/metrics", get(meta::metrics))
        .with_state(api.clone())
        .merge(crate::serve::web::router(api))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint", None) })
        .layer(axum::middleware::map_request(move |req: Request| {
            counted.requests.fetch_add(1, Ordering::Relaxed);
            std::future::ready(req)
        }))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(CatchPanicLayer::custom(panicked)))
}

/// A handler that panicked answers 500; the service keeps running.
fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("an API handler panicked");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error", None).into_response()
}

/// Runs blocking library code on the blocking pool; a panic there is a 500.
pub async fn blocking<T, F>(f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> ApiResult<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(|_| {
        tracing::error!("an API request's blocking work panicked");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error", None)
    })?
}

impl Api {
    /// The repository section `name` opened, or 404 when the configuration
    /// names none (blocking: call inside [`blocking`]).
    pub fn repository(&self, name: &str) -> ApiResult<Arc<cairn::repo::Repository>> {
        self.known_repository(name)?;
        self.svc.repository(name).map_err(ApiError::from)
    }

    /// 404 unless the configuration has the repository section `name`.
    pub fn known_repository(&self, name: &str) -> ApiResult<()> {
        if self.svc.config().repositories.contains_key(name) {
            return Ok(());
        }
        Err(ApiError::not_found(
            "name",
            format!("no repository {name:?}"),
        ))
    }
}
