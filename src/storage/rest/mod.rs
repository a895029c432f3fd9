//! The `rest:` backend: a repository served by `cairn serve-repo` (the
//! append-only proxy) over HTTP. The client holds only a bearer token; the
//! bucket credentials stay on the proxy. The wire protocol is in
//! `docs/rest-protocol.md`; [`wire`] holds the parts both ends share.
//!
//! Statuses map to [`StorageErrorKind`] so the retry wrapper stacked on
//! this backend (`open_location`) retries what may pass: connection
//! errors, timeouts, 502/503/504 and 429 are Transient; 404 is NotFound;
//! 401, 403, 416 and 500 are answers and Permanent. A refusal says what
//! was refused ("the proxy refused DELETE packs/…: this token is
//! append-only"), never the token.

pub mod wire;

use std::time::Duration;

use bytes::Bytes;

use super::{ObjectInfo, RetentionMode, Storage, StorageError, StorageErrorKind, StorageResult};
use crate::error::{Error, Result};

/// The environment variable holding the token.
pub const TOKEN_ENV: &str = "CAIRN_REST_TOKEN";
/// The environment variable naming a file that holds the token.
pub const TOKEN_FILE_ENV: &str = "CAIRN_REST_TOKEN_FILE";

/// Whether `location` names a `rest:` repository.
pub fn is_rest_location(location: &str) -> bool {
    location.starts_with("rest:")
}

/// A repository behind `cairn serve-repo`.
pub struct RestStorage {
    /// `http(s)://host:port/`, always ending in `/`.
    base: String,
    /// `Bearer <token>`; never printed.
    auth: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for RestStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestStorage")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl RestStorage {
    /// Opens `rest:URL` with the token from `CAIRN_REST_TOKEN` or the file
    /// `CAIRN_REST_TOKEN_FILE` names.
    pub fn open(location: &str) -> Result<RestStorage> {
        RestStorage::with_token(location, &token_from_env()?)
    }

    /// Opens `rest:URL` with `token`.
    pub fn with_token(location: &str, token: &str) -> Result<RestStorage> {
        let url = location.strip_prefix("rest:").unwrap_or(location);
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::Usage(format!(
                "rest location {location:?}: expected rest:http://HOST:PORT/ or rest:https://…"
            )));
        }
        if url.contains('@') || url.contains('?') || url.contains('#') {
            return Err(Error::Usage(
                "rest location: no user, query or fragment in the URL; the token comes from \
                 CAIRN_REST_TOKEN or CAIRN_REST_TOKEN_FILE"
                    .into(),
            ));
        }
        let base = if url.ends_with('/') {
            url.to_string()
        } else {
            format!("{url}/")
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .into();
        Ok(RestStorage {
            base,
            auth: format!("Bearer {}", token.trim()),
            agent,
        })
    }

    fn object_url(&self, key: &str) -> String {
        format!("{}{}", self.base, wire::object_path(key))
    }

    fn retention_url(&self, key: &str) -> String {
        format!("{}{}", self.base, wire::retention_path(key))
    }

    /// Sends one request; a transport failure is Transient.
    fn send(
        &self,
        op: &'static str,
        key: &str,
        req: ureq::RequestBuilder<ureq::typestate::WithoutBody>,
    ) -> StorageResult<ureq::http::Response<ureq::Body>> {
        req.header("Authorization", &self.auth)
            .call()
            .map_err(|e| transport(op, key, e))
    }

    fn read_body(
        op: &'static str,
        key: &str,
        mut resp: ureq::http::Response<ureq::Body>,
    ) -> StorageResult<Vec<u8>> {
        resp.body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .map_err(|e| transport(op, key, e))
    }
}

/// The token from the environment, or a usage error saying where to put it.
fn token_from_env() -> Result<String> {
    if let Ok(t) = std::env::var(TOKEN_ENV) {
        if !t.trim().is_empty() {
            return Ok(t.trim().to_string());
        }
    }
    if let Some(path) = std::env::var_os(TOKEN_FILE_ENV) {
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::Usage(format!(
                "{TOKEN_FILE_ENV}: cannot read {}: {e}",
                std::path::Path::new(&path).display()
            ))
        })?;
        let t = text.trim();
        if !t.is_empty() {
            return Ok(t.to_string());
        }
    }
    Err(Error::Usage(format!(
        "a rest: repository needs a token: set {TOKEN_ENV} or {TOKEN_FILE_ENV}"
    )))
}

