//! A repository's snapshots (filtered by host, tag and time, newest
//! first), a snapshot's directories, and downloads through the API's own
//! streaming code. File names are bytes: they are shown lossily (invalid
//! UTF-8 as U+FFFD) and always escaped.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{bytes, page, time};
use super::session::Viewer;
use super::{blocking, query, seg, Web, WebResult};
use crate::serve::api::download::{self, DownloadQuery};
use crate::serve::api::snapshots::{self, FileEntry, SnapshotView, SnapshotsQuery};
use crate::serve::auth::Scope;

/// At most this many snapshots are listed (newest first).
const SHOWN: usize = 500;

/// Directory entries per page: a page stays under 200 KiB.
pub const PER_PAGE: usize = 500;

#[derive(Deserialize)]
pub struct BrowseQuery {
    /// A path in the snapshot (default `/`).
    pub path: Option<String>,
    /// Which page of a large directory, from 1.
    pub page: Option<usize>,
}

/// A date (`2026-12-06`) as the start or end of that day in UTC; any
/// other text goes to the API's parser as it is.
fn day(t: Option<String>, end: bool) -> Option<String> {
    let t = t.filter(|t| !t.is_empty())?;
    if t.len() == 10 && !t.contains('T') {
        return Some(format!(
            "{t}T{}Z",
            if end { "23:59:59" } else { "00:00:00" }
        ));
    }
    Some(t)
}

/// The snapshots page of a repository the service holds a put-only key
/// for: the notice and where its jobs are, not an error page.
fn put_only_page(v: &Viewer, name: &str) -> Markup {
    let body = html! {
        (super::overview::put_only_notice())
        p { a href={ "/jobs?repository=" (seg(name)) } { "Jobs of " (name) } }
    };
    page(v, &format!("Snapshots of {name}"), body)
}

pub async fn list(
    v: Viewer,
    State(web): State<Web>,
    Path(name): Path<String>,
    Query(q): Query<SnapshotsQuery>,
) -> WebResult<Markup> {
    let shown = (
        q.host.clone(),
        q.tag.clone(),
        q.since.clone(),
        q.until.clone(),
    );
    let api_q = SnapshotsQuery {
        since: day(q.since, false),
        until: day(q.until, true),
        ..q
    };
    let api = web.api.clone();
    let n = name.clone();
    let list = match blocking(move || snapshots::list_views(&api, &n, api_q)).await {
        Err(_) if web.api.svc.is_put_only(&name) => return Ok(put_only_page(&v, &name)),
        r => r?,
    };
    let val = |o: &Option<String>| o.clone().unwrap_or_default();
    let base = format!("/repos/{}", seg(&name));
    let body = html! {
        form.filters method="get" action={ (base) "/snapshots" } {
            label for="host" { "Host" } input id="host" name="host" value=(val(&shown.0));
            label for="tag" { "Tags" } input id="tag" name="tag" value=(val(&shown.1)) placeholder="a,b";
            label for="since" { "From" } input id="since" name="since" type="date" value=(val(&shown.2));
            label for="until" { "To" } input id="until" name="until" type="date" value=(val(&shown.3));
            button type="submit" { "Filter" }
        }
        p { (list.len()) " snapshots" @if list.len() > SHOWN { ", the newest " (SHOWN) " shown" } "." }
        div.scroll {
        table.snapshots {
            thead { tr {
                th scope="col" { "Snapshot" } th scope="col" { "Time" } th scope="col" { "Host" }
                th scope="col" { "Tags" } th scope="col" { "Paths" } th scope="col" { "Size" }
                th scope="col" { "Added" } th scope="col" { "Compare" }
            } }
            tbody {
                @for (i, s) in list.iter().enumerate().rev().take(SHOWN) {
                    (row(&base, s, i.checked_sub(1).map(|p| &list[p])))
                }
            }
        }
        }
        p { a href={ (base) "/verify" } { "Verification" } }
    };
    Ok(page(&v, &format!("Snapshots of {name}"), body))
}

fn row(base: &str, s: &SnapshotView, prev: Option<&SnapshotView>) -> Markup {
    html! {
        tr {
            td { a href={ (base) "/snapshots/" (s.id) "/browse" } { code { (s.short_id) } } }
            td { (time(&s.time)) }
            td { (s.host) }
            td { @for t in &s.tags { span.tag { (t) } " " } }
            td { (s.paths.join(", ")) }
            td { (bytes(s.summary.total_bytes)) }
            td { (bytes(s.summary.bytes_added)) }
            td {
                @if let Some(p) = prev {
                    a href={ (base) "/diff" (query(&[("a", &p.id), ("b", &s.id)])) } { "diff with previous" }
                }
            }
        }
    }
}

