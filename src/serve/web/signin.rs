//! Signing in with an API token and out again.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::bare;
use super::session::{cookie_id, same_site, set_cookie, Empty, Post};
use super::{Web, WebError};

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    token: String,
}

fn form_page(error: Option<&str>) -> Markup {
    bare(
        "Sign in",
        html! {
            main.narrow {
                h1 { "Sign in" }
                @if let Some(e) = error { p.error role="alert" { (e) } }
                form method="post" action="/login" {
                    label for="token" { "API token" }
                    input id="token" name="token" type="password" autocomplete="off" required autofocus;
                    p.hint { "A token from " code { "cairn serve token create" } "; its scopes apply here as in the API." }
                    button type="submit" { "Sign in" }
                }
            }
        },
    )
}

pub async fn form() -> Markup {
    form_page(None)
}

/// Checks the token against the token store and starts a session.
pub async fn submit(
    State(web): State<Web>,
    headers: HeaderMap,
    Form(f): Form<SignInForm>,
) -> Response {
    if !same_site(&headers, web.tls) {
        return WebError::forbidden("the request did not come from this dashboard").into_response();
    }
    let Some(who) = web.api.tokens.identify(f.token.trim()) else {
        let page = form_page(Some("That token is not valid (unknown or revoked)."));
        return (StatusCode::UNAUTHORIZED, page).into_response();
    };
    tracing::info!(token = %who.name, "dashboard sign-in");
    let id = web.sessions.start(who, cookie_id(&headers).as_deref());
    (
        [(header::SET_COOKIE, set_cookie(Some(&id), web.tls))],
        Redirect::to("/"),
    )
        .into_response()
}

pub async fn logout(State(web): State<Web>, p: Post<Empty>) -> Response {
    web.sessions.end(&p.viewer.id);
    (
        [(header::SET_COOKIE, set_cookie(None, web.tls))],
        Redirect::to("/login"),
    )
        .into_response()
}
