//! Hostile-input tests for every decoder: thousands of random byte strings
//! and mutations of valid encodings (bit flips, truncation, insertions, huge
//! varint lengths). A decoder may only return `Ok` or `Err`: a panic fails the
//! test, and so does a slow call or a large allocation.
//!
//! Large allocations are caught by a counting global allocator that records,
//! per thread, the largest single request. It only observes; every request is
//! served by the system allocator unchanged.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::crypto::{KdfParams, Keys, MasterKey};
use crate::format::config::Config;
use crate::format::envelope::{self, ObjectType};
use crate::format::index::{BlobKind, IndexFile};
use crate::format::keyfile::KeyFile;
use crate::format::pack::{self, PackBuilder, PackHeader};
use crate::format::snapshot::Snapshot;
use crate::format::tree::{Meta, Node, NodeKind, Tree};
use crate::ids::{BlobId, ChunkId, TreeId};

struct LargestAlloc;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // `try_with`: allocations during thread teardown must not panic.
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

unsafe impl GlobalAlloc for LargestAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: LargestAlloc = LargestAlloc;

/// No decoder call may take longer than this, even unoptimized.
const SLOW: Duration = Duration::from_millis(500);
/// No decoder call may allocate more than this in one piece for inputs of a
/// few KiB: postcard caps its size hints, the envelope caps decompression.
const BIG: usize = 4 << 20;

fn keys() -> Keys {
    MasterKey::from_bytes([42; 32]).derive()
}

/// Runs `f` on `input`, failing on slowness or a large allocation.
fn check<T>(name: &str, input: &[u8], f: impl FnOnce(&[u8]) -> T) -> T {
    LARGEST.with(|l| l.set(0));
    let start = Instant::now();
    let out = f(input);
    let took = start.elapsed();
    let largest = LARGEST.with(|l| l.get());
    assert!(took < SLOW, "{name}: {took:?} on {}", hex::encode(input));
    assert!(largest < BIG, "{name}: allocated {largest} bytes at once");
    out
}

/// One random mutation of `seed`.
fn mutate(rng: &mut StdRng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    let pos = |rng: &mut StdRng, b: &[u8]| rng.random_range(0..=b.len());
    match rng.random_range(0..7) {
        0 => {
            for _ in 0..rng.random_range(1..=4) {
                if !b.is_empty() {
                    let i = rng.random_range(0..b.len());
                    b[i] ^= 1 << rng.random_range(0..8);
                }
            }
        }
        1 => b.truncate(pos(rng, &b)),
        2 => {
            let i = pos(rng, &b);
            b.insert(i, rng.random());
        }
        3 => {
            if !b.is_empty() {
                let i = rng.random_range(0..b.len());
                b.remove(i);
            }
        }
        4 => {
            // A huge varint (a length or count) spliced in, replacing a byte.
            let huge: &[u8] = match rng.random_range(0..3) {
                0 => &[0xff, 0xff, 0xff, 0xff, 0x0f],
                1 => &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
                _ => &[
                    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                ],
            };
            let i = pos(rng, &b);
            let end = (i + 1).min(b.len());
            b.splice(i..end, huge.iter().copied());
        }
        5 => {
            let i = pos(rng, &b);
            let n = rng.random_range(0..=(b.len() - i).min(16));
            for x in &mut b[i..i + n] {
                *x = rng.random();
            }
        }
        _ => {
            let extra: Vec<u8> = (0..rng.random_range(1..32)).map(|_| rng.random()).collect();
            b.extend(extra);
        }
    }
    b
}

fn random_bytes(rng: &mut StdRng) -> Vec<u8> {
    let n = rng.random_range(0..600);
    (0..n).map(|_| rng.random()).collect()
}

/// A tree with one node of every kind, so mutations reach every variant.
fn rich_tree() -> Tree {
    let kinds = [
        NodeKind::File {
            size: 10,
            content: vec![ChunkId([1; 32]), ChunkId([2; 32])],
        },
        NodeKind::Dir {
            subtree: TreeId([3; 32]),
        },
        NodeKind::Symlink {
            target: b"../x".to_vec(),
        },
        NodeKind::BlockDevice { rdev: 7 },
        NodeKind::CharDevice { rdev: 8 },
        NodeKind::Fifo,
        NodeKind::Socket,
    ];
    let mut t = crate::format::tree::tests::symlink_tree();
    let meta = Meta {
        xattrs: vec![crate::format::tree::Xattr {
            name: b"user.k".to_vec(),
            value: b"v".to_vec(),
        }],
        ..t.nodes[0].meta.clone()
    };
    for (i, kind) in kinds.into_iter().enumerate() {
        t.nodes.push(Node {
            name: format!("n{i}").into_bytes(),
            kind,
            meta: meta.clone(),
        });
    }
    t.sort();
    t
}

