//! The dashboard's buttons: each POST checks the session, the CSRF token
//! and the scope the API would need, queues the job through the API's
//! own function, and sends the browser to the job's page.

use axum::extract::{Path, State};
use axum::response::Redirect;

use super::session::{Empty, Post};
use super::{blocking, Web, WebResult};
use crate::serve::api::error::ApiError;
use crate::serve::api::{jobs, plans, repos};
use crate::serve::auth::Scope;
use crate::serve::model::{JobId, JobKind};

fn to_job(id: JobId) -> Redirect {
    Redirect::to(&format!("/jobs/{id}"))
}

/// "Back up now".
pub async fn backup(
    State(web): State<Web>,
    Path(name): Path<String>,
    p: Post<Empty>,
) -> WebResult<Redirect> {
    p.viewer.need(Scope::Backup)?;
    Ok(to_job(
        plans::submit(&web.api, &name, JobKind::Backup, vec![]).await?,
    ))
}

/// "Check now" on a plan: its repository, with the plan's check settings.
pub async fn check_plan(
    State(web): State<Web>,
    Path(name): Path<String>,
    p: Post<Empty>,
) -> WebResult<Redirect> {
    p.viewer.need(Scope::Backup)?;
    Ok(to_job(
        plans::submit(&web.api, &name, JobKind::Check, vec![]).await?,
    ))
}

/// "Test connection" to a plan's repository.
pub async fn test_plan(
    State(web): State<Web>,
    Path(name): Path<String>,
    p: Post<Empty>,
) -> WebResult<Redirect> {
    p.viewer.need(Scope::Backup)?;
    let Some(repo) = (web.api.svc.config().plans.get(&name)).map(|p| p.repository.clone()) else {
        return Err(ApiError::not_found("name", format!("no plan {name:?}")).into());
    };
    Ok(to_job(
        repos::submit(&web.api, &repo, JobKind::Test, None).await?,
    ))
}

/// "Check now" on the verification page.
pub async fn check_repo(
    State(web): State<Web>,
    Path(name): Path<String>,
    p: Post<Empty>,
) -> WebResult<Redirect> {
    p.viewer.need(Scope::Backup)?;
    Ok(to_job(
        repos::submit(&web.api, &name, JobKind::Check, None).await?,
    ))
}

pub async fn cancel(
    State(web): State<Web>,
    Path(id): Path<String>,
    p: Post<Empty>,
) -> WebResult<Redirect> {
    p.viewer.need(Scope::Backup)?;
    let id = jobs::job_id(&id)?;
    let api = web.api.clone();
    blocking(move || jobs::cancel_job(&api, id)).await?;
    Ok(to_job(id))
}
