//! One entry point per fuzz target, shared by the `cargo fuzz` targets in
//! `fuzz/` and the regular test suite, which replays the committed corpus
//! and every crash file through the very same code on each run.
//!
//! Each target feeds its input to the decoders of one kind of repository
//! object. Decoders may return `Ok` or `Err`; a panic, a hang or an
//! unbounded allocation is a bug. Targets whose decoder sits behind the
//! AEAD take a mode byte: `0` feeds the rest as stored bytes (almost always
//! refused by authentication), `1` seals the rest under a fixed test key
//! first, so mutations reach the decoder behind the envelope, as only
//! someone holding the key could.

use std::sync::OnceLock;

use crate::crypto::{Keys, MasterKey};
use crate::format::audit::AuditLog;
use crate::format::bundle::{self, BundleHeader, Manifest, Trailer};
use crate::format::config::{Config, MAGIC as CONFIG_MAGIC};
use crate::format::envelope::{self, ObjectType};
use crate::format::index::IndexFile;
use crate::format::keyfile::KeyFile;
use crate::format::lock::LockRecord;
use crate::format::pack;
use crate::format::policy::Policy;
use crate::format::snapshot::Snapshot;
use crate::format::tree::Tree;

/// Every fuzz target, named as its file in `fuzz/fuzz_targets/`.
pub const TARGETS: &[&str] = &[
    "envelope", "pack", "index", "tree", "snapshot", "keyfile", "config", "audit", "lock",
    "policy", "bundle", "sealed", "idlist",
];

/// A put-only writer for the same repository (ephemeral secret `[7; 32]`),
/// whose sealed-to-public objects `keys()` opens.
pub fn put_keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let put = MasterKey::from_bytes([42; 32]).put_keys();
        Keys::put_only_with_ephemeral(&put, &[7; 32])
    })
}

/// The fixed key the targets seal and open with (master key `[42; 32]`).
pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| MasterKey::from_bytes([42; 32]).derive())
}

const TYPES: [ObjectType; 10] = [
    ObjectType::DataBlob,
    ObjectType::TreeBlob,
    ObjectType::PackHeader,
    ObjectType::Index,
    ObjectType::Snapshot,
    ObjectType::Config,
    ObjectType::Audit,
    ObjectType::Lock,
    ObjectType::Policy,
    ObjectType::Marker,
];

/// Runs `target` on `data`. Returns `false` for an unknown target name.
pub fn run(target: &str, data: &[u8]) -> bool {
    let k = keys();
    let (mode, rest) = data.split_first().map_or((0, data), |(m, r)| (*m, r));
    let sealed = |ty| envelope::seal(k, ty, None, rest, None);
    match target {
        "envelope" => {
            let ty = TYPES[mode as usize % TYPES.len()];
            let _ = envelope::open(k, ty, None, rest, None);
            let _ = envelope::open(k, ty, None, rest, Some(rest.len()));
            // A sealed body: the flag byte and the zstd frame behind it.
            let _ = envelope::open(k, ty, None, &k.seal(rest, &ad(ty)), Some(1 << 16));
        }
        "sealed" => {
            // The sealed-to-public opener: the mark, then hostile bytes
            // (ephemeral key, nonce, ciphertext, tag)...
            let ty = TYPES[mode as usize % TYPES.len()];
            let forged = [crate::crypto::SEALED_MARK.as_slice(), rest].concat();
            let _ = envelope::open(k, ty, None, &forged, None);
            // ...and a body a put-only writer sealed, reaching flag and zstd.
            let _ = envelope::open(k, ty, None, &put_keys().seal(rest, &ad(ty)), Some(1 << 16));
        }
        "idlist" => {
            use crate::format::id_list::IdList;
            let key = k.dedup_key().expect("a full key has the dedup key");
            let list = match mode {
                0 => IdList::decode(rest),
                1 => IdList::open(
                    key,
                    &envelope::seal_under(key, ObjectType::IdList, rest, None),
                ),
                _ => IdList::open(key, rest),
            };
            if let Ok(l) = list {
                let _ = l.to_cache_rows();
            }
        }
        "pack" => match mode {
            0 => {
                let _ = pack::parse(k, rest);
                if rest.len() >= pack::TRAILER_LEN {
                    let t = &rest[rest.len() - pack::TRAILER_LEN..];
                    let _ = pack::header_length(t, rest.len() as u64);
                }
            }
            _ => {
                let _ = pack::decode_header(k, &sealed(ObjectType::PackHeader), 1 << 20);
            }
        },
        "index" => {
            let _ = IndexFile::decode(data);
        }
        "tree" => {
            let _ = Tree::decode(data);
        }
        "snapshot" => {
            let _ = Snapshot::decode(data);
        }
        "keyfile" => {
            // Decoding never runs the KDF, so hostile parameters cost nothing.
            let _ = KeyFile::decode(data);
        }
        "config" => match mode {
            0 => {
                let _ = Config::peek_version(rest);
                let _ = Config::decode(rest, k);
            }
            _ => {
                let mut bytes = CONFIG_MAGIC.to_vec();
                bytes.extend_from_slice(&crate::format::FORMAT_VERSION.to_le_bytes());
                bytes.extend(sealed(ObjectType::Config));
                let _ = Config::decode(&bytes, k);
            }
        },
        "audit" => match mode {
            0 => {
                let _ = AuditLog::decode(rest);
            }
            _ => {
                let plain =
                    envelope::open(k, ObjectType::Audit, None, &sealed(ObjectType::Audit), None);
                if let Ok(p) = plain {
                    let _ = AuditLog::decode(&p);
                }
            }
        },
        "lock" => match mode {
            0 => {
                let _ = LockRecord::decode(rest);
            }
            _ => {
                let plain =
                    envelope::open(k, ObjectType::Lock, None, &sealed(ObjectType::Lock), None);
                if let Ok(p) = plain {
                    let _ = LockRecord::decode(&p);
                }
            }
        },
        "policy" => match mode {
            0 => {
                let _ = Policy::decode(rest);
            }
            _ => {
                let _ = Policy::open(k, &sealed(ObjectType::Policy));
            }
        },
        "bundle" => match mode {
            0 => {
                let _ = BundleHeader::total_len(rest);
                let _ = BundleHeader::decode(rest);
            }
            1 => {
                if rest.len() >= bundle::TRAILER_LEN {
                    let t = &rest[rest.len() - bundle::TRAILER_LEN..];
                    let _ = Trailer::decode(t, 0, rest.len() as u64);
                }
            }
            _ => {
                // Blobs claimed to fill the first `len` bytes of a file.
                let _ = Manifest::decode(rest, 0, rest.len() as u64);
            }
        },
        _ => return false,
    }
    true
}

