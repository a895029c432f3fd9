//! `/jobs`: the history (list with filters, one job, its log), cancelling,
//! and a live stream of job events as server-sent events.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;

use super::error::{parse_enum, parse_opt, ApiError, ApiResult};
use super::guard::{Backup, Params, Read};
use super::plans::Accepted;
use super::{blocking, Api};
use crate::serve::model::{JobEvent, JobFilter, JobId, JobRecord};

/// Filters of `GET /jobs`, as text so each bad one is named.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    pub plan: Option<String>,
    /// backup, cleanup, prune, check, restore, test
    pub kind: Option<String>,
    /// queued, running, succeeded, failed, cancelled
    pub status: Option<String>,
    pub repository: Option<String>,
    /// Only jobs with a smaller id (paging: the last id of the previous page).
    pub before: Option<String>,
    /// At most this many, 1 to 1000 (default 100).
    pub limit: Option<String>,
}

/// One line of a job's log.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LogLine {
    /// RFC 3339.
    pub time: String,
    pub line: String,
}

/// Jobs, newest first.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", security(("bearer" = [])),
    params(JobsQuery),
    responses((status = 200, body = [JobRecord]), (status = 400, body = super::error::ErrorBody)))]
pub async fn list(
    _: Read,
    State(api): State<Api>,
    Params(q): Params<JobsQuery>,
) -> ApiResult<Json<Vec<JobRecord>>> {
    let f = filter(q)?;
    blocking(move || Ok(api.svc.history.list(&f)?))
        .await
        .map(Json)
}

/// The history filter `q` asks for; each bad parameter is a 400 naming it.
pub fn filter(q: JobsQuery) -> ApiResult<JobFilter> {
    let limit: Option<u32> = parse_opt("limit", q.limit.as_deref(), "a number")?;
    if limit.is_some_and(|l| !(1..=1000).contains(&l)) {
        return Err(ApiError::bad("limit", "limit: 1 to 1000"));
    }
    Ok(JobFilter {
        plan: q.plan,
        kind: parse_enum("kind", q.kind.as_deref())?,
        status: parse_enum("status", q.status.as_deref())?,
        repository: q.repository,
        before: parse_opt("before", q.before.as_deref(), "a job id")?,
        limit,
    })
}

/// One job; `status` is queued, running, succeeded, failed or cancelled.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", security(("bearer" = [])),
    params(("id" = i64, Path, description = "job id")),
    responses((status = 200, body = JobRecord), (status = 404, body = super::error::ErrorBody)))]
pub async fn show(
    _: Read,
    State(api): State<Api>,
    Path(id): Path<String>,
) -> ApiResult<Json<JobRecord>> {
    let id = job_id(&id)?;
    blocking(move || record(&api, id)).await.map(Json)
}

/// A job's log lines, oldest first.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/log", tag = "jobs", security(("bearer" = [])),
    params(("id" = i64, Path, description = "job id")),
    responses((status = 200, body = [LogLine]), (status = 404, body = super::error::ErrorBody)))]
pub async fn log(
    _: Read,
    State(api): State<Api>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<LogLine>>> {
    let id = job_id(&id)?;
    blocking(move || log_lines(&api, id)).await.map(Json)
}

/// Job `id`'s log, oldest first (404 if there is no such job; blocking).
pub fn log_lines(api: &Api, id: JobId) -> ApiResult<Vec<LogLine>> {
    record(api, id)?;
    let lines = api.svc.history.log(id)?;
    Ok(lines
        .into_iter()
        .map(|(time, line)| LogLine { time, line })
        .collect())
}

/// Cancels a queued job, or asks a running one to stop at its next safe
/// point (it ends `cancelled`). 409 when the job has ended already.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs", security(("bearer" = [])),
    params(("id" = i64, Path, description = "job id")),
    responses((status = 202, body = Accepted), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody)))]
pub async fn cancel(
    _: Backup,
    State(api): State<Api>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let id = job_id(&id)?;
    blocking(move || cancel_job(&api, id)).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { job: id })))
}

