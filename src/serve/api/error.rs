//! The API's errors and the extractors that produce them: every failure is
//! JSON `{"error": "...", "field": "..."}` (field when one input is at
//! fault), never axum's plain-text rejections. Library errors keep their
//! message (the library never puts secrets in one) and get a status from
//! their kind.

use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;

use cairn::ErrorKind;

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: String,
    /// The input at fault: a path parameter, query parameter or body field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

pub type ApiResult<T> = std::result::Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>, field: Option<&str>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                error: error.into(),
                field: field.map(str::to_string),
            },
        }
    }

    /// 400 naming the input at fault.
    pub fn bad(field: &str, error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, error, Some(field))
    }

    /// 404 naming the path parameter that names nothing.
    pub fn not_found(field: &str, error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, error, Some(field))
    }

    /// A library error met while serving `field` (if one input named the
    /// thing): bad input is 400, a busy repository 409, a stopping
    /// service 503, the rest 500.
    pub fn from_lib(e: cairn::Error, field: Option<&str>) -> ApiError {
        let status = match e.kind() {
            ErrorKind::Usage => StatusCode::BAD_REQUEST,
            ErrorKind::Locked => StatusCode::CONFLICT,
            // A put-only key behind this repository: the operation needs a full key.
            ErrorKind::PutOnlyKey => StatusCode::FORBIDDEN,
            // The service is stopping and takes no new jobs.
            ErrorKind::Interrupted => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let field = field.filter(|_| status == StatusCode::BAD_REQUEST);
        ApiError::new(status, e.to_string(), field)
    }
}

impl From<cairn::Error> for ApiError {
    fn from(e: cairn::Error) -> ApiError {
        ApiError::from_lib(e, None)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                "Bearer".parse().expect("valid header"),
            );
        }
        r
    }
}

/// A JSON request body; an empty body reads as `{}`. Errors name the
/// field (`tags[1]`) and an oversized body is a 413.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "the request body is larger than {} bytes",
                        super::BODY_LIMIT
                    ),
                    Some("body"),
                ),
                s => ApiError::new(s, e.body_text(), Some("body")),
            })?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        serde_path_to_error::deserialize(de).map(Body).map_err(|e| {
            let path = e.path().to_string();
            let syntax = e.inner().is_syntax() || e.inner().is_eof();
            let field = if syntax || path == "." || path == "?" {
                "body".to_string()
            } else {
                path
            };
            ApiError::bad(&field, e.into_inner().to_string())
        })
    }
}

/// Parses an optional text parameter, naming it in the error.
pub fn parse_opt<T: std::str::FromStr>(
    field: &str,
    value: Option<&str>,
    what: &str,
) -> ApiResult<Option<T>> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse()
                .map_err(|_| ApiError::bad(field, format!("{field}: {v:?} is not {what}")))
        })
        .transpose()
}

/// An RFC 3339 time parameter.
pub fn parse_time(
    field: &str,
    value: Option<&str>,
) -> ApiResult<Option<chrono::DateTime<chrono::Utc>>> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            chrono::DateTime::parse_from_rfc3339(v)
                .map(|t| t.to_utc())
                .map_err(|e| {
                    ApiError::bad(
                        field,
                        format!("{field}: {v:?} is not an RFC 3339 time: {e}"),
                    )
                })
        })
        .transpose()
}

/// Parses an enum the way serde names it (`"succeeded"`), naming the field.
pub fn parse_enum<T: DeserializeOwned>(field: &str, value: Option<&str>) -> ApiResult<Option<T>> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            serde_json::from_value(serde_json::Value::String(v.to_string()))
                .map_err(|e| ApiError::bad(field, format!("{field}: {e}")))
        })
        .transpose()
}