/// The envelope's associated data for a zero id, rebuilt here so the
/// envelope target can seal arbitrary bodies (flag byte included).
fn ad(ty: ObjectType) -> [u8; 39] {
    let mut a = [0u8; 39];
    a[..5].copy_from_slice(b"cairn");
    a[5] = 1;
    a[6] = ty as u8;
    a
}

/// Valid objects for each target's seed corpus, in its input layout.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let k = keys();
    let with = |mode: u8, b: Vec<u8>| [vec![mode], b].concat();
    let snapshot = crate::format::snapshot::Snapshot {
        time: crate::format::tree::Timestamp {
            secs: 1_700_000_000,
            nanos: 0,
        },
        utc_offset_secs: 0,
        host: "h".into(),
        username: "u".into(),
        tags: vec!["t".into()],
        paths: vec!["/p".into()],
        excludes: vec![],
        parent: None,
        tree: crate::ids::TreeId([6; 32]),
        original: None,
        program: "cairn".into(),
        summary: Default::default(),
    };
    match target {
        "envelope" => vec![
            with(
                4,
                envelope::seal(k, ObjectType::Snapshot, None, &snapshot.encode(), Some(3)),
            ),
            with(3, envelope::seal(k, ObjectType::Index, None, &[0, 0], None)),
        ],
        "snapshot" => vec![snapshot.encode()],
        "idlist" => {
            let list = crate::format::id_list::IdList {
                index: crate::ids::IndexId([1; 32]),
                packs: vec![(
                    crate::ids::PackId([2; 32]),
                    vec![(
                        crate::format::index::BlobKind::Data,
                        crate::ids::BlobId([3; 32]),
                    )],
                )],
            };
            let key = k.dedup_key().expect("a full key has the dedup key");
            vec![
                with(0, list.encode()),
                with(1, list.encode()),
                with(2, list.seal(key)),
            ]
        }
        "sealed" => {
            let p = put_keys();
            let body = envelope::seal(p, ObjectType::Snapshot, None, &snapshot.encode(), Some(3));
            let index = envelope::seal(p, ObjectType::Index, None, &[0, 0], None);
            // Without the mark: the target adds it.
            let strip = |b: Vec<u8>| b[crate::crypto::SEALED_MARK.len()..].to_vec();
            vec![with(4, strip(body)), with(3, strip(index))]
        }
        _ => seeds_more(target),
    }
}

