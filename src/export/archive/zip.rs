//! zip output, streamed: each entry is followed by a data descriptor, so
//! nothing is written twice and no `Seek` is needed (standard output works).
//!
//! zip holds less than a tree: names are text (non-UTF-8 bytes are written
//! lossily and counted), modification times are local time at two-second
//! resolution, there are no hard links (each name gets its own copy), and
//! devices, fifos and sockets are left out and counted as skipped. Files are
//! deflated; files of 4 GiB and more get zip64 records.

use std::io::Write;

use chrono::{Datelike, TimeZone, Timelike};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::error::{Error, Result};
use crate::format::tree::{Node, NodeKind, Timestamp};
use crate::repo::Repository;

use super::{walk, ArchiveStats, ContentReader};

/// Files from this size on are written with zip64 sizes.
const ZIP64_FROM: u64 = 0xFFFF_0000;

pub(super) fn write<W: Write>(
    repo: &Repository,
    node: &Node,
    path: &[u8],
    out: W,
) -> Result<(W, ArchiveStats)> {
    let mut z = ZipWriter::new_stream(out);
    let mut stats = ArchiveStats::default();
    let zerr = |e: zip::result::ZipError| Error::io("<archive>", std::io::Error::other(e));
    walk(repo, node, path, &mut |name, n| {
        let text = match std::str::from_utf8(name) {
            Ok(s) => s.to_string(),
            Err(_) => {
                stats.lossy_names += 1;
                String::from_utf8_lossy(name).into_owned()
            }
        };
        let opts = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .unix_permissions(n.meta.mode & 0o7777)
            .last_modified_time(zip_time(n.meta.mtime));
        match &n.kind {
            NodeKind::File { size, content } | NodeKind::Sqlite { size, content, .. } => {
                let opts = opts.large_file(*size >= ZIP64_FROM);
                z.start_file(text, opts).map_err(zerr)?;
                let mut r = ContentReader::new(repo, content);
                let copied = std::io::copy(&mut r, &mut z);
                stats.bytes += r.finish(copied, *size, name)?;
                stats.files += 1;
            }
            NodeKind::Dir { .. } => {
                z.add_directory(text, opts).map_err(zerr)?;
                stats.dirs += 1;
            }
            NodeKind::Symlink { target } => {
                if std::str::from_utf8(target).is_err() {
                    stats.lossy_names += 1;
                }
                let target = String::from_utf8_lossy(target).into_owned();
                z.add_symlink(text, target, opts).map_err(zerr)?;
                stats.symlinks += 1;
            }
            _ => stats.skipped += 1,
        }
        Ok(())
    })?;
    let out = z.finish().map_err(zerr)?.into_inner();
    Ok((out, stats))
}

/// A timestamp as zip's local date and time, clamped to what zip can say
/// (1980–2107).
fn zip_time(t: Timestamp) -> DateTime {
    let local = match chrono::Local.timestamp_opt(t.secs, 0) {
        chrono::LocalResult::Single(d) | chrono::LocalResult::Ambiguous(d, _) => d,
        chrono::LocalResult::None => return DateTime::default(),
    };
    let year = local.year().clamp(1980, 2107) as u16;
    DateTime::from_date_and_time(
        year,
        local.month() as u8,
        local.day() as u8,
        local.hour() as u8,
        local.minute() as u8,
        local.second() as u8,
    )
    .unwrap_or_default()
}
