//! Micro-benchmarks of each pipeline stage in isolation (chunk, id, compress,
//! seal, pack, index lookup), so a regression can be pinned to one stage.
//! Sample counts and times are small: the whole run takes a few minutes, most
//! of it building the 10M-entry index cache (`cargo bench --bench micro -- pack`
//! runs one group).

use std::hint::black_box;
use std::time::Duration;

use cairn::chunker::Chunker;
use cairn::crypto::{Keys, MasterKey};
use cairn::format::config::ChunkerParams;
use cairn::format::envelope::{self, ObjectType};
use cairn::format::index::BlobKind;
use cairn::format::index::{BlobEntry, IndexFile, PackEntry};
use cairn::format::pack::{seal_blob, PackBuilder};
use cairn::ids::{BlobId, IndexId, PackId};
use cairn::repo::IndexCache;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

const MIB: usize = 1024 * 1024;

fn keys() -> Keys {
    MasterKey::from_bytes([42; 32]).derive()
}

/// Incompressible bytes: the BLAKE3 XOF of `seed`.
fn random(seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(seed)
        .finalize_xof()
        .fill(&mut out);
    out
}

/// Text-like bytes: words from a small vocabulary in pseudo-random order,
/// which zstd compresses a few times over, like source code or logs.
fn text(len: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "the",
        "backup",
        "chunk",
        "pack",
        "index",
        "snapshot",
        "tree",
        "blob",
        "error",
        "let",
        "fn",
        "return",
        "if",
        "else",
        "2026-11-22",
        "INFO",
        "WARN",
        "user",
        "file",
        "=",
        "{",
        "}",
        "(",
        ")",
        ";",
        "\n",
    ];
    let picks = random(b"text", len);
    let mut out = Vec::with_capacity(len + 16);
    for b in picks {
        if out.len() >= len {
            break;
        }
        out.extend_from_slice(WORDS[b as usize % WORDS.len()].as_bytes());
        out.push(b' ');
    }
    out.truncate(len);
    out
}

fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
    bytes: usize,
) -> BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Bytes(bytes as u64));
    g
}

fn chunker(c: &mut Criterion) {
    let keys = keys();
    let chunker = Chunker::new(ChunkerParams::default(), keys.gear()).expect("default params");
    let data = random(b"chunker", 64 * MIB);
    let mut g = group(c, "chunker", data.len());
    g.bench_function("cuts_64MiB", |b| {
        b.iter(|| chunker.cuts(black_box(&data)).count())
    });
    let mut buf = Vec::new();
    g.bench_function("chunk_reader_64MiB", |b| {
        b.iter(|| {
            chunker
                .chunk_reader(black_box(&data[..]), &mut buf, |c| {
                    black_box(c);
                    Ok(())
                })
                .expect("in-memory reader")
        })
    });
    g.finish();
}

fn blob_id(c: &mut Criterion) {
    let keys = keys();
    let data = random(b"id", MIB);
    let mut g = group(c, "blob_id", data.len());
    g.bench_function("keyed_blake3_1MiB", |b| {
        b.iter(|| keys.blob_id(black_box(&data)))
    });
    g.finish();
}

fn zstd3(c: &mut Criterion) {
    let mut z = zstd::bulk::Compressor::new(3).expect("zstd level 3");
    let mut g = group(c, "zstd3", MIB);
    for (name, data) in [("text_1MiB", text(MIB)), ("random_1MiB", random(b"z", MIB))] {
        g.bench_function(name, |b| {
            b.iter(|| z.compress(black_box(&data)).expect("zstd compress"))
        });
    }
    g.finish();
}

fn aead(c: &mut Criterion) {
    let keys = keys();
    let data = random(b"aead", MIB);
    let sealed = keys.seal(&data, b"ad");
    let mut g = group(c, "xchacha20poly1305", MIB);
    g.bench_function("seal_1MiB", |b| {
        b.iter(|| keys.seal(black_box(&data), b"ad"))
    });
    g.bench_function("open_1MiB", |b| {
        b.iter(|| keys.open(black_box(&sealed), b"ad", "bench").expect("open"))
    });
    g.finish();
}

fn envelope_seal(c: &mut Criterion) {
    let keys = keys();
    let data = text(MIB);
    let id = keys.blob_id(&data);
    let mut g = group(c, "envelope", MIB);
    g.bench_function("seal_zstd3_text_1MiB", |b| {
        b.iter(|| {
            envelope::seal(
                &keys,
                ObjectType::DataBlob,
                Some(&id),
                black_box(&data),
                Some(3),
            )
        })
    });
    g.finish();
}

