//! Dashboard sessions: a random id in an HTTP-only, `SameSite=Strict`
//! cookie (and `Secure` over TLS), mapped in memory to the signed-in
//! token's identity (its hash, name and scopes: never the token) and a
//! per-session CSRF token. Every request re-checks the identity against
//! the token store, so revoking a token ends its sessions at once; a
//! session also ends after [`LIFETIME`], at sign-out or at the next sign-in
//! from the same browser; a token holds at most [`PER_TOKEN`] sessions. Sessions do not
//! survive a restart (sign in again).
//!
//! A POST passes three checks before its handler runs ([`Post`]): a
//! session, its CSRF token in the form (compared in constant time), and,
//! as defence in depth, `Sec-Fetch-Site` and `Origin` naming this site.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cookie::{Cookie, SameSite};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::{Web, WebError};
use crate::serve::api::error::ApiError;
use crate::serve::auth::{Identity, Scope};

/// The session cookie's name.
pub const COOKIE: &str = "cairn_session";

/// How long a session lasts at most, whatever its use.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);

#[derive(Clone)]
struct Session {
    who: Identity,
    csrf: String,
    started: Instant,
}

/// At most this many sessions per token: signing in again and again
/// (a script, a forgotten loop) drops that token's oldest session.
pub const PER_TOKEN: usize = 16;

/// At most this many sessions in all: the oldest goes first.
pub const TOTAL: usize = 10_000;

/// The sessions of this process.
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    lifetime: Duration,
}

impl Default for Sessions {
    fn default() -> Sessions {
        Sessions::with_lifetime(LIFETIME)
    }
}

impl Sessions {
    /// Sessions that last `lifetime` at most (tests shorten it).
    pub fn with_lifetime(lifetime: Duration) -> Sessions {
        Sessions {
            map: Mutex::new(HashMap::new()),
            lifetime,
        }
    }

    /// Starts a session for `who`, ending session `replaces` (the one the
    /// request's cookie named, if any); its id (the cookie's value).
    pub fn start(&self, who: Identity, replaces: Option<&str>) -> String {
        let id = hex::encode(rand::random::<[u8; 32]>());
        let mut map = self.lock();
        if let Some(old) = replaces {
            map.remove(old);
        }
        let life = self.lifetime;
        map.retain(|_, s| s.started.elapsed() < life);
        drop_oldest(&mut map, PER_TOKEN - 1, |s| s.who.hash == who.hash);
        drop_oldest(&mut map, TOTAL - 1, |_| true);
        let s = Session {
            who,
            csrf: hex::encode(rand::random::<[u8; 32]>()),
            started: Instant::now(),
        };
        map.insert(id.clone(), s);
        id
    }

    fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.lock();
        match map.get(id) {
            Some(s) if s.started.elapsed() < self.lifetime => Some(s.clone()),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    /// Whether session `id` still lives (a live event stream asks).
    pub fn alive(&self, id: &str) -> bool {
        self.get(id).is_some()
    }

    pub fn end(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Removes the oldest of the sessions `which` selects until `keep` are left.
fn drop_oldest(map: &mut HashMap<String, Session>, keep: usize, which: impl Fn(&Session) -> bool) {
    if map.len() <= keep || map.values().filter(|s| which(s)).count() <= keep {
        return;
    }
    let mut chosen: Vec<(Instant, String)> = map
        .iter()
        .filter(|(_, s)| which(s))
        .map(|(id, s)| (s.started, id.clone()))
        .collect();
    chosen.sort();
    for (_, id) in &chosen[..chosen.len() - keep] {
        map.remove(id);
    }
}

/// The signed-in viewer of a page; a request without a live session is
/// sent to the sign-in page.
#[derive(Clone)]
pub struct Viewer {
    pub id: String,
    pub who: Identity,
    /// What every form of the page carries back.
    pub csrf: String,
}

impl Viewer {
    pub fn can(&self, need: Scope) -> bool {
        self.who.grants(need)
    }

    /// 403 unless the viewer holds `need` (the API's message).
    pub fn need(&self, need: Scope) -> Result<(), WebError> {
        if self.can(need) {
            return Ok(());
        }
        Err(WebError::forbidden(format!(
            "this token lacks the {} scope",
            need.name()
        )))
    }
}

/// Why a request has no viewer: it goes to the sign-in page.
pub struct SignIn;

impl IntoResponse for SignIn {
    fn into_response(self) -> Response {
        Redirect::to("/login").into_response()
    }
}

/// The session id the request's cookie names, if any.
pub fn cookie_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_string())
}

/// The `Set-Cookie` value for session `id` (`None`: ending it).
pub fn set_cookie(id: Option<&str>, tls: bool) -> String {
    let mut c = Cookie::new(COOKIE, id.unwrap_or("").to_string());
    c.set_http_only(true);
    c.set_same_site(SameSite::Strict);
    c.set_path("/");
    c.set_secure(tls);
    if id.is_none() {
        c.set_max_age(cookie::time::Duration::ZERO);
    }
    c.to_string()
}

impl FromRequestParts<Web> for Viewer {
    type Rejection = SignIn;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, SignIn> {
        let id = cookie_id(&parts.headers).ok_or(SignIn)?;
        let s = web.sessions.get(&id).ok_or(SignIn)?;
        // The token may have been revoked since: the store decides.
        let Some(who) = web.api.tokens.by_hash(&s.who.hash) else {
            web.sessions.end(&id);
            return Err(SignIn);
        };
        Ok(Viewer {
            id,
            who,
            csrf: s.csrf,
        })
    }
}

/// Whether the request comes from this site's own pages, as far as the
/// browser says (`Sec-Fetch-Site`, `Origin`); a client that sends
/// neither (not a browser) passes: the CSRF token still has to match.
pub fn same_site(headers: &HeaderMap, tls: bool) -> bool {
    let text = |h| {
        headers
            .get(h)
            .and_then(|v: &header::HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        if site != "same-origin" && site != "none" {
            return false;
        }
    }
    match (text(header::ORIGIN), text(header::HOST)) {
        (None, _) => true,
        (Some(origin), Some(host)) => {
            let scheme = if tls { "https" } else { "http" };
            origin == format!("{scheme}://{host}")
        }
        (Some(_), None) => false,
    }
}

/// A state-changing request: a viewer, a same-site origin and a matching
/// CSRF token (checked before the form is read), then the form `T`.
pub struct Post<T> {
    pub viewer: Viewer,
    pub form: T,
}

impl<T: DeserializeOwned + Send> FromRequest<Web> for Post<T> {
    type Rejection = Response;

    async fn from_request(req: Request, web: &Web) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, web)
            .await
            .map_err(IntoResponse::into_response)?;
        let forged = || WebError::forbidden("the request did not come from this dashboard");
        if !same_site(&parts.headers, web.tls) {
            return Err(forged().into_response());
        }
        let req = Request::from_parts(parts, body);
        let bad = |e: String| {
            WebError(ApiError::new(StatusCode::BAD_REQUEST, e, Some("body"))).into_response()
        };
        let bytes = axum::body::Bytes::from_request(req, web)
            .await
            .map_err(|e| bad(e.body_text()))?;
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&bytes).map_err(|e| bad(e.to_string()))?;
        let csrf = pairs
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str());
        // Constant time: BLAKE3 hashes compare so.
        if blake3::hash(csrf.unwrap_or("").as_bytes()) != blake3::hash(viewer.csrf.as_bytes()) {
            return Err(forged().into_response());
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|e| bad(e.to_string()))?;
        Ok(Post { viewer, form })
    }
}

/// A form with no fields but the CSRF token.
#[derive(Deserialize)]
pub struct Empty {}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
