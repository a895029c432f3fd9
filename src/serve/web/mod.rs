//! The dashboard: server-rendered HTML pages (maud, escaped by default)
//! over the same view structs and service functions as the JSON API
//! (`super::api`), one embedded stylesheet and one small script (live job
//! progress through server-sent events). No template files, fonts or
//! scripts from elsewhere: the pages work on an offline server.
//!
//! Sign-in takes an API token and starts a server-side session
//! ([`session`]); its cookie is HTTP-only and `SameSite=Strict`, and every
//! POST carries the session's CSRF token. Scopes are the API's: a page
//! shows only the buttons its viewer may use, and the handler behind each
//! button checks the scope again.

mod actions;
#[cfg(test)]
mod bench;
mod chart;
mod diff;
mod jobs;
mod layout;
mod overview;
mod restore;
pub mod session;
mod signin;
mod snapshots;
mod verify;

use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::html;

use super::api::error::ApiError;
use super::api::Api;
use session::Sessions;

/// What every page handler gets.
#[derive(Clone)]
pub struct Web {
    pub api: Api,
    pub sessions: Arc<Sessions>,
    /// Served over TLS: the cookie gets `Secure`, origins are `https://`.
    pub tls: bool,
}

/// The dashboard's routes (merged into the service's router).
pub fn router(api: Api) -> Router {
    let tls = api.svc.config().server.tls_cert.is_some();
    let web = Web {
        api,
        sessions: Arc::new(Sessions::default()),
        tls,
    };
    Router::new()
        .route("/", get(overview::show))
        .route("/login", get(signin::form).post(signin::submit))
        .route("/logout", post(signin::logout))
        .route("/static/app.css", get(stylesheet))
        .route("/static/app.js", get(script))
        .route("/jobs", get(jobs::list))
        .route("/jobs/{id}", get(jobs::show))
        .route("/jobs/{id}/state", get(jobs::state))
        .route("/jobs/{id}/cancel", post(actions::cancel))
        .route("/events", get(jobs::events))
        .route("/plans/{name}/run", post(actions::backup))
        .route("/plans/{name}/check", post(actions::check_plan))
        .route("/plans/{name}/test", post(actions::test_plan))
        .route("/repos/{name}/check", post(actions::check_repo))
        .route("/repos/{name}/snapshots", get(snapshots::list))
        .route(
            "/repos/{name}/snapshots/{id}/browse",
            get(snapshots::browse),
        )
        .route(
            "/repos/{name}/snapshots/{id}/download",
            get(snapshots::download),
        )
        .route("/repos/{name}/diff", get(diff::page_of))
        .route(
            "/repos/{name}/restore",
            get(restore::form).post(restore::submit),
        )
        .route("/repos/{name}/verify", get(verify::page_of))
        .layer(axum::middleware::map_response(headers))
        .with_state(web)
}

const CSS: &str = include_str!("static/app.css");
const JS: &str = include_str!("static/app.js");

async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS)
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        JS,
    )
}

/// Every dashboard response: scripts, styles and images only from the
/// service itself, never framed, no content sniffing, no referrer to
/// other sites (`same-origin`: under `no-referrer` browsers send
/// `Origin: null` on a form POST, which the origin check refuses).
async fn headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    let csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
               connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    r
}

/// An API error shown as a page (same status, same message).
pub struct WebError(pub ApiError);

pub type WebResult<T> = Result<T, WebError>;

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> WebError {
        WebError(e)
    }
}

impl From<cairn::Error> for WebError {
    fn from(e: cairn::Error) -> WebError {
        WebError(ApiError::from(e))
    }
}

impl WebError {
    pub fn forbidden(why: impl Into<String>) -> WebError {
        WebError(ApiError::new(StatusCode::FORBIDDEN, why, None))
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.0.status;
        let title = status.canonical_reason().unwrap_or("Error");
        let body = html! {
            main {
                h1 { (status.as_u16()) " " (title) }
                p.error { (self.0.body.error) }
                @if let Some(f) = &self.0.body.field { p { "Input at fault: " code { (f) } } }
                p { a href="/" { "Back to the overview" } }
            }
        };
        (status, layout::bare(title, body)).into_response()
    }
}

/// Runs blocking library code on the blocking pool (the API's helper).
pub async fn blocking<T, F>(f: F) -> WebResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
{
    super::api::blocking(f).await.map_err(WebError)
}

/// `?a=b&c=d`, each value form-encoded.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let q = serde_urlencoded::to_string(pairs).unwrap_or_default();
    if q.is_empty() {
        q
    } else {
        format!("?{q}")
    }
}

/// A path segment (a plan or repository name) percent-encoded.
pub fn seg(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|q| q[1..].replace('+', "%20"))
        .unwrap_or_default()
}