pub async fn browse(
    v: Viewer,
    State(web): State<Web>,
    Path((name, id)): Path<(String, String)>,
    Query(q): Query<BrowseQuery>,
) -> WebResult<Markup> {
    let api = web.api.clone();
    let (n, i, p) = (name.clone(), id.clone(), q.path.clone());
    let (snap, is_dir, entries) = blocking(move || {
        let (repo, snap) = snapshots::find(&api, &n, &i)?;
        let (is_dir, list) = snapshots::entries(&repo, &snap, p.as_deref())?;
        Ok((snapshots::view(&snap), is_dir, list))
    })
    .await?;
    let path = q
        .path
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/".into());
    let title = format!("Snapshot {} of {name}", snap.short_id);
    let at = Page {
        number: q.page.unwrap_or(1).max(1),
        entries: &entries,
    };
    Ok(page(
        &v,
        &title,
        listing(&v, &name, &snap, &path, is_dir, at),
    ))
}

/// One page of a directory's entries.
pub struct Page<'a> {
    /// From 1.
    pub number: usize,
    pub entries: &'a [FileEntry],
}

/// The breadcrumbs, actions and entries of `path` in `snap`. Links are
/// relative to the page (`…/browse`), which keeps a page of entries small.
pub fn listing(
    v: &Viewer,
    repo: &str,
    snap: &SnapshotView,
    path: &str,
    is_dir: bool,
    at: Page,
) -> Markup {
    let browse = |p: &str| format!("browse{}", query(&[("path", p)]));
    let get = |p: &str, f: &str| {
        let q = match f {
            "" => query(&[("path", p)]),
            f => query(&[("path", p), ("format", f)]),
        };
        format!("download{q}")
    };
    let pages = at.entries.len().div_ceil(PER_PAGE).max(1);
    let number = at.number.min(pages);
    let shown = at
        .entries
        .iter()
        .skip((number - 1) * PER_PAGE)
        .take(PER_PAGE);
    let page_link = |n: usize| {
        format!(
            "browse{}",
            query(&[("path", path), ("page", &n.to_string())])
        )
    };
    let mut crumbs = vec![("/".to_string(), "/".to_string())];
    let mut acc = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        acc = format!("{acc}/{part}");
        crumbs.push((acc.clone(), part.to_string()));
    }
    html! {
        p.meta { (time(&snap.time)) " · " (snap.host) " · " (snap.paths.join(", "))
            @for t in &snap.tags { " " span.tag { (t) } } }
        nav.crumbs aria-label="Path" {
            @for (p, label) in &crumbs { a href=(browse(p)) { (label) } " " }
        }
        p.actions {
            @if is_dir {
                a.button href=(get(path, "tar")) download { "Download as tar" } " "
                a.button href=(get(path, "zip")) download { "Download as zip" } " "
            } @else {
                a.button href=(get(path, "")) download { "Download" } " "
            }
            @if v.can(Scope::Restore) {
                a.button.restore href={ "/repos/" (seg(repo)) "/restore" (query(&[("snapshot", &snap.id), ("path", path)])) } { "Restore…" }
            }
        }
        div.scroll {
        table.files {
            thead { tr { th scope="col" { "Name" } th scope="col" { "Type" } th scope="col" { "Size" } th scope="col" { "Modified" } } }
            tbody {
                @for e in shown {
                    tr {
                        td {
                            @match e.kind {
                                "dir" => a.dir href=(browse(&e.path)) { (e.name) "/" },
                                "file" => a.file href=(get(&e.path, "")) download { (e.name) },
                                _ => span { (e.name) @if let Some(t) = &e.target { " → " (t) } },
                            }
                        }
                        td { (e.kind) }
                        td { (bytes(e.size)) }
                        td { (time(&e.mtime)) }
                    }
                }
            }
        }
        }
        @if pages > 1 {
            nav.pages aria-label="Pages" {
                "Page " (number) " of " (pages) " (" (at.entries.len()) " entries) "
                @if number > 1 { a rel="prev" href=(page_link(number - 1)) { "previous" } " " }
                @if number < pages { a rel="next" href=(page_link(number + 1)) { "next" } }
            }
        }
    }
}

/// A file, or a directory as tar or zip: the API's download.
pub async fn download(
    _: Viewer,
    State(web): State<Web>,
    Path((name, id)): Path<(String, String)>,
    Query(q): Query<DownloadQuery>,
) -> WebResult<Response> {
    let q = DownloadQuery {
        path: q.path,
        format: q.format.filter(|f| !f.is_empty()),
    };
    Ok(download::respond(web.api.clone(), name, id, q).await?)
}
