//! Streaming a snapshot's directory (or one file) out as a tar or zip
//! archive to any `Write`, without touching the local file system.
//!
//! Entry names are relative to the parent of what is dumped: dumping
//! `/home/me/docs` gives `docs/...`; dumping the snapshot root gives the
//! full paths without the leading `/`. File content is read chunk by chunk,
//! so memory stays at one chunk however large the file.
//!
//! tar keeps everything a tree holds (see [`tar`]); zip cannot hold devices,
//! fifos, sockets, hard links or non-UTF-8 names (see [`zip`]).

mod tar;
mod zip;

use std::io::{self, Read, Write};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::format::index::BlobKind;
use crate::format::tree::{Node, NodeKind};
use crate::ids::{BlobId, ChunkId};
use crate::repo::Repository;

/// The archive formats `dump --archive` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    Tar,
    Zip,
}

/// What went into an archive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ArchiveStats {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    /// Entries written as links to an earlier entry (tar only).
    pub hardlinks: u64,
    /// Devices and fifos (tar only).
    pub specials: u64,
    /// Entries the format cannot hold, left out (sockets; in zip also devices and fifos).
    pub skipped: u64,
    /// Names or link targets that are not UTF-8, written lossily (zip only).
    pub lossy_names: u64,
    /// File content bytes written.
    pub bytes: u64,
}

/// Writes `node` (its absolute path in the snapshot is `path`) and
/// everything below it to `out` as `format`. Returns `out` once the archive
/// is complete.
pub fn write_archive<W: Write>(
    repo: &Repository,
    node: &Node,
    path: &[u8],
    format: ArchiveFormat,
    out: W,
) -> Result<(W, ArchiveStats)> {
    match format {
        ArchiveFormat::Tar => tar::write(repo, node, path, out),
        ArchiveFormat::Zip => zip::write(repo, node, path, out),
    }
}

/// Calls `f` with each entry's archive name and node, parents before
/// children. The snapshot root (named `/`) is not an entry itself.
fn walk(
    repo: &Repository,
    node: &Node,
    path: &[u8],
    f: &mut dyn FnMut(&[u8], &Node) -> Result<()>,
) -> Result<()> {
    let top: Vec<u8> = if path == b"/" || node.name == b"/" {
        Vec::new()
    } else {
        node.name.clone()
    };
    visit(repo, node, top, f)
}

fn visit(
    repo: &Repository,
    node: &Node,
    name: Vec<u8>,
    f: &mut dyn FnMut(&[u8], &Node) -> Result<()>,
) -> Result<()> {
    if !name.is_empty() {
        f(&name, node)?;
    }
    if let NodeKind::Dir { subtree } = &node.kind {
        for child in repo.load_tree(subtree)?.nodes {
            let mut n = name.clone();
            if !n.is_empty() {
                n.push(b'/');
            }
            n.extend_from_slice(&child.name);
            visit(repo, &child, n, f)?;
        }
    }
    Ok(())
}

/// A file's content as a `Read`, one chunk in memory at a time. A
/// repository error is kept aside (the `io::Error` only says "see there")
/// so the caller can report the real, typed error.
pub(crate) struct ContentReader<'a> {
    repo: &'a Repository,
    chunks: std::slice::Iter<'a, ChunkId>,
    buf: Vec<u8>,
    pos: usize,
    total: u64,
    error: Option<Error>,
}

impl<'a> ContentReader<'a> {
    pub(crate) fn new(repo: &'a Repository, chunks: &'a [ChunkId]) -> Self {
        ContentReader {
            repo,
            chunks: chunks.iter(),
            buf: Vec::new(),
            pos: 0,
            total: 0,
            error: None,
        }
    }

    /// Turns a failure while copying into the error that caused it, and
    /// checks the content was as long as the tree said.
    fn finish<T>(self, copied: io::Result<T>, size: u64, path: &[u8]) -> Result<u64> {
        self.finish_with(copied.map_err(|e| Error::io("<archive>", e)), size, path)
    }

    /// [`ContentReader::finish`] for a consumer with typed errors (the
    /// chunker): the repository's error first, then the consumer's.
    pub(crate) fn finish_with<T>(self, done: Result<T>, size: u64, path: &[u8]) -> Result<u64> {
        if let Some(e) = self.error {
            return Err(e);
        }
        done?;
        if self.total != size {
            return Err(Error::corrupt(
                "tree",
                format!(
                    "{}: content is {} bytes, the tree says {size}",
                    String::from_utf8_lossy(path),
                    self.total
                ),
            ));
        }
        Ok(self.total)
    }
}

impl Read for ContentReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            let Some(c) = self.chunks.next() else {
                return Ok(0);
            };
            match self.repo.read_blob(BlobKind::Data, &BlobId::from(*c)) {
                Ok(b) => {
                    self.buf = b;
                    self.pos = 0;
                }
                Err(e) => {
                    self.error = Some(e);
                    return Err(io::Error::other("reading a chunk failed"));
                }
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        self.total += n as u64;
        Ok(n)
    }
}
