//! The proxy's HTTP handlers (docs/rest-protocol.md): apply the
//! append-only policy, call the backend on a blocking thread, render.
//! Each storage call runs under `spawn_blocking`: the backends block (the
//! S3 backend drives a runtime of its own).
//!
//! Tokens are checked by a middleware before any handler runs, so a
//! request without a valid token is answered 401 before a byte of its body
//! is read; only authorized requests take one of the `MAX_IN_FLIGHT` slots
//! and may send up to `MAX_OBJECT` bytes.

use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use cairn::storage::rest::wire::{ErrorBody, Listed};
use cairn::storage::{Storage, StorageError, StorageErrorKind};

use super::policy;
use super::tokens::{Identity, Tokens};

/// The largest object the proxy accepts: a pack of the largest size
/// worth serving (the default is 16 MiB; repositories with `--pack-size`
/// above 500 MiB cannot be served). Bodies are held in memory, so this
/// times `MAX_IN_FLIGHT` bounds what authorized clients can make it hold.
pub const MAX_OBJECT: usize = 512 << 20;

/// Authorized requests served at once; the others wait for a slot.
pub const MAX_IN_FLIGHT: usize = 16;

/// What every handler shares.
pub struct Proxy {
    pub storage: Arc<dyn Storage>,
    /// Replaced whole when the tokens file is reloaded.
    pub tokens: RwLock<Arc<Tokens>>,
    /// One permit per request in flight (`MAX_IN_FLIGHT`).
    slots: tokio::sync::Semaphore,
}

impl Proxy {
    pub fn new(storage: Arc<dyn Storage>, tokens: Tokens) -> Proxy {
        Proxy {
            storage,
            tokens: RwLock::new(Arc::new(tokens)),
            slots: tokio::sync::Semaphore::new(MAX_IN_FLIGHT),
        }
    }
}

pub(super) type Shared = State<Arc<Proxy>>;

/// A refusal or failure, rendered as `{"error": "..."}`.
pub struct Refusal(pub StatusCode, pub String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut r = (self.0, Json(ErrorBody { error: self.1 })).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("header"));
        }
        r
    }
}

pub(super) type Reply = Result<Response, Refusal>;

pub fn router(proxy: Arc<Proxy>) -> Router {
    Router::new()
        .route("/list", get(list))
        .route("/o/{*key}", get(read).put(write).delete(remove))
        .route("/lock", get(super::retention::lock))
        .route(
            "/retention/{*key}",
            get(super::retention::get).put(super::retention::put),
        )
        .layer(DefaultBodyLimit::max(MAX_OBJECT))
        .layer(from_fn_with_state(proxy.clone(), gate))
        .with_state(proxy)
}

/// Checks the token before the handler (and its body extractor) runs,
/// then holds a slot until the handler is done with the request.
async fn gate(State(p): Shared, mut req: Request, next: Next) -> Response {
    let id = match authorize(&p, req.headers()) {
        Ok(id) => id,
        Err(refusal) => return refusal.into_response(),
    };
    let Ok(_slot) = p.slots.acquire().await else {
        return Refusal(StatusCode::SERVICE_UNAVAILABLE, "shutting down".into()).into_response();
    };
    req.extensions_mut().insert(id);
    next.run(req).await
}

/// The identity behind the request's bearer token, or 401.
fn authorize(p: &Proxy, headers: &HeaderMap) -> Result<Identity, Refusal> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let tokens = p.tokens.read().unwrap_or_else(|e| e.into_inner()).clone();
    presented
        .and_then(|t| tokens.check(t.trim()))
        .ok_or_else(|| Refusal(StatusCode::UNAUTHORIZED, "missing or unknown token".into()))
}

/// 400 for a key no backend should see: empty, `.` or `..` segments, a
/// backslash or NUL. Checked here so an S3 backend (which would store such
/// a name literally) gets the same rules as a directory.
pub(super) fn check_key(key: &str) -> Result<(), Refusal> {
    let bad = key
        .split('/')
        .any(|p| p.is_empty() || p == "." || p == "..")
        || key.contains(['\\', '\0']);
    if bad {
        return Err(Refusal(
            StatusCode::BAD_REQUEST,
            format!("unsafe key {key:?}"),
        ));
    }
    Ok(())
}

