//! The page shell (head, navigation, sign-out) and the small pieces every
//! page uses: status badges, times, sizes, and POST buttons carrying the
//! CSRF token.

use maud::{html, Markup, DOCTYPE};

use super::session::Viewer;
use crate::serve::model::{JobRecord, JobStatus};

/// A full page for a signed-in viewer.
pub fn page(v: &Viewer, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top {
                    a.brand href="/" { "cairn" }
                    nav aria-label="Main" {
                        a href="/" { "Overview" }
                        a href="/jobs" { "Jobs" }
                    }
                    form.signout method="post" action="/logout" {
                        (csrf(v))
                        span.who { (v.who.name) " (" (scopes(v)) ")" }
                        button type="submit" { "Sign out" }
                    }
                }
                main id="main" { h1 { (title) } (body) }
            }
        }
    }
}

/// A page without navigation (sign-in, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body { header.top { a.brand href="/" { "cairn" } } (body) }
        }
    }
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · cairn" }
            link rel="stylesheet" href="/static/app.css";
            script src="/static/app.js" defer {}
        }
    }
}

fn scopes(v: &Viewer) -> String {
    let names: Vec<_> = v.who.scopes.iter().map(|s| s.name()).collect();
    names.join(", ")
}

/// The hidden CSRF field every form carries.
pub fn csrf(v: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(v.csrf); }
}

/// A one-button form posting to `action`.
pub fn button(v: &Viewer, action: &str, label: &str) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            (csrf(v))
            button type="submit" { (label) }
        }
    }
}

pub fn status_name(s: JobStatus) -> &'static str {
    match s {
        JobStatus::Queued => "queued",
        JobStatus::Running => "running",
        JobStatus::Succeeded => "succeeded",
        JobStatus::Failed => "failed",
        JobStatus::Cancelled => "cancelled",
    }
}

/// A job status as a coloured badge (the colour is not the only cue: the
/// word is there too).
pub fn badge(s: JobStatus) -> Markup {
    let name = status_name(s);
    html! { span class={ "status s-" (name) } { (name) } }
}

/// An RFC 3339 time, shown to the second with its offset.
pub fn time(t: &str) -> Markup {
    let shown = match chrono::DateTime::parse_from_rfc3339(t) {
        Ok(d) => d.format("%Y-%m-%d %H:%M:%S %:z").to_string(),
        Err(_) => t.to_string(),
    };
    html! { time datetime=(t) { (shown) } }
}

pub fn opt_time(t: Option<&str>) -> Markup {
    match t {
        Some(t) => time(t),
        None => html! { "–" },
    }
}

pub fn bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

pub fn opt_bytes(n: Option<u64>) -> String {
    n.map(bytes).unwrap_or_else(|| "–".into())
}

/// How long a job ran, if it started and ended.
pub fn duration(j: &JobRecord) -> String {
    let parse = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    };
    match (parse(&j.started_at), parse(&j.finished_at)) {
        (Some(a), Some(b)) => {
            let ms = (b - a).num_milliseconds().max(0) as u64;
            indicatif::HumanDuration(std::time::Duration::from_millis(ms)).to_string()
        }
        _ => "–".into(),
    }
}

/// The job's kind as the API names it.
pub fn kind_name(j: &JobRecord) -> String {
    serde_json::to_value(j.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
