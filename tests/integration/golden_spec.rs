//! The golden repository as `format-spec/golden.md` describes it: its
//! password, snapshot, parameters and the listing of every node (paths,
//! metadata, chunk sizes, content hashes). An implementer checks a reader
//! against that listing; this test checks the listing against the real
//! repository, so the two cannot drift apart.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn::format::index::BlobKind;
use cairn::format::keyfile::KeyFile;
use cairn::format::layout;
use cairn::format::tree::{Meta, NodeKind, Timestamp};
use cairn::ids::{BlobId, TreeId};
use cairn::repo::{OpenOptions, Repository, SnapshotFilter};
use cairn::storage::local::LocalStorage;

use crate::util::copy_dir;

const SPEC: &str = "format-spec/golden.md";
/// The fenced block after this marker is the listing.
const MARKER: &str = "<!-- golden-listing";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The listing block of the spec, as it is written.
fn spec_listing() -> String {
    let text = std::fs::read_to_string(root().join(SPEC)).unwrap();
    let after = &text[text.find(MARKER).expect("listing marker in the spec")..];
    let start = after.find("```").expect("listing block") + 3;
    let body = &after[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("```").expect("end of listing block")].to_string()
}

/// Lines as token lists: blank lines and `#` comments dropped, so the spec
/// may align columns freely.
fn tokens(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

/// The password the spec gives: `password "..."`.
fn spec_password(listing: &str) -> String {
    let line = listing
        .lines()
        .find(|l| l.trim_start().starts_with("password"))
        .expect("a password line");
    let q = line.find('"').unwrap();
    let rest = &line[q + 1..];
    rest[..rest.find('"').unwrap()].to_string()
}

fn time(t: Timestamp) -> String {
    format!("{}.{:09}", t.secs, t.nanos)
}

fn meta_columns(m: &Meta) -> String {
    let user = if m.user.is_empty() { "-" } else { &m.user };
    let group = if m.group.is_empty() { "-" } else { &m.group };
    format!(
        "{:o} {}:{} {user}:{group} {}",
        m.mode,
        m.uid,
        m.gid,
        time(m.mtime)
    )
}

/// One line per node, depth-first in tree order.
fn walk(repo: &Repository, tree: &TreeId, dir: &str, out: &mut String) {
    for node in repo.load_tree(tree).unwrap().nodes {
        let path = format!("{dir}/{}", String::from_utf8(node.name).unwrap());
        let meta = meta_columns(&node.meta);
        match node.kind {
            NodeKind::Dir { subtree } => {
                out.push_str(&format!("dir  {meta} - - - {path}\n"));
                walk(repo, &subtree, &path, out);
            }
            NodeKind::File { size, content } => {
                let mut hasher = blake3::Hasher::new();
                let mut sizes = Vec::new();
                for c in &content {
                    let data = repo.read_blob(BlobKind::Data, &BlobId::from(*c)).unwrap();
                    sizes.push(data.len().to_string());
                    hasher.update(&data);
                }
                let sizes = if sizes.is_empty() {
                    "-".to_string()
                } else {
                    sizes.join(",")
                };
                let hash = hasher.finalize().to_hex();
                out.push_str(&format!("file {meta} {size} {sizes} {hash} {path}\n"));
            }
            NodeKind::Symlink { target } => {
                let target = String::from_utf8(target).unwrap();
                out.push_str(&format!("link {meta} - - ->{target} {path}\n"));
            }
            other => panic!("the golden repository holds no {other:?}"),
        }
    }
}

/// The listing as the repository has it, in the spec's format.
fn real_listing(repo_dir: &Path, cache: &Path, password: &str) -> String {
    let storage = Arc::new(LocalStorage::new(repo_dir.to_path_buf()));
    let open = OpenOptions {
        cache_dir: Some(cache.to_path_buf()),
        ..Default::default()
    };
    let repo = Repository::open(storage, password.as_bytes(), open)
        .unwrap_or_else(|e| panic!("{SPEC}: the password does not open the repository: {e}"));
    let snaps = repo.snapshots(&SnapshotFilter::default()).unwrap();
    assert_eq!(snaps.len(), 1, "the golden repository holds one snapshot");
    let (id, s) = (&snaps[0].id, &snaps[0].snapshot);
    let c = repo.config();
    let mut out = format!(
        "password \"{password}\"\n\
         snapshot {id}\n\
         time {} {}\n\
         host {}\n\
         paths {}\n\
         tree {}\n\
         chunker {} {} {}\n\
         pack_size {}\n\
         compression {}\n",
        time(s.time),
        s.utc_offset_secs,
        s.host,
        s.paths.join(" "),
        s.tree,
        c.chunker.min_size,
        c.chunker.avg_size,
        c.chunker.max_size,
        c.pack_size,
        c.compression.map_or("none".to_string(), |l| l.to_string()),
    );
    objects(&repo, &mut out);
    walk(&repo, &s.tree, "", &mut out);
    out
}

/// The key file's KDF parameters, then every index file and the packs it
/// lists (kind, size, number of blobs).
fn objects(repo: &Repository, out: &mut String) {
    for info in repo.storage().list(layout::KEYS_PREFIX).unwrap() {
        let kf = KeyFile::decode(&repo.storage().get(&info.key).unwrap()).unwrap();
        let k = kf.kdf;
        let name = info.key.rsplit('/').next().unwrap();
        out.push_str(&format!(
            "key {name} {} {} {}\n",
            k.memory_kib, k.iterations, k.parallelism
        ));
    }
    for id in repo.index_ids().unwrap() {
        out.push_str(&format!("index {id}\n"));
        for p in repo.load_index_file(&id).unwrap().packs {
            let kind = match p.kind {
                BlobKind::Data => "data",
                BlobKind::Tree => "tree",
            };
            out.push_str(&format!(
                "pack {} {kind} {} {}\n",
                p.id,
                p.size,
                p.blobs.len()
            ));
        }
    }
}

#[test]
fn spec_listing_matches_the_golden_repository() {
    let listing = spec_listing();
    let password = spec_password(&listing);
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("repo");
    copy_dir(&root().join("tests/golden/repo"), &copy);
    let real = real_listing(&copy, &tmp.path().join("cache"), &password);
    assert!(
        tokens(&listing) == tokens(&real),
        "{SPEC} does not describe tests/golden/repo; the repository says:\n{real}"
    );
}
