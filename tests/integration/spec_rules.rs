//! Behaviour `format-spec/` states as cairn's, pinned so the spec and the
//! code cannot part ways unnoticed: what may follow a zstd frame (03),
//! timestamps before 1970 and `nanos` past a second (06), and which paths
//! and tree a backup of a relative path records (06, 07).

use cairn::backup::{backup, BackupOptions};
use cairn::crypto::MasterKey;
use cairn::format::envelope::{open, ObjectType};
use cairn::format::tree::{Meta, Node, NodeKind, Timestamp, Tree};
use cairn::progress::NoProgress;
use cairn::repo::SnapshotFilter;

use crate::damage::library_repo;
use crate::util::*;

/// Opens a data blob whose envelope body is flag 0x01 and `payload`, with
/// the plaintext length known (`Some`, as for blobs) and unknown (`None`).
fn open_payload(payload: &[u8], len: usize) -> [Result<usize, String>; 2] {
    let keys = MasterKey::from_bytes([42; 32]).derive();
    let id = [9u8; 32];
    let mut ad = b"cairn\x01\x00".to_vec();
    ad.extend_from_slice(&id);
    let body = [&[1u8][..], payload].concat();
    let sealed = keys.seal(&body, &ad);
    [Some(len), None].map(|n| {
        open(&keys, ObjectType::DataBlob, Some(&id), &sealed, n)
            .map(|p| p.len())
            .map_err(|e| e.to_string())
    })
}

#[test]
fn zstd_payload_is_whole_frames_and_nothing_else() {
    let plain = b"cairn cairn cairn cairn cairn cairn".to_vec();
    let n = plain.len();
    let frame = zstd::bulk::compress(&plain, 3).unwrap();
    // Magic 0x184D2A50, 4 bytes of user data.
    let skippable = [0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4];
    let ok = |payload: Vec<u8>, len: usize| {
        assert_eq!(open_payload(&payload, len), [Ok(len), Ok(len)]);
    };
    ok(frame.clone(), n);
    ok([frame.clone(), frame.clone()].concat(), 2 * n);
    ok([frame.clone(), skippable.to_vec()].concat(), n);
    for junk in [&b"xyz"[..], &[0, 0, 0, 0], &[0x28]] {
        let got = open_payload(&[frame.clone(), junk.to_vec()].concat(), n);
        assert!(got.iter().all(Result::is_err), "{junk:?}: {got:?}");
    }
}

#[test]
fn nanos_past_a_second_decode_unchanged() {
    let odd = Timestamp {
        secs: -1,
        nanos: 1_500_000_000,
    };
    let tree = Tree {
        nodes: vec![Node {
            name: b"f".to_vec(),
            kind: NodeKind::Fifo,
            meta: Meta {
                mtime: odd,
                ..Default::default()
            },
        }],
    };
    let back = Tree::decode(&tree.encode()).expect("a version-1 reader does not refuse it");
    assert_eq!(back.nodes[0].meta.mtime, odd);
}

#[test]
fn relative_path_and_time_before_1970_as_the_spec_says() {
    let tmp = tempfile::tempdir().unwrap();
    let base = std::fs::canonicalize(tmp.path()).unwrap();
    let src = base.join("src");
    write(&src.join("old"), b"before the epoch");
    // 0.25 s before 1970: secs -1, nanos 750 000 000 (POSIX timespec).
    let t = filetime::FileTime::from_unix_time(-1, 750_000_000);
    filetime::set_file_mtime(src.join("old"), t).unwrap();
    let repo = library_repo(&base);
    let cwd = std::env::current_dir().unwrap();
    let rel = pathdiff(&src, &cwd);
    let mut source = fs_source(vec![rel]);
    backup(&repo, &mut source, &BackupOptions::default(), &NoProgress).unwrap();
    let snap = repo
        .find_snapshot("latest", &SnapshotFilter::default())
        .unwrap()
        .snapshot;
    // `paths` holds the absolute path, however it was given.
    assert_eq!(snap.paths, vec![src.to_string_lossy().into_owned()]);
    // The root tree is `/`: one node per component down to `src`.
    let mut tree = repo.load_tree(&snap.tree).unwrap();
    for comp in src.components().skip(1) {
        assert_eq!(tree.nodes.len(), 1, "an ancestor lists only the way down");
        let node = &tree.nodes[0];
        assert_eq!(node.name, comp.as_os_str().as_encoded_bytes());
        let NodeKind::Dir { subtree } = &node.kind else {
            panic!("{comp:?} is not a directory node");
        };
        tree = repo.load_tree(subtree).unwrap();
    }
    assert_eq!(
        tree.nodes[0].meta.mtime,
        Timestamp {
            secs: -1,
            nanos: 750_000_000
        }
    );
}

/// `to` relative to `from` (both absolute), with `..` as needed.
fn pathdiff(to: &std::path::Path, from: &std::path::Path) -> std::path::PathBuf {
    let (to, from): (Vec<_>, Vec<_>) = (to.components().collect(), from.components().collect());
    let common = to.iter().zip(&from).take_while(|(a, b)| a == b).count();
    let mut out = std::path::PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c);
    }
    out
}
