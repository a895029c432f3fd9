//! Walks of real directory trees in temp dirs.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::*;
use crate::source::{Entry, EntryKind};
use crate::ErrorKind;

mod companions;
mod excludes;
mod special;

/// A canonical temp dir, so expected ancestors match what the walk emits.
pub(super) fn tempdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let base = fs::canonicalize(dir.path()).unwrap();
    (dir, base)
}

pub(super) fn touch(path: &Path) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, b"x").unwrap();
}

pub(super) fn opts<P: AsRef<Path>>(paths: &[P]) -> FsOptions {
    FsOptions {
        paths: paths.iter().map(|p| p.as_ref().to_path_buf()).collect(),
        ..FsOptions::default()
    }
}

pub(super) fn walk(opts: FsOptions) -> Vec<Event> {
    FsSource::new(opts).unwrap().collect()
}

/// `+name` Enter, `-name` Leaf, `<` Leave, `!name` Skipped, `~name` Stream.
pub(super) fn render(events: &[Event]) -> Vec<String> {
    let name = |n: &[u8]| n.escape_ascii().to_string();
    events
        .iter()
        .map(|e| match e {
            Event::Enter(e) => format!("+{}", name(&e.name)),
            Event::Leaf(e) => format!("-{}", name(&e.name)),
            Event::Leave => "<".to_string(),
            Event::Stream(e, _) | Event::Deferred(e, _) => format!("~{}", name(&e.name)),
            Event::Skipped { path, .. } => {
                format!("!{}", name(path.file_name().unwrap().as_bytes()))
            }
        })
        .collect()
}

/// `inner` wrapped in Enter/Leave of every component of `dir`.
pub(super) fn wrap(dir: &Path, inner: &[&str]) -> Vec<String> {
    let comps: Vec<String> = dir
        .iter()
        .skip(1)
        .map(|c| format!("+{}", c.as_bytes().escape_ascii()))
        .collect();
    let mut out = comps.clone();
    out.extend(inner.iter().map(|s| s.to_string()));
    out.extend(comps.iter().map(|_| "<".to_string()));
    out
}

/// The rendered walk of `dir` (a given path) inside its own Enter/Leave.
pub(super) fn walk_dir(opts: FsOptions, dir: &Path) -> Vec<String> {
    let got = render(&walk(opts));
    let outer = wrap(dir, &[]);
    let depth = outer.len() / 2;
    assert!(got.len() >= outer.len(), "{got:?}");
    assert_eq!(got[..depth], outer[..depth], "ancestors: {got:?}");
    assert_eq!(got[got.len() - depth..], outer[depth..], "leaves: {got:?}");
    got[depth..got.len() - depth].to_vec()
}

pub(super) fn entries(events: &[Event]) -> Vec<&Entry> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Enter(e) | Event::Leaf(e) => Some(e),
            _ => None,
        })
        .collect()
}

pub(super) fn find<'a>(events: &'a [Event], name: &str) -> &'a Entry {
    entries(events)
        .into_iter()
        .find(|e| e.name == name.as_bytes())
        .unwrap_or_else(|| panic!("no entry {name}"))
}

#[test]
fn nested_dirs_depth_first_with_ancestors() {
    let (_t, base) = tempdir();
    touch(&base.join("a/b/c.txt"));
    touch(&base.join("a/d.txt"));
    touch(&base.join("e.txt"));
    fs::create_dir(base.join("empty")).unwrap();
    let got = render(&walk(opts(&[&base])));
    let want = wrap(
        &base,
        &[
            "+a", "+b", "-c.txt", "<", "-d.txt", "<", "-e.txt", "+empty", "<",
        ],
    );
    // The given dir is the last wrapper component: it is Entered too.
    assert_eq!(got, want);

    let events = walk(opts(&[&base]));
    let Event::Enter(first) = &events[0] else {
        panic!("expected Enter, got {:?}", events[0]);
    };
    let top = base.ancestors().nth(base.iter().count() - 2).unwrap();
    assert_eq!(first.path, top);
    assert_eq!(first.kind, EntryKind::Dir);
    assert_eq!(first.meta.inode, fs::symlink_metadata(top).unwrap().ino());
    let c = find(&events, "c.txt");
    let md = fs::symlink_metadata(base.join("a/b/c.txt")).unwrap();
    assert_eq!(c.path, base.join("a/b/c.txt"));
    assert_eq!(c.kind, EntryKind::File { size: 1 });
    assert_eq!(c.meta.mode, md.mode());
    assert_eq!(c.meta.mtime.secs, md.mtime());
    assert_eq!(c.meta.mtime.nanos as i64, md.mtime_nsec());
    assert_eq!(c.meta.links, 1);
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    assert_eq!(c.meta.uid, uid);
    if uid == 0 {
        assert_eq!(c.meta.user, "root");
    }
}

#[test]
fn siblings_sorted_by_bytes_including_non_utf8() {
    let (_t, base) = tempdir();
    let names: [&[u8]; 6] = [b"b", b"B", b"_", b"a\xff", b"\xfe", b"a"];
    for name in names {
        touch(&base.join(OsStr::from_bytes(name)));
    }
    let got = walk_dir(opts(&[&base]), &base);
    assert_eq!(got, ["-B", "-_", "-a", "-a\\xff", "-b", "-\\xfe"]);
}