/// Iterations per seed; each iteration feeds one mutation and one random string.
const ROUNDS: usize = 1500;

/// Feeds `decode` random strings and mutations of every seed.
fn hammer<T>(name: &str, seeds: &[Vec<u8>], mut decode: impl FnMut(&[u8]) -> T) {
    let mut rng = StdRng::seed_from_u64(0xca1e_0000 + name.len() as u64);
    for seed in seeds {
        check(name, seed, &mut decode);
        for _ in 0..ROUNDS {
            let m = mutate(&mut rng, seed);
            check(name, &m, &mut decode);
            let r = random_bytes(&mut rng);
            check(name, &r, &mut decode);
        }
    }
}

#[test]
fn tree_decode_survives_hostile_input() {
    let seeds = [
        rich_tree().encode(),
        crate::format::tree::tests::symlink_tree().encode(),
    ];
    assert!(Tree::decode(&seeds[0]).is_ok());
    hammer("tree", &seeds, Tree::decode);
}

#[test]
fn snapshot_decode_survives_hostile_input() {
    let seeds = [crate::format::snapshot::tests::sample().encode()];
    hammer("snapshot", &seeds, Snapshot::decode);
}

#[test]
fn policy_decode_survives_hostile_input() {
    use crate::format::policy::Policy;
    let seeds = [crate::format::policy::tests::sample().encode()];
    assert!(Policy::decode(&seeds[0]).is_ok());
    hammer("policy", &seeds, Policy::decode);
    // Mutated bodies under a valid seal reach the decoder behind the AEAD.
    let k = keys();
    hammer("sealed policy", &seeds, |b| {
        Policy::open(&k, &envelope::seal(&k, ObjectType::Policy, None, b, None))
    });
}

#[test]
fn index_decode_survives_hostile_input() {
    let mut ix = crate::format::index::tests::sample();
    ix.packs.push(ix.packs[0].clone());
    ix.packs[1].kind = BlobKind::Data;
    let seeds = [ix.encode()];
    hammer("index", &seeds, IndexFile::decode);
}

#[test]
fn keyfile_decode_survives_hostile_input() {
    let seeds = [hex::decode(crate::format::keyfile::tests::GOLDEN_HEX).unwrap()];
    // Decoding never runs the KDF, so even accepted mutations are cheap.
    hammer("key file", &seeds, KeyFile::decode);
    let kf = KeyFile::decode(&seeds[0]).unwrap();
    assert_eq!(kf.kdf, KdfParams::insecure_for_tests());
}

#[test]
fn config_survives_hostile_input() {
    let k = keys();
    let cfg = Config {
        repo_id: vec![1; 16],
        version: 1,
        chunker: Default::default(),
        pack_size: 16 << 20,
        compression: Some(3),
        lock: None,
        chunking: None,
    };
    let v3 = Config {
        version: crate::format::SHARED_CHUNKING_VERSION,
        chunking: Some(
            crate::crypto::MasterKey::from_bytes([9; 32])
                .derive()
                .chunking_keys(),
        ),
        ..cfg.clone()
    };
    let seeds = [cfg.encode(&k), v3.encode(&k)];
    hammer("config peek", &seeds, Config::peek_version);
    hammer("config", &seeds, |b| Config::decode(b, &k));
    // Mutated bodies under a valid seal reach the postcard decoder and checks.
    let body = postcard::to_allocvec(&cfg).unwrap();
    hammer("config body", &[body], |b| {
        let mut bytes = seeds[0][..12].to_vec();
        bytes.extend(envelope::seal(&k, ObjectType::Config, None, b, None));
        Config::decode(&bytes, &k)
    });
}

fn sample_pack(k: &Keys) -> Vec<u8> {
    let mut b = PackBuilder::new(BlobKind::Data, 0);
    for n in [10usize, 0, 300] {
        let plain = vec![n as u8; n];
        let id = BlobId(k.blob_id(&plain));
        b.add(
            id,
            &pack::seal_blob(k, BlobKind::Data, &id, &plain, None),
            n as u32,
        )
        .unwrap();
    }
    b.finish(k).unwrap().0
}

