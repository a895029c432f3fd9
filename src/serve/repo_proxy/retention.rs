//! Object Lock through the proxy (docs/rest-protocol.md, "Object Lock"):
//! the client of an Object Lock repository asks for the retention of each
//! immutable object it stores, and the proxy, which holds the bucket
//! credentials, sets it. An `append` token may only set retention on the
//! repository's own object names and only lengthen it: a stolen client
//! must not shorten or remove the protection of what it cannot delete.

use axum::extract::{Extension, Path};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;

use cairn::storage::rest::wire::{parse_mode, LockInfo, Retention};

use super::handlers::{append_only, blocking, check_key, Refusal, Reply, Shared};
use super::policy;
use super::tokens::{Identity, Scope};

/// `GET /lock`: whether the backend has Object Lock.
pub async fn lock(axum::extract::State(p): Shared) -> Reply {
    let storage = p.storage.clone();
    let object_lock = blocking(move || storage.lock_supported()).await?;
    Ok(Json(LockInfo { object_lock }).into_response())
}

/// `GET /retention/KEY`: the object's retention end, `null` for none.
pub async fn get(axum::extract::State(p): Shared, Path(key): Path<String>) -> Reply {
    check_key(&key)?;
    let storage = p.storage.clone();
    let until = blocking(move || storage.retention(&key)).await?;
    Ok(Json(Retention { until, mode: None }).into_response())
}

/// `PUT /retention/KEY` with `{"until": …, "mode": …}`: sets it on the
/// bucket (204). An `append` token: 403 outside the layout's names and
/// for a date before the object's current retention end.
pub async fn put(
    axum::extract::State(p): Shared,
    Extension(id): Extension<Identity>,
    Path(key): Path<String>,
    Json(body): Json<Retention>,
) -> Reply {
    check_key(&key)?;
    let bad = |why: &str| Refusal(StatusCode::BAD_REQUEST, why.to_string());
    let until = body
        .until
        .ok_or_else(|| bad("until: a Unix time is required"))?;
    let mode = (body.mode.as_deref())
        .and_then(parse_mode)
        .ok_or_else(|| bad("mode: compliance or governance"))?;
    if !policy::may_create(id.scope, &key) {
        let why = "the key is not one of the repository's object names";
        return Err(append_only(&id, "PUT retention", &key, Some(why)));
    }
    let storage = p.storage.clone();
    if id.scope == Scope::Append {
        let (s, k) = (storage.clone(), key.clone());
        let current = blocking(move || s.retention(&k)).await?;
        if current.is_some_and(|c| c > until) {
            let why = "it may lengthen a retention, never shorten it";
            return Err(append_only(&id, "PUT retention", &key, Some(why)));
        }
    }
    blocking(move || storage.set_retention(&key, until, mode)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
