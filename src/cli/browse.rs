//! Looking into a repository: `snapshots`, `ls`, `dump`, `cat`.

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use cairn::explore::{kind_name, node_size as size};
use cairn::format::index::BlobKind;
use cairn::format::layout;
use cairn::format::tree::{Node, NodeKind, Tree};
use cairn::ids::{BlobId, IndexId, KeyId, PackId, TreeId};
use cairn::repo::Repository;
use cairn::{Error, Result};

use crate::cli::args::{CatArgs, CatKind, DumpArgs, Global, LsArgs, SnapshotsArgs};
use crate::cli::output::bytes;
use crate::cli::{exit, open, print_json, split_spec};

pub fn snapshots(g: &Global, a: SnapshotsArgs) -> Result<i32> {
    let repo = open::open(g, false)?;
    let list = repo.snapshots(&a.filter.to_filter())?;
    if g.json {
        let v: Vec<_> = list
            .iter()
            .map(|s| {
                let mut v = serde_json::to_value(&s.snapshot).unwrap_or_default();
                v["id"] = s.id.to_hex().into();
                v["short_id"] = s.id.short().into();
                v["time_local"] = cairn::time::format_local(s.snapshot.time).into();
                v
            })
            .collect();
        print_json(&v)?;
        return Ok(exit::OK);
    }
    println!(
        "{:<10} {:<19} {:<16} {:<16} {:>10}  paths",
        "id", "time", "host", "tags", "size"
    );
    for s in &list {
        let sn = &s.snapshot;
        println!(
            "{:<10} {:<19} {:<16} {:<16} {:>10}  {}",
            s.id.short(),
            cairn::time::format_local(sn.time),
            sn.host,
            sn.tags.join(","),
            bytes(sn.summary.total_bytes),
            sn.paths.join(" ")
        );
    }
    println!("{} snapshots", list.len());
    Ok(exit::OK)
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
    let (path, node) = resolve(&repo, &a.snapshot, &a.filter.to_filter())?;
    let mut out = std::io::stdout().lock();
    let mut print = |p: &Path, n: &Node| -> Result<()> {
        let line = if g.json {
            serde_json::json!({
                "path": p.to_string_lossy(),
                "type": kind_name(&n.kind),
                "size": size(n),
                "mode": n.meta.mode,
                "uid": n.meta.uid, "gid": n.meta.gid,
                "mtime": cairn::time::format_local(n.meta.mtime),
            })
            .to_string()
        } else if a.long {
            format!(
                "{:o} {:>8} {:>8} {:>12} {} {}",
                n.meta.mode,
                if n.meta.user.is_empty() {
                    n.meta.uid.to_string()
                } else {
                    n.meta.user.clone()
                },
                if n.meta.group.is_empty() {
                    n.meta.gid.to_string()
                } else {
                    n.meta.group.clone()
                },
                size(n),
                cairn::time::format_local(n.meta.mtime),
                p.display()
            )
        } else {
            p.display().to_string()
        };
        writeln!(out, "{line}").map_err(|e| Error::io("<stdout>", e))
    };
    walk(&repo, &path, &node, &mut print)?;
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
    let NodeKind::File { content, .. } = &node.kind else {
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
