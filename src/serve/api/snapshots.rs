//! `/repositories/{name}/snapshots`: list with filters, show one, and list
//! the files under a path of one. Reads only; the snapshot trees are the
//! repository's, so no request path can reach outside them.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use cairn::explore::{kind_name, node_size};
use cairn::format::tree::{Node, NodeKind};
use cairn::repo::{Repository, SnapshotFilter, SnapshotRef};

use super::error::{parse_time, ApiError, ApiResult};
use super::guard::{Params, Read};
use super::{blocking, Api};

/// A snapshot as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SnapshotView {
    pub id: String,
    pub short_id: String,
    /// RFC 3339, in the offset the snapshot was taken in.
    pub time: String,
    pub host: String,
    pub username: String,
    pub tags: Vec<String>,
    pub paths: Vec<String>,
    pub parent: Option<String>,
    /// Counts and bytes of the backup that wrote it.
    #[schema(value_type = Object)]
    pub summary: cairn::format::snapshot::Summary,
}

/// Filters of the snapshot list; all must match.
#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SnapshotsQuery {
    pub host: Option<String>,
    /// Comma-separated; snapshots carrying every one.
    pub tag: Option<String>,
    /// A path the snapshot's path list contains.
    pub path: Option<String>,
    /// RFC 3339: taken at or after.
    pub since: Option<String>,
    /// RFC 3339: taken at or before.
    pub until: Option<String>,
}

/// One entry of a directory listing.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FileEntry {
    /// The name (lossy UTF-8).
    pub name: String,
    /// The absolute path in the snapshot.
    pub path: String,
    /// file, dir, symlink, blockdev, chardev, fifo, socket
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub size: u64,
    pub mode: u32,
    /// RFC 3339.
    pub mtime: String,
    /// A symlink's target.
    pub target: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilesQuery {
    /// A path in the snapshot (default `/`).
    pub path: Option<String>,
}

/// Snapshots, oldest first.
#[utoipa::path(get, path = "/api/v1/repositories/{name}/snapshots", tag = "snapshots",
    security(("bearer" = [])), params(("name" = String, Path, description = "repository name"), SnapshotsQuery),
    responses((status = 200, body = [SnapshotView]), (status = 400, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody)))]
pub async fn list(
    _: Read,
    State(api): State<Api>,
    Path(name): Path<String>,
    Params(q): Params<SnapshotsQuery>,
) -> ApiResult<Json<Vec<SnapshotView>>> {
    blocking(move || list_views(&api, &name, q)).await.map(Json)
}

/// The snapshots of repository `name` that `q` selects, oldest first
/// (blocking; 404 for an unknown repository, 400 naming a bad filter).
pub fn list_views(api: &Api, name: &str, q: SnapshotsQuery) -> ApiResult<Vec<SnapshotView>> {
    let since = parse_time("since", q.since.as_deref())?.map(|t| t.timestamp());
    let until = parse_time("until", q.until.as_deref())?.map(|t| t.timestamp());
    let filter = SnapshotFilter {
        hosts: q.host.into_iter().filter(|h| !h.is_empty()).collect(),
        tags: (q.tag.iter().flat_map(|t| t.split(',')))
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        paths: q.path.into_iter().filter(|p| !p.is_empty()).collect(),
        as_of: None,
    };
    api.known_repository(name)?;
    let list = api.svc.snapshots(name, &filter)?;
    Ok(list
        .iter()
        .filter(|s| since.is_none_or(|t| s.snapshot.time.secs >= t))
        .filter(|s| until.is_none_or(|t| s.snapshot.time.secs <= t))
        .map(view)
        .collect())
}

/// One snapshot: `latest`, an id or a unique prefix.
#[utoipa::path(get, path = "/api/v1/repositories/{name}/snapshots/{id}", tag = "snapshots",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "repository name"),
        ("id" = String, Path, description = "`latest`, a snapshot id or a unique prefix")),
    responses((status = 200, body = SnapshotView), (status = 400, body = super::error::ErrorBody)))]
