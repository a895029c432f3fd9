//! Looking into a repository: `snapshots`, `ls`, `dump`, `cat`.

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use cairn::format::index::BlobKind;
use cairn::format::layout;
use cairn::format::tree::{Node, NodeKind, Tree};
use cairn::ids::{BlobId, IndexId, KeyId, PackId, TreeId};
use cairn::repo::Repository;
use cairn::{Error, Result};

use crate::cli::args::{CatArgs, CatKind, DumpArgs, Global, LsArgs, SnapshotsArgs};
use crate::cli::listing;
use crate::cli::output::bytes;
use crate::cli::table::{Align, Table};
use crate::cli::{exit, open, print_json, split_spec};

pub fn snapshots(g: &Global, a: SnapshotsArgs) -> Result<i32> {
    let repo = open::open(g, false)?;
    let list = repo.snapshots(&a.filter.to_filter())?;
    if g.json {
        let v: Vec<_> = list
            .iter()
            .map(|s| {
                let sn = &s.snapshot;
                let mut v = serde_json::to_value(sn).unwrap_or_default();
                v["id"] = s.id.to_hex().into();
                v["short_id"] = s.id.short().into();
                v["time_unix"] = v["time"].take();
                v["time"] = cairn::time::rfc3339(sn.time, sn.utc_offset_secs).into();
                v
            })
            .collect();
        print_json(&v)?;
        return Ok(exit::OK);
    }
    let mut table = Table::new(std::io::stdout().lock(), &SNAPSHOT_COLUMNS);
    let io_err = |e| Error::io("<stdout>", e);
    let header = ["id", "time", "host", "tags", "size", "paths"];
    table
        .row(header.iter().map(|h| h.to_string()).collect())
        .map_err(io_err)?;
    for s in &list {
        table.row(snapshot_row(s)).map_err(io_err)?;
    }
    drop(table.finish().map_err(io_err)?);
    println!("{} snapshots", list.len());
    Ok(exit::OK)
}

/// Columns of `snapshots`: id, time, host, tags, size, paths.
const SNAPSHOT_COLUMNS: [Align; 6] = [
    Align::Left,
    Align::Left,
    Align::Left,
    Align::Left,
    Align::Right,
    Align::Left,
];

/// One `snapshots` row; the columns take the width of their longest cell.
fn snapshot_row(s: &cairn::repo::SnapshotRef) -> Vec<String> {
    let sn = &s.snapshot;
    vec![
        s.id.short(),
        cairn::time::format_local(sn.time),
        sn.host.clone(),
        sn.tags.join(","),
        bytes(sn.summary.total_bytes),
        sn.paths.join(" "),
    ]
}

/// Resolves `SNAPSHOT[:path]` to a node (a synthetic directory for the root).
pub(crate) fn resolve(
    repo: &Repository,
    spec: &str,
    g: &cairn::repo::SnapshotFilter,
) -> Result<(PathBuf, Node)> {
    let (snap, sub) = split_spec(spec);
    let s = repo.find_snapshot(snap, g)?;
    cairn::explore::resolve(repo, s.snapshot.tree, sub.unwrap_or(""))
}

pub fn ls(g: &Global, a: LsArgs) -> Result<i32> {
    let repo = open::open(g, false)?;
    let (snap, sub) = split_spec(&a.snapshot);
    let s = repo.find_snapshot(snap, &a.filter.to_filter())?;
    let (path, node) = cairn::explore::resolve(&repo, s.snapshot.tree, sub.unwrap_or(""))?;
    if let NodeKind::Dir { subtree } = &node.kind {
        // The listing walks the whole directory: read its trees ahead.
        repo.prefetch_below(&[*subtree], &mut Default::default());
    }
    let offset = s.snapshot.utc_offset_secs;
    let stdout = std::io::stdout().lock();
    let io_err = |e| Error::io("<stdout>", e);
    let mut nodes = 0u64;
    if a.long && !g.json {
        let mut table = Table::new(stdout, &listing::LONG_COLUMNS);
        walk(&repo, &path, &node, &mut |p, n| {
            table.row(listing::long_row(p, n, offset)).map_err(io_err)
        })?;
        drop(table.finish().map_err(io_err)?);
        return Ok(exit::OK);
    }
    let mut out = stdout;
    walk(&repo, &path, &node, &mut |p, n| {
        nodes += 1;
        if g.json {
            writeln!(out, "{}", listing::node_json(p, n, offset)).map_err(io_err)
        } else {
            writeln!(out, "{}", p.display()).map_err(io_err)
        }
    })?;
    drop(out);
    if g.json {
        print_json(&serde_json::json!({
            "message_type": "summary",
            "snapshot_id": s.id.to_hex(),
            "short_id": s.id.short(),
            "nodes": nodes,
        }))?;
    }
    Ok(exit::OK)
}

fn walk(
    repo: &Repository,
    path: &Path,
    node: &Node,
    f: &mut dyn FnMut(&Path, &Node) -> Result<()>,
) -> Result<()> {
    if node.name != b"/" {
        f(path, node)?;
    }
    if let NodeKind::Dir { subtree } = &node.kind {
        for child in repo.load_tree(subtree)?.nodes {
            walk(repo, &path.join(OsStr::from_bytes(&child.name)), &child, f)?;
        }
    }
    Ok(())
}

/// `dump --archive`'s formats.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveArg {
    Tar,
    Zip,
}