fn transport(op: &'static str, key: &str, e: ureq::Error) -> StorageError {
    let kind = match e {
        ureq::Error::BadUri(_) | ureq::Error::RequireHttpsOnly(_) | ureq::Error::Http(_) => {
            StorageErrorKind::Permanent
        }
        _ => StorageErrorKind::Transient,
    };
    StorageError::new(kind, op, key, format!("talking to the proxy: {e}"))
}

/// The error for a status the operation did not expect, with the proxy's
/// own explanation from the JSON body.
fn refused(
    op: &'static str,
    method: &str,
    key: &str,
    mut resp: ureq::http::Response<ureq::Body>,
) -> StorageError {
    let status = resp.status().as_u16();
    let why = resp
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_vec()
        .ok()
        .and_then(|b| serde_json::from_slice::<wire::ErrorBody>(&b).ok())
        .map(|b| b.error)
        .unwrap_or_else(|| format!("HTTP {status}"));
    let kind = wire::status_kind(status);
    let message = match status {
        401 => {
            format!("the proxy refused the token ({why}): check {TOKEN_ENV} or {TOKEN_FILE_ENV}")
        }
        403 => format!("the proxy refused {method} {key}: {why}"),
        _ => format!("{method} {key}: HTTP {status}: {why}"),
    };
    StorageError::new(kind, op, key, message)
}

impl Storage for RestStorage {
    fn put(&self, key: &str, data: Bytes) -> StorageResult<()> {
        let resp = self
            .agent
            .put(self.object_url(key))
            .header("Authorization", &self.auth)
            .send(&data[..])
            .map_err(|e| transport("put", key, e))?;
        match resp.status().as_u16() {
            200 | 201 | 204 => Ok(()),
            _ => Err(refused("put", "PUT", key, resp)),
        }
    }

    fn put_if_absent(&self, key: &str, data: Bytes) -> StorageResult<bool> {
        let resp = self
            .agent
            .put(self.object_url(key))
            .header("Authorization", &self.auth)
            .header("If-None-Match", "*")
            .send(&data[..])
            .map_err(|e| transport("put_if_absent", key, e))?;
        match resp.status().as_u16() {
            200 | 201 | 204 => Ok(true),
            412 => Ok(false),
            _ => Err(refused("put_if_absent", "PUT", key, resp)),
        }
    }

    fn get(&self, key: &str) -> StorageResult<Vec<u8>> {
        let resp = self.send("get", key, self.agent.get(self.object_url(key)))?;
        match resp.status().as_u16() {
            200 => Self::read_body("get", key, resp),
            _ => Err(refused("get", "GET", key, resp)),
        }
    }

    fn get_range(&self, key: &str, offset: u64, len: u64) -> StorageResult<Vec<u8>> {
        if len == 0 {
            return self.empty_range(key, offset);
        }
        let end = offset.checked_add(len - 1).ok_or_else(|| {
            StorageError::new(
                StorageErrorKind::Permanent,
                "get_range",
                key,
                "range overflows",
            )
        })?;
        let req = self
            .agent
            .get(self.object_url(key))
            .header("Range", &format!("bytes={offset}-{end}"));
        let resp = self.send("get_range", key, req)?;
        if resp.status().as_u16() != 206 {
            return Err(refused("get_range", "GET", key, resp));
        }
        let body = Self::read_body("get_range", key, resp)?;
        if body.len() as u64 != len {
            return Err(StorageError::new(
                StorageErrorKind::Transient,
                "get_range",
                key,
                format!("asked for {len} bytes, the proxy sent {}", body.len()),
            ));
        }
        Ok(body)
    }

    fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectInfo>> {
        let url = format!("{}{}", self.base, wire::list_path(prefix));
        let resp = self.send("list", prefix, self.agent.get(url))?;
        if resp.status().as_u16() != 200 {
            return Err(refused("list", "GET", prefix, resp));
        }
        let body = Self::read_body("list", prefix, resp)?;
        let listed: Vec<wire::Listed> = serde_json::from_slice(&body).map_err(|e| {
            StorageError::new(
                StorageErrorKind::Permanent,
                "list",
                prefix,
                format!("the proxy's listing is not valid JSON: {e}"),
            )
        })?;
        Ok(listed
            .into_iter()
            .map(|o| ObjectInfo {
                key: o.key,
                size: o.size,
                modified: o.modified,
            })
            .collect())
    }

    fn delete(&self, key: &str) -> StorageResult<()> {
        let resp = self.send("delete", key, self.agent.delete(self.object_url(key)))?;
        match resp.status().as_u16() {
            200 | 204 | 404 => Ok(()),
            _ => Err(refused("delete", "DELETE", key, resp)),
        }
    }

    fn location(&self) -> String {
        format!("rest:{}", self.base)
    }

    fn as_dyn(&self) -> &dyn Storage {
        self
    }

    /// Whether the proxy's backend has Object Lock (`GET /lock`; a proxy
    /// that does not know the request answers 404: no).
    fn lock_supported(&self) -> StorageResult<bool> {
        let url = format!("{}{}", self.base, wire::LOCK_PATH);
        let resp = self.send("lock_supported", "", self.agent.get(url))?;
        match resp.status().as_u16() {
            200 => {
                let body = Self::read_body("lock_supported", "", resp)?;
                let info: wire::LockInfo =
                    serde_json::from_slice(&body).map_err(|e| bad_json("lock_supported", "", e))?;
                Ok(info.object_lock)
            }
            404 => Ok(false),
            _ => Err(refused("lock_supported", "GET", "lock", resp)),
        }
    }

    /// Asks the proxy to set `key`'s retention on its bucket (it refuses
    /// an `append` token that would shorten one).
    fn set_retention(&self, key: &str, until: i64, mode: RetentionMode) -> StorageResult<()> {
        let body = wire::Retention {
            until: Some(until),
            mode: Some(wire::mode_name(mode).to_string()),
        };
        let json = serde_json::to_vec(&body).expect("a retention serializes");
        let resp = self
            .agent
            .put(self.retention_url(key))
            .header("Authorization", &self.auth)
            .header("Content-Type", "application/json")
            .send(&json[..])
            .map_err(|e| transport("set_retention", key, e))?;
        match resp.status().as_u16() {
            200 | 204 => Ok(()),
            _ => Err(refused("set_retention", "PUT", key, resp)),
        }
    }

    /// The retention the proxy's backend reports; its failure (a backend
    /// without Object Lock, an old proxy) is an error, never "none": prune
    /// must not delete on the belief that nothing is retained.
    fn retention(&self, key: &str) -> StorageResult<Option<i64>> {
        let resp = self.send("retention", key, self.agent.get(self.retention_url(key)))?;
        if resp.status().as_u16() != 200 {
            return Err(refused("retention", "GET", key, resp));
        }
        let body = Self::read_body("retention", key, resp)?;
        let r: wire::Retention =
            serde_json::from_slice(&body).map_err(|e| bad_json("retention", key, e))?;
        Ok(r.until)
    }
}

fn bad_json(op: &'static str, key: &str, e: serde_json::Error) -> StorageError {
    StorageError::new(
        StorageErrorKind::Permanent,
        op,
        key,
        format!("the proxy's answer is not valid JSON: {e}"),
    )
}

impl RestStorage {
    /// A zero-length range: empty if `offset` is within the object (a HEAD
    /// tells its size), the same errors as any other range otherwise.
    fn empty_range(&self, key: &str, offset: u64) -> StorageResult<Vec<u8>> {
        let resp = self.send("get_range", key, self.agent.head(self.object_url(key)))?;
        if resp.status().as_u16() != 200 {
            return Err(refused("get_range", "HEAD", key, resp));
        }
        let size: Option<u64> = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        match size {
            Some(size) if offset <= size => Ok(Vec::new()),
            _ => Err(StorageError::new(
                StorageErrorKind::Permanent,
                "get_range",
                key,
                format!("range {offset}+0 passes the end of the object"),
            )),
        }
    }
}