pub async fn show(
    _: Read,
    State(api): State<Api>,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult<Json<SnapshotView>> {
    blocking(move || {
        let (_, snap) = find(&api, &name, &id)?;
        Ok(view(&snap))
    })
    .await
    .map(Json)
}

/// The entries of a directory in a snapshot (or the one entry, for a file).
#[utoipa::path(get, path = "/api/v1/repositories/{name}/snapshots/{id}/files", tag = "snapshots",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "repository name"),
        ("id" = String, Path, description = "`latest`, a snapshot id or a unique prefix"), FilesQuery),
    responses((status = 200, body = [FileEntry]), (status = 400, body = super::error::ErrorBody)))]
pub async fn files(
    _: Read,
    State(api): State<Api>,
    Path((name, id)): Path<(String, String)>,
    Params(q): Params<FilesQuery>,
) -> ApiResult<Json<Vec<FileEntry>>> {
    blocking(move || {
        let (repo, snap) = find(&api, &name, &id)?;
        Ok(entries(&repo, &snap, q.path.as_deref())?.1)
    })
    .await
    .map(Json)
}

/// The entries of the directory at `path` in the snapshot (or the one
/// entry, for a file), and whether `path` is a directory (blocking).
pub fn entries(
    repo: &Repository,
    snap: &SnapshotRef,
    path: Option<&str>,
) -> ApiResult<(bool, Vec<FileEntry>)> {
    let (path, node) = resolve(repo, snap, path)?;
    let offset = snap.snapshot.utc_offset_secs;
    let NodeKind::Dir { subtree } = &node.kind else {
        return Ok((false, vec![entry(&path, &node, offset)]));
    };
    let tree = repo.load_tree(subtree)?;
    let list = tree
        .nodes
        .iter()
        .map(|n| entry(&path.join(OsStr::from_bytes(&n.name)), n, offset))
        .collect();
    Ok((true, list))
}

/// The repository and the snapshot `id` of it; an unknown or ambiguous
/// id is a 400 naming `id`.
pub fn find(api: &Api, name: &str, id: &str) -> ApiResult<(Arc<Repository>, SnapshotRef)> {
    let repo = api.repository(name)?;
    let snap = repo
        .find_snapshot(id, &SnapshotFilter::default())
        .map_err(|e| ApiError::from_lib(e, Some("id")))?;
    Ok((repo, snap))
}

/// The node at `path` in the snapshot; a path that is not there is a 400
/// naming `path`.
pub fn resolve(
    repo: &Repository,
    snap: &SnapshotRef,
    path: Option<&str>,
) -> ApiResult<(std::path::PathBuf, Node)> {
    cairn::explore::resolve(repo, snap.snapshot.tree, path.unwrap_or(""))
        .map_err(|e| ApiError::from_lib(e, Some("path")))
}

/// A snapshot as the API and the dashboard show it.
pub fn view(s: &SnapshotRef) -> SnapshotView {
    let sn = &s.snapshot;
    SnapshotView {
        id: s.id.to_hex(),
        short_id: s.id.short(),
        time: cairn::time::rfc3339(sn.time, sn.utc_offset_secs),
        host: sn.host.clone(),
        username: sn.username.clone(),
        tags: sn.tags.clone(),
        paths: sn.paths.clone(),
        parent: sn.parent.map(|p| p.to_hex()),
        summary: sn.summary.clone(),
    }
}

fn entry(path: &std::path::Path, n: &Node, offset: i32) -> FileEntry {
    FileEntry {
        name: String::from_utf8_lossy(&n.name).into_owned(),
        path: path.to_string_lossy().into_owned(),
        kind: kind_name(&n.kind),
        size: node_size(n),
        mode: n.meta.mode & 0o7777,
        mtime: cairn::time::rfc3339(n.meta.mtime, offset),
        target: match &n.kind {
            NodeKind::Symlink { target } => Some(String::from_utf8_lossy(target).into_owned()),
            _ => None,
        },
    }
}
