//! `/repositories`: the configured repositories, their figures, and jobs
//! about them: a connection test (the `repo ping` checks) and a check.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use cairn::repo::SnapshotFilter;

use super::error::{ApiError, ApiResult, Body};
use super::guard::{Backup, Read};
use super::plans::Accepted;
use super::{blocking, Api};
use crate::serve::model::{
    CheckRequest, JobFilter, JobId, JobKind, JobRecord, JobRequest, Trigger,
};

#[derive(Serialize, utoipa::ToSchema)]
pub struct RepositoryView {
    pub name: String,
    /// A directory, `s3:…` or `r2:…` (never credentials: those come from files).
    pub location: String,
    /// The plans that back up into it.
    pub plans: Vec<String>,
}

/// A repository's figures.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RepositoryStats {
    pub snapshots: u64,
    /// Bytes stored in packs (what the storage bills).
    pub stored_bytes: u64,
    pub packs: u64,
    /// Bytes of all snapshots' files together, before deduplication.
    pub logical_bytes: u64,
    /// `logical_bytes / stored_bytes` (0 when nothing is stored).
    pub dedup_ratio: f64,
    /// The newest check job of this repository, if any ran.
    pub last_check: Option<JobRecord>,
    /// Distinct blobs (chunks and trees) the index knows.
    pub blobs: u64,
    /// Share of the packs whose latest rolling-audit verification passed (0..=1).
    pub audit_coverage: f64,
    /// Packs whose latest audit passed.
    pub audit_verified_packs: u64,
    /// RFC 3339: every verified pack was verified at or after this; none: no audit yet.
    pub audit_oldest_verified: Option<String>,
}

/// What a check job reads; both empty: the structure only.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckBody {
    /// `5%`, `1/7` or `500MiB`: read and verify this part of the packs.
    pub read_data_subset: Option<String>,
    /// The rolling audit's byte budget for this run (`2GiB`).
    pub audit_budget: Option<String>,
}

/// The configured repositories.
#[utoipa::path(get, path = "/api/v1/repositories", tag = "repositories", security(("bearer" = [])),
    responses((status = 200, body = [RepositoryView])))]
pub async fn list(_: Read, State(api): State<Api>) -> Json<Vec<RepositoryView>> {
    Json(views(&api))
}

/// The configured repositories, as the API and the dashboard show them.
pub fn views(api: &Api) -> Vec<RepositoryView> {
    let config = api.svc.config();
    config
        .repositories
        .iter()
        .map(|(name, r)| RepositoryView {
            name: name.clone(),
            location: r.location.clone(),
            plans: (config.plans.iter())
                .filter(|(_, p)| &p.repository == name)
                .map(|(n, _)| n.clone())
                .collect(),
        })
        .collect()
}

/// Starts a connection test (credentials, bucket access, write, read and
/// delete a probe object: the `repo ping` checks) as a job.
#[utoipa::path(post, path = "/api/v1/repositories/{name}/test", tag = "repositories",
    security(("bearer" = [])), params(("name" = String, Path, description = "repository name")),
    responses((status = 202, body = Accepted), (status = 404, body = super::error::ErrorBody)))]
pub async fn test(
    _: Backup,
    State(api): State<Api>,
    Path(name): Path<String>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let job = submit(&api, &name, JobKind::Test, None).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { job })))
}

/// Starts a check of the repository as a job.
#[utoipa::path(post, path = "/api/v1/repositories/{name}/check", tag = "repositories",
    security(("bearer" = [])), params(("name" = String, Path, description = "repository name")),
    request_body(content = CheckBody, description = "optional"),
    responses((status = 202, body = Accepted), (status = 400, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody)))]
pub async fn check(
    _: Backup,
    State(api): State<Api>,
    Path(name): Path<String>,
    Body(body): Body<CheckBody>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    if let Some(s) = &body.read_data_subset {
        s.parse::<cairn::check::Subset>()
            .map_err(|e| ApiError::bad("read_data_subset", e.to_string()))?;
    }
    if let Some(b) = &body.audit_budget {
        b.parse::<cairn::check::Budget>()
            .map_err(|e| ApiError::bad("audit_budget", e.to_string()))?;
    }
    let check = CheckRequest {
        read_data_subset: body.read_data_subset,
        audit_budget: body.audit_budget,
    };
    let job = submit(&api, &name, JobKind::Check, Some(check)).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { job })))
}

/// Size, snapshots, deduplication, the last check and the audit log
/// (also the repository's figures in `/metrics`).
#[utoipa::path(get, path = "/api/v1/repositories/{name}/stats", tag = "repositories",
    security(("bearer" = [])), params(("name" = String, Path, description = "repository name")),
    responses((status = 200, body = RepositoryStats), (status = 404, body = super::error::ErrorBody)))]
pub async fn stats(
    _: Read,
    State(api): State<Api>,
    Path(name): Path<String>,
) -> ApiResult<Json<RepositoryStats>> {
    blocking(move || stats_of(&api, &name)).await.map(Json)
}

/// The figures of repository `name` (blocking: it lists the packs and
/// reads the audit log); also updates its metrics.
pub fn stats_of(api: &Api, name: &str) -> ApiResult<RepositoryStats> {
    let repo = api.repository(name)?;
    let snaps = api.svc.snapshots(name, &SnapshotFilter::default())?;
    let (stored, pack_count) = crate::serve::repos::pack_totals(&repo)?;
    let (blobs, _) = repo.index_counts()?;
    let audit = cairn::check::audit_coverage(&repo)?;
    let logical: u64 = snaps.iter().map(|s| s.snapshot.summary.total_bytes).sum();
    let f = JobFilter {
        repository: Some(name.to_string()),
        kind: Some(JobKind::Check),
        limit: Some(1),
        ..JobFilter::default()
    };
    let last_check = api.svc.history.list(&f)?.into_iter().next();
    let figures = crate::serve::metrics::RepositoryFigures {
        size_bytes: stored,
        packs: pack_count,
        snapshots: snaps.len() as u64,
        last_check_age_secs: last_check
            .as_ref()
            .and_then(|j| j.finished_at.as_deref())
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| (chrono::Utc::now() - t.to_utc()).num_milliseconds() as f64 / 1000.0),
        blobs,
        audit_coverage: Some(audit.share()),
    };
    api.svc.metrics.repository_stats(name, &figures);
    Ok(RepositoryStats {
        snapshots: snaps.len() as u64,
        stored_bytes: stored,
        packs: pack_count,
        logical_bytes: logical,
        dedup_ratio: if stored == 0 {
            0.0
        } else {
            logical as f64 / stored as f64
        },
        last_check,
        blobs,
        audit_coverage: audit.share(),
        audit_verified_packs: audit.verified,
        audit_oldest_verified: audit.oldest_verified.map(|t| cairn::time::rfc3339(t, 0)),
    })
}

/// Queues a job of `kind` about repository `name` (404 if unknown); the
/// insert into the history runs off the async runtime.
pub async fn submit(
    api: &Api,
    name: &str,
    kind: JobKind,
    check: Option<CheckRequest>,
) -> ApiResult<JobId> {
    api.known_repository(name)?;
    let req = JobRequest {
        kind,
        plan: None,
        repository: name.to_string(),
        trigger: Trigger::Api,
        tags: Vec::new(),
        restore: None,
        check,
    };
    let api = api.clone();
    blocking(move || Ok(api.svc.submit(req)?)).await
}