fn pack(c: &mut Criterion) {
    let keys = keys();
    let blobs: Vec<(BlobId, Vec<u8>)> = (0u8..16)
        .map(|i| {
            let plain = random(&[i], MIB);
            let id = BlobId(keys.blob_id(&plain));
            let sealed = seal_blob(&keys, BlobKind::Data, &id, &plain, None);
            (id, sealed)
        })
        .collect();
    let total: usize = blobs.iter().map(|(_, s)| s.len()).sum();
    let mut g = group(c, "pack", total);
    g.bench_function("build_16x1MiB", |b| {
        b.iter(|| {
            let mut p = PackBuilder::new(BlobKind::Data, total + 4096);
            for (id, sealed) in &blobs {
                p.add(*id, sealed, MIB as u32).unwrap();
            }
            p.finish(&keys).unwrap()
        })
    });
    g.finish();
}

/// A synthetic id: the BLAKE3 of a counter and a tag, so ids are spread like real ones.
fn synthetic_id(tag: &[u8], n: u64) -> [u8; 32] {
    *blake3::Hasher::new()
        .update(tag)
        .update(&n.to_le_bytes())
        .finalize()
        .as_bytes()
}

/// An on-disk index cache holding `blobs` data blobs, 32 to a pack, loaded in
/// index files of 1,024 packs like a repository's.
fn synthetic_cache(dir: &std::path::Path, blobs: u64) -> IndexCache {
    const PER_PACK: u64 = 32;
    const PACKS_PER_FILE: u64 = 1024;
    let mut cache = IndexCache::open(&dir.join("index.sqlite")).expect("open cache");
    let packs = blobs.div_ceil(PER_PACK);
    for first in (0..packs).step_by(PACKS_PER_FILE as usize) {
        let packs = (first..(first + PACKS_PER_FILE).min(packs))
            .map(|p| PackEntry {
                id: PackId(synthetic_id(b"pack", p)),
                kind: BlobKind::Data,
                size: 16 << 20,
                blobs: (0..PER_PACK)
                    .map(|i| BlobEntry {
                        id: BlobId(synthetic_id(b"blob", p * PER_PACK + i)),
                        offset: (i * 500_000) as u32,
                        length: 500_000,
                        raw_length: 1_000_000,
                    })
                    .collect(),
            })
            .collect();
        let file = IndexFile {
            packs,
            ..Default::default()
        };
        let id = IndexId(synthetic_id(b"index", first));
        cache.add_index_files(&[(id, file)]).expect("fill cache");
    }
    cache
}

/// Dedup and restore ask the index cache one blob at a time; this is the cost
/// of each question at 1M and 10M indexed blobs (hits and misses), which must
/// stay flat as a repository grows. Building the 10M cache takes a minute or two.
fn index_lookup(c: &mut Criterion) {
    // `cargo test --all-targets` runs every benchmark once as a smoke test
    // (without `--bench`): a 10,000-entry cache proves the code path there.
    let sizes: &[(&str, u64)] = if std::env::args().any(|a| a == "--bench") {
        &[("1M", 1_000_000), ("10M", 10_000_000)]
    } else {
        &[("10k", 10_000)]
    };
    for &(name, blobs) in sizes {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = synthetic_cache(dir.path(), blobs);
        let mut g = c.benchmark_group(format!("index_lookup_{name}"));
        g.sample_size(20)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3))
            .throughput(Throughput::Elements(1));
        let mut n = 0u64;
        g.bench_function("hit", |b| {
            b.iter(|| {
                n = (n + 7_919) % blobs;
                let id = BlobId(synthetic_id(b"blob", n));
                black_box(cache.lookup(BlobKind::Data, &id).expect("lookup"))
            })
        });
        g.bench_function("miss", |b| {
            b.iter(|| {
                n += 1;
                let id = BlobId(synthetic_id(b"absent", n));
                black_box(cache.contains(BlobKind::Data, &id).expect("lookup"))
            })
        });
        g.finish();
    }
}

criterion_group!(
    benches,
    chunker,
    blob_id,
    zstd3,
    aead,
    envelope_seal,
    pack,
    index_lookup
);
criterion_main!(benches);
