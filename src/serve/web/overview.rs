//! The overview: failed and running jobs first, then every plan (schedule,
//! next run, last backup, actions) and every repository with its chart.

use axum::extract::State;
use maud::{html, Markup};

use super::chart;
use super::layout::{self, badge, button, duration, opt_bytes, opt_time, page};
use super::session::Viewer;
use super::{blocking, seg, Web, WebResult};
use crate::serve::api::plans::{self, PlanView};
use crate::serve::api::repos::{self, RepositoryView};
use crate::serve::api::snapshots::{self, SnapshotsQuery};
use crate::serve::api::Api;
use crate::serve::auth::Scope;
use crate::serve::model::{JobFilter, JobRecord, JobStatus};

/// A repository with its chart, or why there is none.
pub struct RepoCard {
    pub view: RepositoryView,
    pub chart: Result<chart::Chart, String>,
    /// The service holds a put-only key: a notice instead of the chart.
    pub put_only: bool,
}

/// Everything the overview shows.
pub struct Overview {
    pub plans: Vec<PlanView>,
    pub repos: Vec<RepoCard>,
    pub failed: Vec<JobRecord>,
    pub running: Vec<JobRecord>,
}

/// Reads what the overview shows (blocking).
pub fn gather(api: &Api) -> Result<Overview, crate::serve::api::error::ApiError> {
    let recent = |status| JobFilter {
        status: Some(status),
        limit: Some(5),
        ..JobFilter::default()
    };
    let repos = repos::views(api)
        .into_iter()
        .map(|view| {
            // Jobs that saved no snapshot (prunes) also record sizes, hence the margin.
            let sizes = api.svc.history.sizes(&view.name, chart::POINTS * 4);
            let chart = snapshots::list_views(api, &view.name, SnapshotsQuery::default())
                .map_err(|e| e.body.error)
                .and_then(|s| Ok(chart::chart(&s, &sizes.map_err(|e| e.to_string())?)));
            let put_only = api.svc.is_put_only(&view.name);
            RepoCard {
                view,
                chart,
                put_only,
            }
        })
        .collect();
    Ok(Overview {
        plans: plans::views(api)?,
        repos,
        failed: api.svc.history.list(&recent(JobStatus::Failed))?,
        running: api.svc.history.list(&recent(JobStatus::Running))?,
    })
}

pub async fn show(v: Viewer, State(web): State<Web>) -> WebResult<Markup> {
    let api = web.api.clone();
    let o = blocking(move || gather(&api)).await?;
    Ok(render(&v, &o))
}

/// The overview page of `o` for `v`.
pub fn render(v: &Viewer, o: &Overview) -> Markup {
    page(
        v,
        "Overview",
        html! {
            @if !o.failed.is_empty() {
                section.alert aria-labelledby="failed-h" {
                    h2 id="failed-h" { "Failed jobs" }
                    (jobs_list(&o.failed))
                }
            }
            @if !o.running.is_empty() {
                section aria-labelledby="running-h" {
                    h2 id="running-h" { "Running now" }
                    (jobs_list(&o.running))
                }
            }
            section aria-labelledby="plans-h" {
                h2 id="plans-h" { "Plans" }
                (plans_table(v, &o.plans))
            }
            section aria-labelledby="repos-h" {
                h2 id="repos-h" { "Repositories" }
                div.cards {
                    @for r in &o.repos { (repo_card(r)) }
                }
            }
        },
    )
}

fn jobs_list(jobs: &[JobRecord]) -> Markup {
    html! {
        ul.jobs {
            @for j in jobs {
                li {
                    a href={ "/jobs/" (j.id) } { "Job " (j.id) } " "
                    (layout::kind_name(j)) " "
                    @if let Some(p) = &j.plan { "of " (p) " " }
                    (badge(j.status)) " "
                    (opt_time(j.finished_at.as_deref().or(j.started_at.as_deref())))
                    @if let Some(e) = &j.error { " " span.error { (e) } }
                }
            }
        }
    }
}

fn plans_table(v: &Viewer, plans: &[PlanView]) -> Markup {
    let schedule = |p: &PlanView| match (&p.cron, &p.every) {
        (Some(c), _) => format!("cron {c}"),
        (None, Some(e)) => format!("every {e}"),
        (None, None) => "manual".into(),
    };
    html! {
        div.scroll {
        table.plans {
            thead { tr {
                th scope="col" { "Plan" } th scope="col" { "Repository" } th scope="col" { "Schedule" }
                th scope="col" { "Next run" } th scope="col" { "Last backup" } th scope="col" { "Duration" }
                th scope="col" { "Added" }
                @if v.can(Scope::Backup) { th scope="col" { "Actions" } }
            } }
            tbody {
                @for p in plans {
                    @let failed = p.last.as_ref().is_some_and(|j| j.status == JobStatus::Failed);
                    tr class=[failed.then_some("failed")] data-plan=(p.name) {
                        th scope="row" { (p.name) }
                        td { a href={ "/repos/" (seg(&p.repository)) "/snapshots" } { (p.repository) } }
                        td { (schedule(p)) }
                        td { (opt_time(p.next_run.as_deref())) }
                        td {
                            @match &p.last {
                                Some(j) => {
                                    a href={ "/jobs/" (j.id) } { (badge(j.status)) } " "
                                    (opt_time(j.finished_at.as_deref().or(j.started_at.as_deref())))
                                }
                                None => "never",
                            }
                        }
                        td { (p.last.as_ref().map(duration).unwrap_or_else(|| "–".into())) }
                        td { (opt_bytes(p.last.as_ref().and_then(|j| j.figures.bytes_added))) }
                        @if v.can(Scope::Backup) {
                            td.actions {
                                (button(v, &format!("/plans/{}/run", seg(&p.name)), "Back up now"))
                                (button(v, &format!("/plans/{}/check", seg(&p.name)), "Check now"))
                                (button(v, &format!("/plans/{}/test", seg(&p.name)), "Test connection"))
                            }
                        }
                    }
                }
            }
        }
        }
    }
}

fn repo_card(r: &RepoCard) -> Markup {
    let name = &r.view.name;
    html! {
        article.card {
            h3 { (name) }
            p.location { code { (r.view.location) } }
            @match &r.chart {
                _ if r.put_only => (put_only_notice()),
                Ok(c) => (chart::svg(name, c)),
                Err(e) => p.error { (e) },
            }
            p {
                a href={ "/repos/" (seg(name)) "/snapshots" } { "Snapshots" } " · "
                a href={ "/repos/" (seg(name)) "/verify" } { "Verification" } " · "
                a href={ "/jobs?repository=" (seg(name)) } { "Jobs" }
            }
        }
    }
}

/// What a repository opened with a put-only key shows instead of its
/// snapshots (format-spec/18-put-only.md): the service can add backups but
/// read none back.
pub fn put_only_notice() -> Markup {
    html! {
        p.notice {
            "Put-only key: this service adds backups to this repository but cannot read \
             them. Snapshots, restores, forget, prune and checks need a full key, on \
             another machine. Its jobs and their history are below and under Jobs."
        }
    }
}