#[test]
fn pack_parsing_survives_hostile_input() {
    let k = keys();
    let packed = sample_pack(&k);
    let trailer = packed[packed.len() - pack::TRAILER_LEN..].to_vec();
    hammer("pack trailer", &[trailer], |t| {
        pack::header_length(t, packed.len() as u64)
    });
    hammer("pack", std::slice::from_ref(&packed), |p| {
        pack::parse(&k, p)
    });
    // Mutated header plaintexts under a valid seal reach postcard and the
    // bounds checks, which an attacker without the key never could.
    let header: PackHeader = pack::parse(&k, &packed).unwrap();
    let plain = postcard::to_allocvec(&header).unwrap();
    hammer("pack header", &[plain], |h| {
        let sealed = envelope::seal(&k, ObjectType::PackHeader, None, h, None);
        pack::decode_header(&k, &sealed, 400)
    });
}

#[test]
fn huge_declared_lengths_fail_fast_and_small() {
    let k = keys();
    // A count or length of ~2^64 or 2^32 at the front of each encoding.
    let huge: [&[u8]; 3] = [
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        &[0xff, 0xff, 0xff, 0xff, 0x0f],
        &[0xff, 0xff, 0xff, 0x7f],
    ];
    for h in huge {
        let mut v = h.to_vec();
        v.extend_from_slice(&[0u8; 64]);
        assert!(check("tree", &v, Tree::decode).is_err());
        assert!(check("index", &v, IndexFile::decode).is_err());
        let mut kf = crate::format::keyfile::MAGIC.to_vec();
        kf.extend_from_slice(&[64, 1, 1]);
        kf.extend_from_slice(&v);
        assert!(check("key file salt", &kf, KeyFile::decode).is_err());
        let sealed = envelope::seal(
            &k,
            ObjectType::PackHeader,
            None,
            &[&[0u8][..], &v].concat(),
            None,
        );
        assert!(check("pack header", &sealed, |s| pack::decode_header(
            &k,
            s,
            1 << 20
        ))
        .is_err());
    }
    // Many tiny valid elements claimed, few present: capacity stays small.
    let mut v = vec![0xff, 0xff, 0x3f]; // ~1M nodes
    v.extend(std::iter::repeat_n(0u8, 4096));
    assert!(check("tree", &v, Tree::decode).is_err());
    // The allocator probe itself works: a real 8 MiB allocation is seen.
    let seen = std::panic::catch_unwind(|| check("probe", &[], |_| vec![1u8; 8 << 20].len()));
    assert!(
        seen.is_err(),
        "the allocation probe must catch a large allocation"
    );
}

#[test]
fn audit_log_decode_survives_hostile_input() {
    let seeds = [crate::format::audit::tests::sample().encode()];
    hammer("audit log", &seeds, crate::format::audit::AuditLog::decode);
}

/// The fuzz corpus directories of a target: seeds, and crash files from
/// `cargo fuzz` (`artifacts/`) or kept by hand (`regressions/`).
fn fuzz_dirs(target: &str) -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    ["corpus", "artifacts", "regressions"]
        .iter()
        .map(|d| root.join(d).join(target))
        .collect()
}

/// Replays every committed corpus file and crash file through the same
/// entry point the fuzzers use, under the time and allocation limits.
#[test]
fn fuzz_corpus_and_crashes_replay_cleanly() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for dir in ["corpus", "artifacts", "regressions"] {
        for e in std::fs::read_dir(root.join(dir))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(
                crate::format::fuzz::TARGETS.contains(&name.as_str()),
                "fuzz/{dir}/{name} is not a fuzz target"
            );
        }
    }
    for target in crate::format::fuzz::TARGETS {
        let mut seeds = 0;
        for dir in fuzz_dirs(target) {
            for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let bytes = std::fs::read(e.path()).expect("read a corpus file");
                let label = format!("{target} {}", e.path().display());
                assert!(check(&label, &bytes, |b| crate::format::fuzz::run(
                    target, b
                )));
                seeds += 1;
            }
        }
        assert!(seeds > 0, "no corpus for fuzz target {target}");
    }
}

/// Writes the seed corpus (valid objects) under `fuzz/corpus/<target>/`.
/// Run by hand after a format change:
/// `cargo test --lib write_fuzz_seed_corpus -- --ignored`.
#[test]
#[ignore]
fn write_fuzz_seed_corpus() {
    for target in crate::format::fuzz::TARGETS {
        let dir = &fuzz_dirs(target)[0];
        std::fs::create_dir_all(dir).unwrap();
        let seeds = crate::format::fuzz::seeds(target);
        assert!(!seeds.is_empty(), "{target}");
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), s).unwrap();
        }
    }
}