fn seeds_more(target: &str) -> Vec<Vec<u8>> {
    use crate::format::index::{BlobEntry, BlobKind, PackEntry};
    use crate::format::tree::{Meta, Node, NodeKind};
    use crate::ids::{BlobId, ChunkId, IndexId, PackId, TreeId};
    let k = keys();
    let with = |mode: u8, b: Vec<u8>| [vec![mode], b].concat();
    match target {
        "pack" => {
            let mut b = pack::PackBuilder::new(BlobKind::Data, 0);
            for n in [10usize, 300] {
                let plain = vec![n as u8; n];
                let id = BlobId(k.blob_id(&plain));
                let sealed = pack::seal_blob(k, BlobKind::Data, &id, &plain, None);
                if b.add(id, &sealed, n as u32).is_err() {
                    return Vec::new();
                }
            }
            let Ok((bytes, _)) = b.finish(k) else {
                return Vec::new();
            };
            let header = pack::parse(k, &bytes).map(|h| postcard::to_allocvec(&h));
            let mut v = vec![with(0, bytes)];
            if let Ok(Ok(h)) = header {
                v.push(with(1, h));
            }
            v
        }
        "index" => vec![IndexFile {
            supersedes: vec![IndexId([2; 32])],
            condemned: vec![crate::format::index::CondemnedPack {
                id: PackId([5; 32]),
                since: 1_700_000_000,
            }],
            packs: vec![PackEntry {
                id: PackId([3; 32]),
                kind: BlobKind::Tree,
                size: 300,
                blobs: vec![BlobEntry {
                    id: BlobId([4; 32]),
                    offset: 0,
                    length: 200,
                    raw_length: 1000,
                }],
            }],
        }
        .encode()],
        "tree" => {
            let meta = Meta {
                mode: 0o100644,
                user: "u".into(),
                ..Default::default()
            };
            let node = |name: &str, kind| Node {
                name: name.as_bytes().to_vec(),
                kind,
                meta: meta.clone(),
            };
            vec![Tree {
                nodes: vec![
                    node(
                        "a",
                        NodeKind::File {
                            size: 3,
                            content: vec![ChunkId([1; 32])],
                        },
                    ),
                    node(
                        "d",
                        NodeKind::Dir {
                            subtree: TreeId([2; 32]),
                        },
                    ),
                    node(
                        "l",
                        NodeKind::Symlink {
                            target: b"a".to_vec(),
                        },
                    ),
                ],
            }
            .encode()]
        }
        "keyfile" => KeyFile::create(
            &MasterKey::from_bytes([42; 32]),
            b"pw",
            crate::crypto::KdfParams::insecure_for_tests(),
            Default::default(),
            "h".into(),
            "u".into(),
        )
        .map(|kf| vec![kf.encode()])
        .unwrap_or_default(),
        "config" => {
            let cfg = Config {
                repo_id: vec![1; 16],
                version: crate::format::FORMAT_VERSION,
                chunker: Default::default(),
                pack_size: 16 << 20,
                compression: Some(3),
                lock: None,
                chunking: None,
            };
            let body = postcard::to_allocvec(&cfg).unwrap_or_default();
            vec![with(0, cfg.encode(k)), with(1, body)]
        }
        "audit" => {
            let log = AuditLog {
                supersedes: vec![crate::format::audit::AuditId([1; 32])],
                time: Default::default(),
                host: "h".into(),
                records: vec![crate::format::audit::AuditRecord {
                    pack: PackId([2; 32]),
                    time: Default::default(),
                    result: crate::format::audit::AuditResult::Ok,
                }],
            };
            vec![with(0, log.encode()), with(1, log.encode())]
        }
        "lock" => {
            let record = LockRecord {
                generation: 3,
                state: crate::format::lock::LockState::Held,
                operation: "prune".into(),
                host: "h".into(),
                pid: 42,
                time: 1_700_000_000,
                expires: 1_700_000_900,
                token: [7; 16],
                start_time: Some(99),
            };
            vec![with(0, record.encode()), with(1, record.encode())]
        }
        "policy" => {
            let policy = Policy {
                daily: 7,
                weekly: 4,
                monthly: 12,
                tags: vec!["prod".into()],
                min: 2,
                ..Policy::default()
            };
            vec![with(0, policy.encode()), with(1, policy.encode())]
        }
        "bundle" => {
            let header = BundleHeader {
                version: bundle::BUNDLE_VERSION,
                kdf: crate::crypto::KdfParams::insecure_for_tests(),
                salt: vec![7; bundle::SALT_LEN],
            };
            let trailer = Trailer {
                manifest_offset: 40,
                manifest_length: 8,
            };
            let manifest = Manifest {
                header_hash: [1; 32],
                created: Default::default(),
                source_repo_id: vec![2; 16],
                id_key_check: [3; 32],
                snapshots: Vec::new(),
                blobs: vec![bundle::BundleBlob {
                    kind: BlobKind::Data,
                    id: BlobId([4; 32]),
                    offset: 0,
                    length: 100,
                    raw_length: 80,
                    checksum: [5; 32],
                }],
            };
            let trailer_file = [vec![0; 48], trailer.encode().to_vec()].concat();
            vec![
                with(0, header.encode()),
                with(1, trailer_file),
                with(2, manifest.encode()),
            ]
        }
        _ => Vec::new(),
    }
}
