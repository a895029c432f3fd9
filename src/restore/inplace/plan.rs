//! Planning an in-place restore: each selected file of the snapshot goes
//! back to its original absolute path, and is first staged in a hidden
//! directory beside it (same directory, so the same file system, so the
//! final `rename` is atomic). Nothing is changed here.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::tree::{Meta, NodeKind};
use crate::ids::{SnapshotId, TreeId};
use crate::repo::Repository;
use crate::restore::{Plan, Selection};

/// One file to put in place.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Index into the staging plan's files.
    pub file: usize,
    /// The live file: where the snapshot says it was.
    pub dest: PathBuf,
    /// Where it is staged before the swap.
    pub staged: PathBuf,
    /// A file is at `dest` now (it will be replaced, and is backed up first).
    pub exists: bool,
    pub size: u64,
}

/// Everything an in-place restore will do, decided before it changes anything.
#[derive(Debug)]
pub struct InPlacePlan {
    /// Names this restore's staging directories (`.cairn-restore-<id>`):
    /// derived from the snapshot and the destinations, so rerunning the
    /// same command finds what an interrupted run left.
    pub id: String,
    pub snapshot: SnapshotId,
    /// The restore machinery's plan, with every file's path pointing into
    /// its staging directory (relative to `/`).
    pub staging: Plan,
    pub entries: Vec<Entry>,
    /// In order of first use; the first holds the journal.
    pub staging_dirs: Vec<PathBuf>,
    /// Missing directories to create, parents first, with the snapshot's
    /// metadata when the snapshot has the directory.
    pub dirs_to_create: Vec<(PathBuf, Option<Meta>)>,
    /// Selected entries that are not regular files, with why they are left out.
    pub left_out: Vec<(PathBuf, String)>,
    /// Staging directories of other in-place restores, interrupted, beside ours.
    pub foreign_staging: Vec<PathBuf>,
}

impl InPlacePlan {
    /// Where the journal of this restore is kept.
    pub fn journal_path(&self) -> Option<PathBuf> {
        self.staging_dirs.first().map(|d| d.join("journal"))
    }
}

/// Plans restoring `sel` of snapshot `snapshot` (root tree `root`) in place.
/// Fails, before anything is changed, when a destination is not a regular
/// file (a directory, a symlink, a device: replacing it is not what the
/// user asked) or a directory on the way is not a directory.
pub fn plan(
    repo: &Repository,
    snapshot: SnapshotId,
    root: TreeId,
    sel: &Selection,
) -> Result<InPlacePlan> {
    let mut staging = crate::restore::plan(repo, root, sel)?;
    let base = base_dir(repo, root, sel)?;
    let id = staging_id(&snapshot, &base, &staging);
    let mut p = InPlacePlan {
        id,
        snapshot,
        staging: Plan::default(),
        entries: Vec::new(),
        staging_dirs: Vec::new(),
        dirs_to_create: missing_ancestors(&base)?,
        left_out: Vec::new(),
        foreign_staging: Vec::new(),
    };
    for (rel, meta) in &staging.dirs {
        let dir = base.join(rel);
        if !is_dir(&dir)? {
            p.dirs_to_create.push((dir, Some(meta.clone())));
        }
    }
    for (rel, node) in &staging.others {
        let what = match node.kind {
            NodeKind::Symlink { .. } => "a symlink",
            NodeKind::Fifo => "a fifo",
            NodeKind::Socket => "a socket",
            _ => "a device node",
        };
        p.left_out.push((
            base.join(rel),
            format!(
                "{what}: in-place restore replaces regular files only (restore it with --target)"
            ),
        ));
    }
    let mut total = 0;
    for (i, f) in staging.files.iter_mut().enumerate() {
        let dest = base.join(&f.path);
        let exists = existing_file(&dest)?;
        let parent = dest.parent().unwrap_or(Path::new("/")).to_path_buf();
        let dir = parent.join(format!(".cairn-restore-{}", p.id));
        if !p.staging_dirs.contains(&dir) {
            p.staging_dirs.push(dir.clone());
        }
        let staged = dir.join(format!("f{i}"));
        // Each name is renamed into place on its own, so hard links
        // become separate files.
        f.link_of = None;
        f.path = staged.strip_prefix("/").unwrap_or(&staged).to_path_buf();
        total += f.size;
        p.entries.push(Entry {
            file: i,
            dest,
            staged,
            exists,
            size: f.size,
        });
    }
    p.foreign_staging = foreign_staging(&p);
    staging.total_bytes = total;
    staging.dirs.clear();
    staging.others.clear();
    p.staging = staging;
    Ok(p)
}

/// The absolute directory the plan's relative paths start from: `/`, the
/// selected directory, or the selected file's directory.
fn base_dir(repo: &Repository, root: TreeId, sel: &Selection) -> Result<PathBuf> {
    let Some(sub) = &sel.sub_path else {
        return Ok(PathBuf::from("/"));
    };
    let (node, snap_path) = crate::restore::plan::find(repo, repo.load_tree(&root)?, sub)?;
    Ok(match node.kind {
        NodeKind::Dir { .. } => snap_path,
        _ => snap_path.parent().unwrap_or(Path::new("/")).to_path_buf(),
    })
}

/// A short id for the staging directories: the same snapshot restored to
/// the same destinations gives the same id.
fn staging_id(snapshot: &SnapshotId, base: &Path, plan: &Plan) -> String {
    let mut h = blake3::Hasher::new();
    h.update(snapshot.to_hex().as_bytes());
    h.update(base.as_os_str().as_bytes());
    for f in &plan.files {
        h.update(b"\0");
        h.update(f.path.as_os_str().as_bytes());
    }
    h.finalize().to_hex()[..16].to_string()
}

/// Whether a regular file is at `dest`; an error for anything else there.
fn existing_file(dest: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(dest) {
        Ok(m) if m.is_file() => Ok(true),
        Ok(m) => {
            let what = if m.is_dir() {
                "a directory"
            } else if m.file_type().is_symlink() {
                "a symlink"
            } else {
                "not a regular file"
            };
            Err(Error::file(
                "in-place restore destination",
                dest,
                std::io::Error::other(format!(
                    "is {what}: only regular files are replaced in place; nothing was changed"
                )),
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::file("in-place restore destination", dest, e)),
    }
}

/// Whether `dir` is a directory (following symlinks, as a path the user's
/// files live under may); an error if something else is there.
fn is_dir(dir: &Path) -> Result<bool> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(true),
        Ok(_) => Err(Error::file(
            "in-place restore directory",
            dir,
            std::io::Error::other("exists and is not a directory; nothing was changed"),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::file("in-place restore directory", dir, e)),
    }
}

/// `base` and its missing ancestors, parents first (the snapshot's metadata
/// for them is not at hand: they get the defaults).
fn missing_ancestors(base: &Path) -> Result<Vec<(PathBuf, Option<Meta>)>> {
    let mut missing = Vec::new();
    for a in base.ancestors() {
        if is_dir(a)? {
            break;
        }
        missing.push((a.to_path_buf(), None));
    }
    missing.reverse();
    Ok(missing)
}

/// Other `.cairn-restore-*` directories where ours go: an interrupted
/// in-place restore of another snapshot or selection left them.
fn foreign_staging(p: &InPlacePlan) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for ours in &p.staging_dirs {
        let Some(Ok(dir)) = ours.parent().map(std::fs::read_dir) else {
            continue;
        };
        for e in dir.flatten() {
            let path = e.path();
            if e.file_name().as_bytes().starts_with(b".cairn-restore-") && &path != ours {
                found.push(path);
            }
        }
    }
    found
}