/// Cancels job `id`; 404 if there is none, 409 if it has ended (blocking).
pub fn cancel_job(api: &Api, id: JobId) -> ApiResult<()> {
    let rec = record(api, id)?;
    if api.svc.jobs.cancel(id)? {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        format!("job {id} has ended ({:?})", rec.status).to_lowercase(),
        Some("id"),
    ))
}

/// Query of the event stream.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only this job's events.
    pub job: Option<String>,
}

/// Job events as they happen (server-sent events): `status`, `progress`
/// and `log`, each a JSON `JobEvent`. A client too slow to keep up misses
/// events (a `lagged` event says how many), never blocks a job. The stream
/// ends once its token is revoked.
#[utoipa::path(get, path = "/api/v1/jobs/events", tag = "jobs", security(("bearer" = [])),
    params(EventsQuery),
    responses((status = 200, description = "text/event-stream of JobEvent", content_type = "text/event-stream")))]
pub async fn events(
    _: Read,
    State(api): State<Api>,
    headers: axum::http::HeaderMap,
    Params(q): Params<EventsQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let only: Option<JobId> = parse_opt("job", q.job.as_deref(), "a job id")?;
    let token = super::guard::bearer(&headers)
        .unwrap_or_default()
        .to_string();
    let tokens = api.tokens.clone();
    let alive = move || {
        matches!(
            tokens.check(Some(&token), crate::serve::auth::Scope::Read),
            crate::serve::auth::Verdict::Allowed
        )
    };
    Ok(event_stream_while(&api, only, alive))
}

/// How often a stream asks `alive` while no event comes.
pub const ALIVE_CHECK: Duration = Duration::from_secs(2);

/// The live job events (of job `only`, if given) as an SSE response, the
/// API's stream and the dashboard's, until `alive` says false: asked before
/// each event and every [`ALIVE_CHECK`], so a stream stops when its token
/// is revoked (or a dashboard session ends), not when the client leaves.
pub fn event_stream_while<F>(
    api: &Api,
    only: Option<JobId>,
    alive: F,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>>
where
    F: Fn() -> bool + Send + 'static,
{
    let rx = api.svc.jobs.subscribe();
    let tick = tokio::time::interval(ALIVE_CHECK);
    let stream = futures_util::stream::unfold((rx, tick, alive), move |state| {
        let (mut rx, mut tick, alive) = state;
        async move {
            loop {
                let got = tokio::select! {
                    got = rx.recv() => got,
                    _ = tick.tick() => {
                        if !alive() {
                            return None;
                        }
                        continue;
                    }
                };
                if !alive() {
                    return None;
                }
                let ev = match got {
                    Ok(ev) => ev,
                    Err(RecvError::Lagged(n)) => {
                        let ev = Event::default().event("lagged").data(n.to_string());
                        return Some((Ok(ev), (rx, tick, alive)));
                    }
                    Err(RecvError::Closed) => return None,
                };
                let (name, job) = match &ev {
                    JobEvent::Status { job, .. } => ("status", *job),
                    JobEvent::Progress { job, .. } => ("progress", *job),
                    JobEvent::Log { job, .. } => ("log", *job),
                };
                if only.is_some_and(|o| o != job) {
                    continue;
                }
                let data = serde_json::to_string(&ev).unwrap_or_default();
                return Some((
                    Ok(Event::default().event(name).data(data)),
                    (rx, tick, alive),
                ));
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// A job id from a path parameter (400 naming `id`).
pub fn job_id(s: &str) -> ApiResult<JobId> {
    s.parse()
        .map_err(|_| ApiError::bad("id", format!("id: {s:?} is not a job id")))
}

/// Job `id` from the history, or 404 (blocking).
pub fn record(api: &Api, id: JobId) -> ApiResult<JobRecord> {
    api.svc
        .history
        .get(id)?
        .ok_or_else(|| ApiError::not_found("id", format!("no job {id}")))
}
