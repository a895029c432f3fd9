//! `GET …/snapshots/{id}/download?path=`: one file's bytes, or a directory
//! as a tar or zip archive (`format=tar|zip`, the code behind `cairn dump
//! --archive`). The bytes are streamed as the repository yields them: a
//! blocking task writes into a small bounded channel that the response
//! body drains, so memory stays flat whatever the size and a slow client
//! slows the reads, not the service. A failure after the first byte ends
//! the connection early (the client sees a truncated body, never a
//! complete-looking wrong one).

use std::io::Write;
use std::os::unix::ffi::OsStrExt;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::mpsc;

use cairn::export::archive::{write_archive, ArchiveFormat};
use cairn::format::index::BlobKind;
use cairn::ids::BlobId;

use super::error::{parse_enum, ApiError, ApiResult};
use super::guard::{Params, Read};
use super::snapshots::{find, resolve};
use super::{blocking, Api};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DownloadQuery {
    /// The file or directory in the snapshot.
    pub path: Option<String>,
    /// `tar` or `zip`: an archive of `path` (needed for a directory).
    pub format: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Format {
    Tar,
    Zip,
}

type Chunk = Result<Bytes, std::io::Error>;

/// Downloads a file, or a directory as an archive.
#[utoipa::path(get, path = "/api/v1/repositories/{name}/snapshots/{id}/download", tag = "snapshots",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "repository name"),
        ("id" = String, Path, description = "`latest`, a snapshot id or a unique prefix"), DownloadQuery),
    responses((status = 200, description = "the file, or a tar or zip archive", content_type = "application/octet-stream"),
        (status = 400, body = super::error::ErrorBody)))]
pub async fn download(
    _: Read,
    State(api): State<Api>,
    Path((name, id)): Path<(String, String)>,
    Params(q): Params<DownloadQuery>,
) -> ApiResult<Response> {
    respond(api, name, id, q).await
}

/// The download response for `q` in snapshot `id` of repository `name`:
/// the API's and the dashboard's.
pub async fn respond(api: Api, name: String, id: String, q: DownloadQuery) -> ApiResult<Response> {
    let format: Option<Format> = parse_enum("format", q.format.as_deref())?;
    let (tx, rx) = mpsc::channel::<Chunk>(4);
    let (file_name, size) = blocking(move || {
        let (repo, snap) = find(&api, &name, &id)?;
        let (path, node) = resolve(&repo, &snap, q.path.as_deref())?;
        let size = node.kind.file_content().map(|(size, _)| size);
        if format.is_none() && size.is_none() {
            return Err(ApiError::bad(
                "path",
                "not a regular file: add format=tar or format=zip",
            ));
        }
        let name = String::from_utf8_lossy(&node.name).into_owned();
        // The rest runs after the response has started.
        tokio::task::spawn_blocking(move || {
            let mut out = std::io::BufWriter::with_capacity(256 << 10, Sender(tx.clone()));
            let written = match format {
                None => file(&repo, &node, &mut out),
                Some(f) => {
                    let f = match f {
                        Format::Tar => ArchiveFormat::Tar,
                        Format::Zip => ArchiveFormat::Zip,
                    };
                    write_archive(&repo, &node, path.as_os_str().as_bytes(), f, &mut out).map(drop)
                }
            };
            let flushed =
                written.and_then(|()| out.flush().map_err(|e| cairn::Error::io("<client>", e)));
            if let Err(e) = flushed {
                tracing::warn!("download stopped: {e}");
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
        });
        Ok((name, size.filter(|_| format.is_none())))
    })
    .await?;
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let (ctype, ext) = match format {
        None => ("application/octet-stream", ""),
        Some(Format::Tar) => ("application/x-tar", ".tar"),
        Some(Format::Zip) => ("application/zip", ".zip"),
    };
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Ok(v) = HeaderValue::from_str(&disposition(&file_name, ext)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some(n) = size {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    Ok(resp)
}

/// `attachment; filename="…"` with anything but plain ASCII replaced.
fn disposition(name: &str, ext: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = if safe.is_empty() || safe == "/" {
        "snapshot".into()
    } else {
        safe
    };
    format!("attachment; filename=\"{safe}{ext}\"")
}

fn file(
    repo: &cairn::repo::Repository,
    node: &cairn::format::tree::Node,
    out: &mut impl Write,
) -> cairn::Result<()> {
    let (_, content) = node.kind.file_content().expect("checked: a regular file");
    for c in content {
        let data = repo.read_blob(BlobKind::Data, &BlobId::from(*c))?;
        out.write_all(&data)
            .map_err(|e| cairn::Error::io("<client>", e))?;
    }
    Ok(())
}

/// Writes into the response body's channel; blocks while it is full.
struct Sender(mpsc::Sender<Chunk>);

impl Write for Sender {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client left"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
