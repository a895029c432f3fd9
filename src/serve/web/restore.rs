//! Restoring from the dashboard, in three steps: a form (what, and to a
//! directory or in place), a confirmation naming exactly what will be
//! written over, and the job. The checks are the API's (`restore_roots`,
//! symlinks resolved: `api::restore::plan`); the confirmation runs them
//! before it is shown, and the submit runs them again.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{csrf, page};
use super::session::{Post, Viewer};
use super::{blocking, seg, Web, WebResult};
use crate::serve::api::restore::{self, RestoreBody};
use crate::serve::api::snapshots;
use crate::serve::auth::Scope;

#[derive(Deserialize, Clone, Default)]
pub struct RestoreForm {
    #[serde(default)]
    snapshot: String,
    /// A path inside the snapshot; empty or `/`: all of it.
    #[serde(default)]
    path: String,
    /// `target` or `in_place`.
    #[serde(default)]
    mode: String,
    #[serde(default)]
    target: String,
    /// `yes` once the viewer confirmed.
    #[serde(default)]
    confirm: String,
}

impl RestoreForm {
    fn in_place(&self) -> bool {
        self.mode == "in_place"
    }
    /// The API's request for this form: the same checks, one place.
    fn body(&self) -> RestoreBody {
        RestoreBody {
            snapshot: self.snapshot.clone(),
            include: self.include(),
            target: (!self.in_place()).then(|| self.target.clone()),
            in_place: self.in_place(),
        }
    }
    fn include(&self) -> Vec<String> {
        match self.path.trim() {
            "" | "/" => Vec::new(),
            p => vec![p.to_string()],
        }
    }
}

pub async fn form(
    v: Viewer,
    Path(name): Path<String>,
    Query(f): Query<RestoreForm>,
) -> WebResult<Markup> {
    v.need(Scope::Restore)?;
    let body = html! {
        form.stack method="post" action={ "/repos/" (seg(&name)) "/restore" } {
            (csrf(&v))
            label for="snapshot" { "Snapshot" }
            input id="snapshot" name="snapshot" value=(f.snapshot) required;
            label for="path" { "Path in the snapshot (empty: everything)" }
            input id="path" name="path" value=(f.path);
            fieldset {
                legend { "Where to" }
                label { input type="radio" name="mode" value="target" checked; " Into a directory on the server" }
                label for="target" { "Directory (under a configured restore root)" }
                input id="target" name="target" value=(f.target);
                label { input type="radio" name="mode" value="in_place"; " In place, over the original files (two-phase, with a safety snapshot first)" }
            }
            button type="submit" { "Review…" }
        }
    };
    Ok(page(&v, &format!("Restore from {name}"), body))
}

/// Without `confirm=yes`: the confirmation page. With it: the job.
pub async fn submit(
    State(web): State<Web>,
    Path(name): Path<String>,
    p: Post<RestoreForm>,
) -> WebResult<Response> {
    let (v, f) = (p.viewer, p.form);
    v.need(Scope::Restore)?;
    if f.confirm == "yes" {
        let job = restore::submit(web.api.clone(), name, f.body()).await?;
        return Ok(Redirect::to(&format!("/jobs/{job}")).into_response());
    }
    let (api, n, f2) = (web.api.clone(), name.clone(), f.clone());
    let replaced = blocking(move || {
        let plan = restore::plan(&api, &n, &f2.body())?;
        let sub = f2.path.trim().trim_start_matches('/').to_string();
        let out = match (plan.target, sub.is_empty()) {
            (None, true) => plan.snapshot.snapshot.paths.clone(),
            (None, false) => vec![format!("/{sub}")],
            (Some(t), true) => vec![t.to_string_lossy().into_owned()],
            (Some(t), false) => vec![t.join(&sub).to_string_lossy().into_owned()],
        };
        Ok((snapshots::view(&plan.snapshot), out))
    })
    .await?;
    Ok(page(
        &v,
        &format!("Restore from {name}"),
        confirm(&v, &name, &f, &replaced),
    )
    .into_response())
}

fn confirm(
    v: &Viewer,
    repo: &str,
    f: &RestoreForm,
    (snap, replaced): &(snapshots::SnapshotView, Vec<String>),
) -> Markup {
    html! {
        section.confirm aria-labelledby="confirm-h" {
            h2 id="confirm-h" { "Confirm the restore" }
            p { "Snapshot " code { (snap.short_id) } " of " (snap.host) ", taken " (snap.time) ", "
                @if f.include().is_empty() { "all of it" } @else { "only " code { (f.path) } } "." }
            @if f.in_place() {
                p.warning { "These paths on the server will be replaced by their state in the snapshot. "
                    "A safety snapshot of them is taken first (the two-phase in-place restore)." }
            } @else {
                p.warning { "Files will be written into this directory; files already there with the same names will be replaced:" }
            }
            ul.replaced { @for r in replaced { li { code { (r) } } } }
            form method="post" action={ "/repos/" (seg(repo)) "/restore" } {
                (csrf(v))
                input type="hidden" name="snapshot" value=(snap.id);
                input type="hidden" name="path" value=(f.path);
                input type="hidden" name="mode" value=(f.mode);
                input type="hidden" name="target" value=(f.target);
                input type="hidden" name="confirm" value="yes";
                button.danger type="submit" { "Restore now" }
                " "
                a href={ "/repos/" (seg(repo)) "/snapshots/" (snap.id) "/browse" } { "Cancel" }
            }
        }
    }
}