pub fn dump(g: &Global, a: DumpArgs) -> Result<i32> {
    let repo = open::open(g, false)?;
    let (path, node) = resolve(&repo, &a.target, &a.filter.to_filter())?;
    let out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(std::fs::File::create(p).map_err(|e| Error::io(p, e))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = crate::cli::interrupt::StopWriter {
        inner: std::io::BufWriter::with_capacity(1 << 20, out),
        written: 0,
    };
    let written = match a.archive {
        Some(kind) => dump_archive(g, &repo, &path, &node, kind, &mut out),
        None => dump_file(&repo, &path, &node, &mut out),
    };
    let flushed = written.and_then(|()| out.flush().map_err(|e| Error::io("<output>", e)));
    let what = match &a.output {
        Some(p) => format!("{} (removed)", p.display()),
        None => "the output".into(),
    };
    let flushed = crate::cli::interrupt::stopped_writing(flushed, out.written, &what);
    if let (Err(_), Some(p)) = (&flushed, &a.output) {
        let _ = std::fs::remove_file(p);
    }
    flushed?;
    Ok(exit::OK)
}

fn dump_file(repo: &Repository, path: &Path, node: &Node, out: &mut dyn Write) -> Result<()> {
    let Some((_, content)) = node.kind.file_content() else {
        return Err(Error::Usage(format!(
            "{} is not a regular file (use --archive for directories)",
            path.display()
        )));
    };
    for c in content {
        let data = repo.read_blob(BlobKind::Data, &BlobId::from(*c))?;
        out.write_all(&data).map_err(|e| Error::io("<output>", e))?;
    }
    Ok(())
}

fn dump_archive(
    g: &Global,
    repo: &Repository,
    path: &Path,
    node: &Node,
    kind: ArchiveArg,
    out: &mut dyn Write,
) -> Result<()> {
    use cairn::export::archive::{write_archive, ArchiveFormat};
    let format = match kind {
        ArchiveArg::Tar => ArchiveFormat::Tar,
        ArchiveArg::Zip => ArchiveFormat::Zip,
    };
    let (_, stats) = write_archive(repo, node, path.as_os_str().as_bytes(), format, out)?;
    if !g.quiet {
        eprintln!(
            "{} files ({}), {} directories, {} symlinks, {} hard links, {} special; {} left out, {} names written lossily",
            stats.files,
            bytes(stats.bytes),
            stats.dirs,
            stats.symlinks,
            stats.hardlinks,
            stats.specials,
            stats.skipped,
            stats.lossy_names
        );
    }
    Ok(())
}

fn need_id(a: &CatArgs) -> Result<&str> {
    a.id.as_deref()
        .ok_or_else(|| Error::Usage("this object needs an id".into()))
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| Error::Internal(format!("json: {e}")))
}

pub fn cat(g: &Global, a: CatArgs) -> Result<i32> {
    if a.kind == CatKind::Key {
        // Key files are readable without the password.
        let (loc, _) = open::location(g)?;
        let storage = crate::cli::storage::open(g, &loc, false)?;
        let id: KeyId = match &a.id {
            Some(id) => id.parse()?,
            None => storage
                .list(layout::KEYS_PREFIX)?
                .iter()
                .find_map(|o| layout::parse_id(&o.key))
                .ok_or_else(|| Error::NoRepository(loc.clone()))?,
        };
        let kf = cairn::format::keyfile::KeyFile::decode(&storage.get(&layout::key(&id))?)?;
        let mut v = to_json(&kf)?;
        v["sealed_master"] = hex::encode(&kf.sealed_master).into();
        v["salt"] = hex::encode(&kf.salt).into();
        print_json(&v)?;
        return Ok(exit::OK);
    }
    let repo = open::open(g, false)?;
    let v = match a.kind {
        CatKind::Key => unreachable!("handled above"),
        CatKind::Config => {
            let mut v = to_json(repo.config())?;
            v["repo_id"] = hex::encode(&repo.config().repo_id).into();
            v
        }
        CatKind::Snapshot => to_json(
            &repo
                .find_snapshot(need_id(&a)?, &Default::default())?
                .snapshot,
        )?,
        CatKind::Tree => {
            let spec = need_id(&a)?;
            let tree: Tree = match spec.parse::<TreeId>() {
                Ok(id) => repo.load_tree(&id)?,
                Err(_) => match resolve(&repo, spec, &Default::default())?.1.kind {
                    NodeKind::Dir { subtree } => repo.load_tree(&subtree)?,
                    _ => return Err(Error::Usage(format!("{spec} is not a directory"))),
                },
            };
            tree_json(&tree)
        }
        CatKind::Index => to_json(&repo.load_index_file(&need_id(&a)?.parse::<IndexId>()?)?)?,
        CatKind::Pack => {
            let id: PackId = need_id(&a)?.parse()?;
            let bytes = repo.storage().get(&layout::pack(&id))?;
            let header = cairn::format::pack::parse(repo.keys(), &bytes)?;
            let mut v = to_json(&header)?;
            v["kind"] = match header.kind {
                BlobKind::Data => "data",
                BlobKind::Tree => "tree",
            }
            .into();
            v
        }
    };
    print_json(&v)?;
    Ok(exit::OK)
}

/// Trees as JSON with names shown as text where they are UTF-8.
fn tree_json(tree: &Tree) -> serde_json::Value {
    let nodes: Vec<serde_json::Value> = tree
        .nodes
        .iter()
        .map(|n| {
            let mut v = serde_json::to_value(n).unwrap_or_default();
            v["name"] = String::from_utf8_lossy(&n.name).into_owned().into();
            v
        })
        .collect();
    serde_json::json!({ "nodes": nodes })
}
