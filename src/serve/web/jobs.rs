//! The job history (filterable by plan, kind and status), a job's page
//! (figures, log, live progress), the job's record as JSON for the page's
//! script, and the live event stream with the session as credential.

use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::Json;
use maud::{html, Markup};

use super::layout::{self, badge, button, duration, opt_bytes, opt_time, page};
use super::session::Viewer;
use super::{blocking, Web, WebResult};
use crate::serve::api::error::{parse_opt, ApiError};
use crate::serve::api::jobs::{self, EventsQuery, JobsQuery, LogLine};
use crate::serve::auth::Scope;
use crate::serve::model::{JobRecord, JobStatus};

const KINDS: [&str; 6] = ["backup", "cleanup", "prune", "check", "restore", "test"];
const STATUSES: [&str; 5] = ["queued", "running", "succeeded", "failed", "cancelled"];

/// `/jobs`: the API's filter, the API's records.
pub async fn list(
    v: Viewer,
    State(web): State<Web>,
    Query(mut q): Query<JobsQuery>,
) -> WebResult<Markup> {
    for f in [&mut q.plan, &mut q.kind, &mut q.status, &mut q.repository] {
        if f.as_deref() == Some("") {
            *f = None;
        }
    }
    let shown = (q.plan.clone(), q.kind.clone(), q.status.clone());
    let filter = jobs::filter(q)?;
    let api = web.api.clone();
    let list = blocking(move || Ok(api.svc.history.list(&filter)?)).await?;
    let plans: Vec<String> = web.api.svc.config().plans.keys().cloned().collect();
    let select = |name: &str, label: &str, opts: &[String], cur: &Option<String>| {
        html! {
            label for=(name) { (label) }
            select id=(name) name=(name) {
                option value="" { "any" }
                @for o in opts {
                    option value=(o) selected[cur.as_deref() == Some(o.as_str())] { (o) }
                }
            }
        }
    };
    let owned = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Ok(page(
        &v,
        "Jobs",
        html! {
            form.filters method="get" action="/jobs" {
                (select("plan", "Plan", &plans, &shown.0))
                (select("kind", "Kind", &owned(&KINDS), &shown.1))
                (select("status", "Status", &owned(&STATUSES), &shown.2))
                button type="submit" { "Filter" }
            }
            (table(&list))
        },
    ))
}

fn table(list: &[JobRecord]) -> Markup {
    html! {
        div.scroll {
        table.jobs {
            thead { tr {
                th scope="col" { "Job" } th scope="col" { "Kind" } th scope="col" { "Plan" }
                th scope="col" { "Repository" } th scope="col" { "Status" } th scope="col" { "Started" }
                th scope="col" { "Duration" } th scope="col" { "Added" }
            } }
            tbody {
                @for j in list {
                    tr class=[(j.status == JobStatus::Failed).then_some("failed")] {
                        td { a href={ "/jobs/" (j.id) } { (j.id) } }
                        td { (layout::kind_name(j)) }
                        td { (j.plan.as_deref().unwrap_or("–")) }
                        td { (j.repository) }
                        td { (badge(j.status)) }
                        td { (opt_time(j.started_at.as_deref())) }
                        td { (duration(j)) }
                        td { (opt_bytes(j.figures.bytes_added)) }
                    }
                }
            }
        }
        }
        @if list.is_empty() { p { "No jobs match." } }
    }
}

/// A job's page: what it is, its figures, its log; live while it runs.
pub async fn show(v: Viewer, State(web): State<Web>, Path(id): Path<String>) -> WebResult<Markup> {
    let id = jobs::job_id(&id)?;
    let api = web.api.clone();
    let (j, log) =
        blocking(move || Ok((jobs::record(&api, id)?, jobs::log_lines(&api, id)?))).await?;
    let live = matches!(j.status, JobStatus::Queued | JobStatus::Running);
    let title = format!("Job {} ({})", j.id, layout::kind_name(&j));
    Ok(page(&v, &title, render(&v, &j, &log, live)))
}

fn render(v: &Viewer, j: &JobRecord, log: &[LogLine], live: bool) -> Markup {
    let f = &j.figures;
    let num = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_else(|| "–".into());
    html! {
        section id="live" data-job=(j.id) data-live=(live) aria-live="polite" {
            p { "Status: " span id="job-status" class={ "status s-" (layout::status_name(j.status)) } { (layout::status_name(j.status)) } }
            p.progress id="job-progress" hidden[!live] {
                "Files: " span id="p-files" { "–" } " · bytes: " span id="p-bytes" { "–" }
                " · throughput: " span id="p-rate" { "–" }
            }
            @if live && v.can(Scope::Backup) { div id="cancel" { (button(v, &format!("/jobs/{}/cancel", j.id), "Cancel")) } }
        }
        dl.facts id="facts" {
            dt { "Plan" } dd { (j.plan.as_deref().unwrap_or("–")) }
            dt { "Repository" } dd { (j.repository) }
            dt { "Queued" } dd { (opt_time(Some(&j.queued_at))) }
            dt { "Started" } dd id="f-started" { (opt_time(j.started_at.as_deref())) }
            dt { "Finished" } dd id="f-finished" { (opt_time(j.finished_at.as_deref())) }
            dt { "Duration" } dd { (duration(j)) }
            dt { "Snapshot" } dd id="f-snapshot" {
                @match &f.snapshot_id {
                    Some(s) => a href={ "/repos/" (super::seg(&j.repository)) "/snapshots/" (s) "/browse" } { code { (s) } },
                    None => "–",
                }
            }
            dt { "Files" } dd id="f-files" { (num(f.files)) }
            dt { "Bytes read" } dd id="f-read" { (opt_bytes(f.bytes_read)) }
            dt { "Bytes added" } dd id="f-added" { (opt_bytes(f.bytes_added)) }
            dt { "Bytes stored" } dd id="f-stored" { (opt_bytes(f.bytes_stored)) }
            dt { "Requests (class A / B)" } dd { (num(f.requests_class_a)) " / " (num(f.requests_class_b)) }
        }
        @if let Some(e) = &j.error { p.error id="job-error" role="alert" { (e) } }
        h2 { "Log" }
        ol.log id="job-log" {
            @for l in log { li { (layout::time(&l.time)) " " (l.line) } }
        }
        noscript { p { a href={ "/jobs/" (j.id) } { "Reload" } " to see the newest state." } }
    }
}

/// The job's record as the API returns it (the page's script reads it
/// when its event stream opens and when the job ends).
pub async fn state(
    _: Viewer,
    State(web): State<Web>,
    Path(id): Path<String>,
) -> WebResult<Json<JobRecord>> {
    let id = jobs::job_id(&id)?;
    let api = web.api.clone();
    blocking(move || jobs::record(&api, id)).await.map(Json)
}

/// The API's event stream, for a signed-in viewer, while the session
/// lives: it ends at sign-out, at the token's revocation or at the
/// session's end of life.
pub async fn events(
    v: Viewer,
    State(web): State<Web>,
    Query(q): Query<EventsQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let only = parse_opt("job", q.job.as_deref(), "a job id")?;
    let api = web.api.clone();
    let alive = move || web.sessions.alive(&v.id) && web.api.tokens.by_hash(&v.who.hash).is_some();
    Ok(jobs::event_stream_while(&api, only, alive))
}
