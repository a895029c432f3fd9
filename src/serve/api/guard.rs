//! Extractors that run before a handler reads anything: the bearer token
//! with the scope the route needs, and query strings as JSON errors.
//! Handlers take the guard first, so a request without a valid token
//! learns nothing about the resource it names.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::Api;
use crate::serve::auth::{Scope, Verdict};

/// The route needs a token granting scope `S` (see [`scope`]).
pub struct Need<const S: u8>;

pub const READ: u8 = 0;
pub const BACKUP: u8 = 1;
pub const RESTORE: u8 = 2;

pub type Read = Need<READ>;
pub type Backup = Need<BACKUP>;
pub type Restore = Need<RESTORE>;

fn scope(s: u8) -> Scope {
    match s {
        READ => Scope::Read,
        BACKUP => Scope::Backup,
        RESTORE => Scope::Restore,
        _ => Scope::Admin,
    }
}

/// The bearer token a request carries, if any.
pub fn bearer(headers: &header::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The one message for a missing, malformed, unknown or revoked token.
const UNAUTHORIZED: &str = "a valid bearer token is required";

impl<const S: u8> FromRequestParts<Api> for Need<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, ApiError> {
        match api.tokens.check(bearer(&parts.headers), scope(S)) {
            Verdict::Allowed => Ok(Need),
            Verdict::Unknown => Err(ApiError::new(StatusCode::UNAUTHORIZED, UNAUTHORIZED, None)),
            Verdict::Forbidden => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("this token lacks the {} scope", scope(S).name()),
                None,
            )),
        }
    }
}

/// Query parameters; a malformed query string is a JSON 400.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, St: Send + Sync> FromRequestParts<St> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &St) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, st)
            .await
            .map(|q| Params(q.0))
            .map_err(|e| ApiError::bad("query", e.body_text()))
    }
}