#[test]
fn paths_share_ancestors_and_nested_duplicates_drop() {
    let (_t, base) = tempdir();
    touch(&base.join("x/p/1"));
    touch(&base.join("x/q/2"));
    touch(&base.join("x/q/sub/3"));
    touch(&base.join("y/4"));
    let given = [
        base.join("y"),
        base.join("x/q"),
        base.join("x/p"),
        base.join("x/q/sub"),
        base.join("y"),
    ];
    let src = FsSource::new(opts(&given)).unwrap();
    let mut want_paths: Vec<String> = ["x/p", "x/q", "y"]
        .iter()
        .map(|p| base.join(p).to_string_lossy().into_owned())
        .collect();
    want_paths.sort();
    assert_eq!(src.paths(), want_paths);
    let got = render(&src.collect::<Vec<_>>());
    let want = wrap(
        &base,
        &[
            "+x", "+p", "-1", "<", "+q", "-2", "+sub", "-3", "<", "<", "<", "+y", "-4", "<",
        ],
    );
    assert_eq!(got, want);
}

#[test]
fn relative_paths_and_file_paths() {
    let (_t, base) = tempdir();
    touch(&base.join("d/f.txt"));
    touch(&base.join("d/g.txt"));
    let got = render(&walk(opts(&[base.join("d/f.txt")])));
    assert_eq!(got, wrap(&base, &["+d", "-f.txt", "<"]));

    // Relative to the current directory, which tests must not change.
    let cwd = std::env::current_dir().unwrap();
    let rel = pathdiff(&base.join("d/g.txt"), &cwd);
    let src = FsSource::new(opts(&[rel])).unwrap();
    assert_eq!(
        src.paths(),
        vec![base.join("d/g.txt").to_string_lossy().into_owned()]
    );
}

/// `target` relative to `from` via `..` components.
fn pathdiff(target: &Path, from: &Path) -> PathBuf {
    let mut rel = PathBuf::new();
    for _ in from.iter().skip(1) {
        rel.push("..");
    }
    rel.join(target.strip_prefix("/").unwrap())
}

#[test]
fn symlinks_recorded_not_followed() {
    let (_t, base) = tempdir();
    touch(&base.join("real/inside"));
    std::os::unix::fs::symlink("real", base.join("dirlink")).unwrap();
    std::os::unix::fs::symlink("nowhere/\u{e9}", base.join("dangling")).unwrap();
    let events = walk(opts(&[&base]));
    assert_eq!(
        render(&events)[base.iter().count() - 1..][..6],
        ["-dangling", "-dirlink", "+real", "-inside", "<", "<"]
    );
    assert_eq!(
        find(&events, "dirlink").kind,
        EntryKind::Symlink {
            target: b"real".to_vec()
        }
    );
    assert_eq!(
        find(&events, "dangling").kind,
        EntryKind::Symlink {
            target: "nowhere/\u{e9}".as_bytes().to_vec()
        }
    );

    // A given path that is a symlink backs up the link itself.
    let events = walk(opts(&[base.join("dirlink")]));
    assert_eq!(render(&events), wrap(&base, &["-dirlink"]));
    let Event::Leaf(link) = &events[base.iter().count() - 1] else {
        panic!("expected the link as a leaf");
    };
    assert_eq!(link.path, base.join("dirlink"));
}

#[test]
fn hardlinks_share_an_inode() {
    let (_t, base) = tempdir();
    touch(&base.join("one"));
    fs::hard_link(base.join("one"), base.join("two")).unwrap();
    let events = walk(opts(&[&base]));
    let (one, two) = (find(&events, "one"), find(&events, "two"));
    assert_eq!(one.meta.inode, two.meta.inode);
    assert_eq!(one.meta.device, two.meta.device);
    assert_eq!(one.meta.links, 2);
}

#[test]
fn hidden_and_gitignored_files_are_included() {
    let (_t, base) = tempdir();
    fs::write(base.join(".gitignore"), "*\n.hidden\nignored/\n").unwrap();
    touch(&base.join(".hidden"));
    touch(&base.join("ignored/file"));
    touch(&base.join(".git/config"));
    let got = walk_dir(opts(&[&base]), &base);
    assert_eq!(
        got,
        [
            "+.git",
            "-config",
            "<",
            "-.gitignore",
            "-.hidden",
            "+ignored",
            "-file",
            "<"
        ]
    );
}

#[test]
fn missing_path_is_a_usage_error() {
    let (_t, base) = tempdir();
    for bad in [base.join("missing"), base.join("missing/x")] {
        let err = FsSource::new(opts(&[base.clone(), bad])).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::Usage, "{err}");
    }
    touch(&base.join("file"));
    let err = FsSource::new(opts(&[base.join("file/x")])).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Usage, "{err}");
    let err = FsSource::new(opts::<PathBuf>(&[])).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Usage);
}

#[test]
fn backing_up_root_yields_its_children() {
    let mut src = FsSource::new(opts(&[PathBuf::from("/"), PathBuf::from("/etc")])).unwrap();
    assert_eq!(src.paths(), vec!["/".to_string()]);
    let first = src.find_map(|e| match e {
        Event::Enter(e) | Event::Leaf(e) => Some(e),
        _ => None,
    });
    let first = first.expect("/ has entries");
    assert_eq!(first.path.parent(), Some(Path::new("/")));
    let mut names: Vec<Vec<u8>> = fs::read_dir("/")
        .unwrap()
        .map(|e| e.unwrap().file_name().as_bytes().to_vec())
        .collect();
    names.sort();
    assert_eq!(first.name, names[0]);
}
