//! `POST /repositories/{name}/restore`: restore a snapshot (or some of its
//! paths) to a directory on the server, as a job. The target must lie
//! under one of `server.restore_roots` once every symlink in it is
//! resolved: relative paths, `..` and symlinks that lead out are refused
//! before anything is queued.

use std::path::{Component, Path, PathBuf};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use cairn::repo::{SnapshotFilter, SnapshotRef};

use super::error::{ApiError, ApiResult, Body};
use super::guard::Restore;
use super::plans::Accepted;
use super::{blocking, Api};
use crate::serve::model::{JobId, JobKind, JobRequest, RestoreRequest, Trigger};

/// What to restore and where.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreBody {
    /// `latest`, a snapshot id or a unique prefix of one.
    pub snapshot: String,
    /// Only these paths of the snapshot (default: everything).
    #[serde(default)]
    pub include: Vec<String>,
    /// An absolute directory under one of `server.restore_roots`
    /// (required unless `in_place`).
    pub target: Option<String>,
    /// The two-phase in-place restore to the snapshot's own paths, with a
    /// safety snapshot first; those paths must lie under the restore roots.
    #[serde(default)]
    pub in_place: bool,
}

/// Starts a restore as a job.
#[utoipa::path(post, path = "/api/v1/repositories/{name}/restore", tag = "repositories",
    security(("bearer" = [])), params(("name" = String, Path, description = "repository name")),
    request_body = RestoreBody,
    responses((status = 202, body = Accepted), (status = 400, body = super::error::ErrorBody),
        (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn start(
    _: Restore,
    State(api): State<Api>,
    UrlPath(name): UrlPath<String>,
    Body(body): Body<RestoreBody>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let job = submit(api, name, body).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { job })))
}

/// A restore request that passed every check: the API queues it, the
/// dashboard's confirmation shows it and its submit queues it.
pub struct RestorePlan {
    pub snapshot: SnapshotRef,
    /// The target with its symlinks resolved (`None`: in place).
    pub target: Option<PathBuf>,
}

/// Checks `body` against repository `name` (blocking): the target (or,
/// in place, each of the snapshot's paths) must lie under
/// `server.restore_roots`, and the snapshot must exist.
pub fn plan(api: &Api, name: &str, body: &RestoreBody) -> ApiResult<RestorePlan> {
    let roots = &api.svc.config().server.restore_roots;
    let target = match (&body.target, body.in_place) {
        (Some(t), false) => Some(confine(Path::new(t), roots, "target")?),
        (None, false) => return Err(ApiError::bad("target", "target: required")),
        (_, true) => None,
    };
    api.known_repository(name)?;
    let repo = api.repository(name)?;
    let snapshot = repo
        .find_snapshot(&body.snapshot, &SnapshotFilter::default())
        .map_err(|e| ApiError::from_lib(e, Some("snapshot")))?;
    if body.in_place {
        for p in &snapshot.snapshot.paths {
            confine(Path::new(p), roots, "in_place")?;
        }
    }
    Ok(RestorePlan { snapshot, target })
}

/// Checks a restore request and queues it: the API's and the dashboard's.
pub async fn submit(api: Api, name: String, body: RestoreBody) -> ApiResult<JobId> {
    blocking(move || {
        let plan = plan(&api, &name, &body)?;
        let req = JobRequest {
            kind: JobKind::Restore,
            plan: None,
            repository: name,
            trigger: Trigger::Api,
            tags: Vec::new(),
            restore: Some(RestoreRequest {
                snapshot: plan.snapshot.id.to_hex(),
                include: body.include,
                target: plan.target,
                in_place: body.in_place,
            }),
            check: None,
        };
        Ok(api.svc.submit(req)?)
    })
    .await
}

/// `target` with its symlinks resolved, if it lies under one of `roots`;
/// else a 400 naming `field`. The part of `target` that does not exist
/// yet has no symlinks to resolve.
pub fn confine(target: &Path, roots: &[PathBuf], field: &str) -> ApiResult<PathBuf> {
    let bad = |why: &str| ApiError::bad(field, format!("{field} {}: {why}", target.display()));
    if roots.is_empty() {
        return Err(bad("restores through the API need server.restore_roots"));
    }
    if !target.is_absolute() {
        return Err(bad("not an absolute path"));
    }
    if target
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(bad("`.` and `..` are not allowed"));
    }
    let mut existing = target.to_path_buf();
    let mut rest = Vec::new();
    let resolved = loop {
        match existing.canonicalize() {
            Ok(p) => break p,
            Err(_) => match (existing.file_name(), existing.parent()) {
                (Some(n), Some(parent)) => {
                    rest.push(n.to_os_string());
                    existing = parent.to_path_buf();
                }
                _ => return Err(bad("no part of it exists")),
            },
        }
    };
    let resolved = rest.iter().rev().fold(resolved, |p, n| p.join(n));
    let inside = roots
        .iter()
        .filter_map(|r| r.canonicalize().ok())
        .any(|r| resolved.starts_with(&r));
    if !inside {
        return Err(bad("outside the configured restore roots"));
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_outside_the_roots_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("escape")).unwrap();
        let roots = [root.clone()];
        let real_root = root.canonicalize().unwrap();
        assert_eq!(
            confine(&root.join("a/new/dir"), &roots, "target").unwrap(),
            real_root.join("a/new/dir")
        );
        assert_eq!(confine(&root, &roots, "target").unwrap(), real_root);
        for bad in [
            outside.clone(),
            root.join("escape/x"),
            root.join("a/../../outside"),
            PathBuf::from("relative/path"),
            PathBuf::from("/"),
        ] {
            let e = confine(&bad, &roots, "target").unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad:?}");
            assert_eq!(e.body.field.as_deref(), Some("target"));
        }
        assert!(
            confine(&root, &[], "target").is_err(),
            "no roots: no restores"
        );
    }
}
