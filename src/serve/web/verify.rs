//! A repository's verification: the last check, the rolling audit's
//! coverage (the API's figures), and the last check's findings, read from
//! its log, when it found damage.

use axum::extract::{Path, State};
use maud::{html, Markup};

use super::layout::{badge, button, bytes, opt_time, page};
use super::session::Viewer;
use super::{blocking, seg, Web, WebResult};
use crate::serve::api::jobs::{self, LogLine};
use crate::serve::api::repos::{self, RepositoryStats};
use crate::serve::auth::Scope;
use crate::serve::model::JobStatus;

pub async fn page_of(
    v: Viewer,
    State(web): State<Web>,
    Path(name): Path<String>,
) -> WebResult<Markup> {
    let api = web.api.clone();
    let n = name.clone();
    let (stats, log) = blocking(move || {
        let stats = repos::stats_of(&api, &n)?;
        let log = match &stats.last_check {
            Some(j) if j.status == JobStatus::Failed => jobs::log_lines(&api, j.id)?,
            _ => Vec::new(),
        };
        Ok((stats, log))
    })
    .await?;
    Ok(page(
        &v,
        &format!("Verification of {name}"),
        render(&v, &name, &stats, &log),
    ))
}

fn render(v: &Viewer, name: &str, s: &RepositoryStats, damage: &[LogLine]) -> Markup {
    html! {
        dl.facts {
            dt { "Last check" }
            dd {
                @match &s.last_check {
                    Some(j) => { a href={ "/jobs/" (j.id) } { "job " (j.id) } " " (badge(j.status)) " " (opt_time(j.finished_at.as_deref())) },
                    None => "never",
                }
            }
            dt { "Rolling audit" }
            dd { (format!("{:.1}", s.audit_coverage * 100.0)) " % of packs verified (" (s.audit_verified_packs) " of " (s.packs) ")" }
            dt { "Oldest verification" } dd { (opt_time(s.audit_oldest_verified.as_deref())) }
            dt { "Snapshots" } dd { (s.snapshots) }
            dt { "Stored" } dd { (bytes(s.stored_bytes)) " in " (s.packs) " packs" }
            dt { "Deduplication" } dd { (format!("{:.2}", s.dedup_ratio)) "× (" (bytes(s.logical_bytes)) " of files)" }
        }
        @if v.can(Scope::Backup) { (button(v, &format!("/repos/{}/check", seg(name)), "Check now")) }
        @if !damage.is_empty() {
            section.alert aria-labelledby="damage-h" {
                h2 id="damage-h" { "Damage report of the last check" }
                ol.log { @for l in damage { li { (l.line) } } }
            }
        }
    }
}
