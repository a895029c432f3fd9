//! The endpoints about the service itself: health (no token), the OpenAPI
//! document (no token: it describes, it reveals no data) and metrics.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa::OpenApi;

use super::error::ApiResult;
use super::guard::Read;
use super::Api;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok` when the service answers.
    pub status: &'static str,
    pub version: &'static str,
}

/// Whether the service answers; needs no token.
#[utoipa::path(get, path = "/api/v1/health", tag = "service",
    responses((status = 200, body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// This API as an OpenAPI 3.1 document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "service",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        super::doc::ApiDoc::openapi()
            .to_pretty_json()
            .unwrap_or_default(),
    )
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "service", security(("bearer" = [])),
    responses((status = 200, description = "OpenMetrics text", content_type = "text/plain"),
        (status = 401, body = super::error::ErrorBody)))]
pub async fn metrics(_: Read, State(api): State<Api>) -> ApiResult<impl IntoResponse> {
    // Repository figures are as fresh as the last `…/stats` call: a scrape
    // costs no storage request.
    let text = api.svc.metrics.render();
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    ))
}