/// Runs a storage call off the async threads.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, Refusal> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(backend),
        Err(e) => Err(Refusal(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

/// A backend failure: 404, 503 (worth retrying) or 500 (not).
fn backend(e: StorageError) -> Refusal {
    let status = match e.kind {
        StorageErrorKind::NotFound => StatusCode::NOT_FOUND,
        StorageErrorKind::Transient => StatusCode::SERVICE_UNAVAILABLE,
        StorageErrorKind::Permanent => StatusCode::INTERNAL_SERVER_ERROR,
    };
    Refusal(status, e.to_string())
}

/// 403 for what an append token may not do; `why` is added to the
/// standard sentence, and the refusal is logged with the token's name.
pub(super) fn append_only(id: &Identity, method: &str, key: &str, why: Option<&str>) -> Refusal {
    tracing::warn!("refused {method} {key} for token {:?}", id.name);
    let error = match why {
        Some(why) => format!("this token is append-only: {why}"),
        None => "this token is append-only".to_string(),
    };
    Refusal(StatusCode::FORBIDDEN, error)
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    prefix: String,
}

async fn list(State(p): Shared, Query(q): Query<ListQuery>) -> Reply {
    let storage = p.storage.clone();
    let listed = blocking(move || storage.list(&q.prefix)).await?;
    let body: Vec<Listed> = listed
        .into_iter()
        .map(|o| Listed {
            key: o.key,
            size: o.size,
            modified: o.modified,
        })
        .collect();
    Ok(Json(body).into_response())
}

/// GET (and HEAD) of a whole object, or of one `Range: bytes=A-B`.
async fn read(State(p): Shared, headers: HeaderMap, Path(key): Path<String>) -> Reply {
    check_key(&key)?;
    let storage = p.storage.clone();
    let Some(range) = headers.get(header::RANGE) else {
        let data = blocking(move || storage.get(&key)).await?;
        return Ok(data.into_response());
    };
    let (offset, len) = range.to_str().ok().and_then(parse_range).ok_or_else(|| {
        Refusal(
            StatusCode::BAD_REQUEST,
            "Range must be one bytes=FIRST-LAST".into(),
        )
    })?;
    let (k, s) = (key.clone(), storage.clone());
    let data = match blocking(move || s.get_range(&k, offset, len)).await {
        Err(Refusal(StatusCode::INTERNAL_SERVER_ERROR, why)) => {
            return Err(range_failure(storage, key, offset.saturating_add(len), why).await)
        }
        other => other?,
    };
    let last = offset + len - 1;
    let content_range = format!("bytes {offset}-{last}/*");
    Ok((
        StatusCode::PARTIAL_CONTENT,
        [(header::CONTENT_RANGE, content_range)],
        data,
    )
        .into_response())
}

/// A range read's permanent failure: 416 when the range passes the end of
/// the object (backends answer that with a permanent error too), else the
/// backend's 500. The object's size comes from a listing of its key.
async fn range_failure(storage: Arc<dyn Storage>, key: String, end: u64, why: String) -> Refusal {
    let size = blocking(move || {
        let listed = storage.list(&key)?;
        Ok(listed.into_iter().find(|o| o.key == key).map(|o| o.size))
    })
    .await;
    match size {
        Ok(Some(size)) if end > size => Refusal(StatusCode::RANGE_NOT_SATISFIABLE, why),
        _ => Refusal(StatusCode::INTERNAL_SERVER_ERROR, why),
    }
}

/// `bytes=FIRST-LAST` as offset and length.
fn parse_range(v: &str) -> Option<(u64, u64)> {
    let (first, last) = v.strip_prefix("bytes=")?.split_once('-')?;
    let (first, last): (u64, u64) = (first.parse().ok()?, last.parse().ok()?);
    (last >= first).then(|| (first, last - first + 1))
}

/// PUT: with `If-None-Match: *` only if absent (201, or 412 when present).
/// Without it, a `full` token (or an append token on a backup's own
/// bookkeeping) overwrites; an append token otherwise creates, and
/// re-sending the exact bytes already stored (a retried upload) succeeds.
async fn write(
    State(p): Shared,
    Extension(id): Extension<Identity>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Bytes,
) -> Reply {
    check_key(&key)?;
    if !policy::may_create(id.scope, &key) {
        let why = "the key is not one of the repository's object names";
        return Err(append_only(&id, "PUT", &key, Some(why)));
    }
    let if_absent = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == b"*");
    let storage = p.storage.clone();
    if !if_absent && policy::may_change(id.scope, &key) {
        blocking(move || storage.put(&key, body)).await?;
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let (k, data) = (key.clone(), body.clone());
    let s = storage.clone();
    if blocking(move || s.put_if_absent(&k, data)).await? {
        return Ok(StatusCode::CREATED.into_response());
    }
    if if_absent {
        return Err(Refusal(
            StatusCode::PRECONDITION_FAILED,
            format!("{key} exists"),
        ));
    }
    let k = key.clone();
    let stored = blocking(move || storage.get(&k)).await?;
    if stored == body {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let why = "the object exists with different bytes and may not be overwritten";
    Err(append_only(&id, "PUT", &key, Some(why)))
}

async fn remove(
    State(p): Shared,
    Extension(id): Extension<Identity>,
    Path(key): Path<String>,
) -> Reply {
    check_key(&key)?;
    if !policy::may_change(id.scope, &key) {
        return Err(append_only(&id, "DELETE", &key, None));
    }
    let storage = p.storage.clone();
    blocking(move || storage.delete(&key)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_are_first_and_last_byte() {
        assert_eq!(parse_range("bytes=0-0"), Some((0, 1)));
        assert_eq!(parse_range("bytes=10-19"), Some((10, 10)));
        for bad in [
            "bytes=5-4",
            "bytes=5-",
            "bytes=-5",
            "items=0-1",
            "bytes=0-1,3-4",
        ] {
            assert_eq!(parse_range(bad), None, "{bad}");
        }
    }
}
