//! Harness of the dashboard tests: a running `cairn serve` (the API
//! harness's [`Serve`]), signing in through the form, pages and form
//! POSTs with the session cookie over plain HTTP (ureq, no redirects
//! followed), and the HTML checks: html5ever's parse errors (unclosed or
//! misnested tags) must be none.

#![allow(dead_code)]

use std::time::Duration;

use html5ever::tendril::TendrilSink;
use scraper::{Html, HtmlTreeSink, Selector};

use crate::serve_api_util::Serve;

/// A response: status, `Location`, `Set-Cookie`, body.
pub struct Resp {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookie: Option<String>,
    pub body: String,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

fn resp(mut r: ureq::http::Response<ureq::Body>) -> Resp {
    let h = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_string());
    let (location, set_cookie) = (h("location"), h("set-cookie"));
    let body = r.body_mut().read_to_string().unwrap_or_default();
    Resp {
        status: r.status().as_u16(),
        location,
        set_cookie,
        body,
    }
}

/// GET `path` with the session cookie `cookie` (`name=value`), if any.
pub fn get(s: &Serve, path: &str, cookie: Option<&str>) -> Resp {
    let mut req = agent().get(s.url(path));
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    resp(req.call().expect("GET"))
}

/// POST a form (`pairs`) with the cookie and extra headers.
pub fn post(
    s: &Serve,
    path: &str,
    cookie: Option<&str>,
    pairs: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Resp {
    let mut req = agent()
        .post(s.url(path))
        .header("Content-Type", "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body = serde_urlencoded::to_string(pairs).unwrap();
    resp(req.send(body).expect("POST"))
}

/// Signs in with `token`; the session cookie as `name=value`.
pub fn sign_in(s: &Serve, token: &str) -> String {
    let r = post(s, "/login", None, &[("token", token)], &[]);
    assert_eq!(r.status, 303, "sign-in: {}", r.body);
    assert_eq!(r.location.as_deref(), Some("/"));
    let set = r.set_cookie.expect("a session cookie");
    set.split(';').next().unwrap().trim().to_string()
}

/// The CSRF token the page's forms carry.
pub fn csrf(html: &str) -> String {
    let doc = Html::parse_document(html);
    let sel = Selector::parse("input[name=csrf]").unwrap();
    let el = doc.select(&sel).next().expect("a form with a CSRF token");
    el.value().attr("value").unwrap().to_string()
}

/// html5ever's parse errors for `html`, in its exact-errors mode.
pub fn parse_errors(html: &str) -> Vec<String> {
    let opts = html5ever::ParseOpts {
        tree_builder: html5ever::tree_builder::TreeBuilderOpts {
            exact_errors: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let doc = html5ever::parse_document(HtmlTreeSink::new(Html::new_document()), opts).one(html);
    doc.errors.iter().map(|e| e.to_string()).collect()
}

/// Asserts `html` parses without an error and is a whole document.
pub fn assert_well_formed(what: &str, html: &str) {
    let errors = parse_errors(html);
    assert!(errors.is_empty(), "{what}: HTML errors {errors:?}\n{html}");
    assert!(html.starts_with("<!DOCTYPE html>"), "{what}: no doctype");
}

/// How many elements `css` selects in `html`.
pub fn count(html: &str, css: &str) -> usize {
    let doc = Html::parse_document(html);
    doc.select(&Selector::parse(css).unwrap()).count()
}

/// The texts of the elements `css` selects.
pub fn texts(html: &str, css: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    doc.select(&Selector::parse(css).unwrap())
        .map(|e| e.text().collect::<String>())
        .collect()
}

/// The `attr` of the first element `css` selects.
pub fn attr(html: &str, css: &str, attr: &str) -> Option<String> {
    let doc = Html::parse_document(html);
    let el = doc.select(&Selector::parse(css).unwrap()).next()?;
    el.value().attr(attr).map(str::to_string)
}
