//! `/plans`: the configured plans with their next run and last result;
//! start a backup (`run`) or a cleanup (forget, then prune) now.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiResult, Body};
use super::guard::{Backup, Read};
use super::{blocking, Api};
use crate::config::Plan;
use crate::serve::model::{JobId, JobKind, JobRecord, JobRequest, Trigger};

/// A plan as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PlanView {
    pub name: String,
    pub repository: String,
    #[schema(value_type = Vec<String>)]
    pub paths: Vec<std::path::PathBuf>,
    pub tags: Vec<String>,
    pub cron: Option<String>,
    pub every: Option<String>,
    pub timezone: Option<String>,
    pub retention: Option<String>,
    pub keep_min: Option<u32>,
    /// The next scheduled backup (RFC 3339), if the plan has a schedule.
    pub next_run: Option<String>,
    /// The newest backup job of this plan, whatever its status.
    pub last: Option<JobRecord>,
}

/// `{"job": ID}`: a job was queued; follow it at `/api/v1/jobs/{id}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Accepted {
    pub job: JobId,
}

/// What `POST /plans/{name}/run` may carry.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    /// Extra tags for this snapshot (e.g. `manual`, `pre-deploy`).
    #[serde(default)]
    pub tags: Vec<String>,
}

/// The configured plans.
#[utoipa::path(get, path = "/api/v1/plans", tag = "plans", security(("bearer" = [])),
    responses((status = 200, body = [PlanView]), (status = 401, body = super::error::ErrorBody)))]
pub async fn list(_: Read, State(api): State<Api>) -> ApiResult<Json<Vec<PlanView>>> {
    blocking(move || views(&api)).await.map(Json)
}

/// Every configured plan as the API and the dashboard show it (blocking:
/// it reads the history).
pub fn views(api: &Api) -> ApiResult<Vec<PlanView>> {
    let config = api.svc.config();
    config.plans.iter().map(|(n, p)| view(api, n, p)).collect()
}

/// One plan, with its next run and last result.
#[utoipa::path(get, path = "/api/v1/plans/{name}", tag = "plans", security(("bearer" = [])),
    params(("name" = String, Path, description = "plan name")),
    responses((status = 200, body = PlanView), (status = 404, body = super::error::ErrorBody)))]
pub async fn show(
    _: Read,
    State(api): State<Api>,
    Path(name): Path<String>,
) -> ApiResult<Json<PlanView>> {
    blocking(move || {
        let plan = plan(&api, &name)?;
        view(&api, &name, &plan)
    })
    .await
    .map(Json)
}

/// Starts a backup of the plan now (then forget per its retention).
#[utoipa::path(post, path = "/api/v1/plans/{name}/run", tag = "plans", security(("bearer" = [])),
    params(("name" = String, Path, description = "plan name")),
    request_body(content = RunBody, description = "optional"),
    responses((status = 202, body = Accepted), (status = 400, body = super::error::ErrorBody),
        (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn run(
    _: Backup,
    State(api): State<Api>,
    Path(name): Path<String>,
    Body(body): Body<RunBody>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    if let Some(i) = body
        .tags
        .iter()
        .position(|t| t.is_empty() || t.contains(','))
    {
        return Err(ApiError::bad(
            &format!("tags[{i}]"),
            "a tag is not empty and has no comma",
        ));
    }
    let job = submit(&api, &name, JobKind::Backup, body.tags).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { job })))
}

/// Starts a cleanup now: forget per the plan's retention, then prune.
#[utoipa::path(post, path = "/api/v1/plans/{name}/cleanup", tag = "plans", security(("bearer" = [])),
    params(("name" = String, Path, description = "plan name")),
    responses((status = 202, body = Accepted), (status = 403, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody)))]
pub async fn cleanup(
    _: Backup,
    State(api): State<Api>,
    Path(name): Path<String>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let job = submit(&api, &name, JobKind::Cleanup, Vec::new()).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { job })))
}

/// Queues a job of `kind` for the plan `name` (404 if there is none):
/// the API's and the dashboard's plan actions. The insert into the
/// history runs off the async runtime.
pub async fn submit(api: &Api, name: &str, kind: JobKind, tags: Vec<String>) -> ApiResult<JobId> {
    let plan = plan(api, name)?;
    let req = JobRequest {
        kind,
        plan: Some(name.to_string()),
        repository: plan.repository.clone(),
        trigger: Trigger::Api,
        tags,
        restore: None,
        check: None,
    };
    let api = api.clone();
    blocking(move || Ok(api.svc.submit(req)?)).await
}

/// The plan `name`, or 404.
fn plan(api: &Api, name: &str) -> ApiResult<Plan> {
    api.svc
        .config()
        .plans
        .get(name)
        .cloned()
        .ok_or_else(|| ApiError::not_found("name", format!("no plan {name:?}")))
}

fn view(api: &Api, name: &str, p: &Plan) -> ApiResult<PlanView> {
    let now = chrono::Utc::now();
    let next_run = p
        .schedule()
        .map(|s| s.next_after(now))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    Ok(PlanView {
        name: name.to_string(),
        repository: p.repository.clone(),
        paths: p.paths.clone(),
        tags: p.tags.clone(),
        cron: p.cron.clone(),
        every: p.every.clone(),
        timezone: p.timezone.clone(),
        retention: p.retention.clone(),
        keep_min: p.keep_min,
        next_run,
        last: api.svc.history.last(name, JobKind::Backup, None)?,
    })
}
