//! What changed between two snapshots: the library's `diff` (what `cairn
//! diff` prints), its entries and totals shown as a table.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path as FsPath;

use axum::extract::{Path, Query, State};
use maud::{html, Markup};
use serde::Deserialize;

use cairn::explore::diff::{diff, DiffEntry, DiffOptions, DiffStats};

use super::layout::{bytes, page};
use super::session::Viewer;
use super::{blocking, seg, Web, WebResult};
use crate::serve::api::error::ApiError;
use crate::serve::api::snapshots::{self, SnapshotView};

/// At most this many changes are listed (the totals count them all).
const SHOWN: usize = 2000;

#[derive(Deserialize)]
pub struct DiffQuery {
    /// The older snapshot (`latest`, an id or a unique prefix).
    #[serde(default)]
    a: String,
    /// The newer one.
    #[serde(default)]
    b: String,
}

struct Compared {
    old: SnapshotView,
    new: SnapshotView,
    changes: Vec<(String, DiffEntry)>,
    stats: DiffStats,
}

fn compare(
    api: &crate::serve::api::Api,
    repo: &str,
    a: &str,
    b: &str,
) -> Result<Compared, ApiError> {
    let (r, old) = snapshots::find(api, repo, a).map_err(|e| field(e, "a"))?;
    let (_, new) = snapshots::find(api, repo, b).map_err(|e| field(e, "b"))?;
    let (old_node, new_node) = (
        cairn::explore::root_node(old.snapshot.tree),
        cairn::explore::root_node(new.snapshot.tree),
    );
    let mut changes = Vec::new();
    let stats = diff(
        &r,
        &old_node,
        &new_node,
        b"/",
        DiffOptions::default(),
        &mut |e| {
            if changes.len() < SHOWN {
                let p = FsPath::new(OsStr::from_bytes(&e.path))
                    .to_string_lossy()
                    .into_owned();
                changes.push((p, e.clone()));
            }
            Ok(())
        },
    )?;
    Ok(Compared {
        old: snapshots::view(&old),
        new: snapshots::view(&new),
        changes,
        stats,
    })
}

/// The API names the snapshot parameter `id`; here it is `a` or `b`.
fn field(mut e: ApiError, name: &str) -> ApiError {
    if e.body.field.is_some() {
        e.body.field = Some(name.to_string());
    }
    e
}

pub async fn page_of(
    v: Viewer,
    State(web): State<Web>,
    Path(name): Path<String>,
    Query(q): Query<DiffQuery>,
) -> WebResult<Markup> {
    let form = html! {
        form.filters method="get" action={ "/repos/" (seg(&name)) "/diff" } {
            label for="a" { "Older" } input id="a" name="a" value=(q.a) required;
            label for="b" { "Newer" } input id="b" name="b" value=(q.b) required;
            button type="submit" { "Compare" }
        }
    };
    let title = format!("Compare snapshots of {name}");
    if q.a.is_empty() || q.b.is_empty() {
        return Ok(page(&v, &title, form));
    }
    let api = web.api.clone();
    let c = blocking(move || compare(&api, &name, &q.a, &q.b)).await?;
    Ok(page(&v, &title, html! { (form) (render(&c)) }))
}

fn render(c: &Compared) -> Markup {
    let s = &c.stats;
    html! {
        p { "From " code { (c.old.short_id) } " (" (c.old.time) ") to " code { (c.new.short_id) } " (" (c.new.time) ")." }
        p.summary {
            "Added " (s.added) " (" (bytes(s.added_bytes)) "), removed " (s.removed) " (" (bytes(s.removed_bytes))
            "), modified " (s.modified) " (" (bytes(s.modified_old_bytes)) " → " (bytes(s.modified_new_bytes))
            "), type changed " (s.type_changed) "."
        }
        @let total = s.added + s.removed + s.modified + s.type_changed;
        @if total as usize > c.changes.len() { p { "The first " (c.changes.len()) " changes are listed." } }
        div.scroll {
        table.diff {
            thead { tr { th scope="col" { "Change" } th scope="col" { "Path" } th scope="col" { "Size before" } th scope="col" { "Size after" } } }
            tbody {
                @for (path, e) in &c.changes {
                    @let change = format!("{:?}", e.change).to_lowercase();
                    tr class={ "c-" (change) } {
                        td { (e.change.code()) " " (change) }
                        td { (path) }
                        td { @if e.old_type.is_some() { (bytes(e.old_size)) } }
                        td { @if e.new_type.is_some() { (bytes(e.new_size)) } }
                    }
                }
            }
        }
        }
    }
}
