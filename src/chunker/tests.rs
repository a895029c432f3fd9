//! Golden vectors (so a `fastcdc` upgrade cannot move boundaries silently),
//! a differential test against the crate's own chunker, and properties of
//! the streaming path.

use std::io::{self, Read};

use proptest::prelude::*;

use super::*;
use crate::crypto::MasterKey;
use crate::error::ErrorKind;

fn params(min_size: u32, avg_size: u32, max_size: u32) -> ChunkerParams {
    ChunkerParams {
        min_size,
        avg_size,
        max_size,
    }
}

fn small() -> ChunkerParams {
    params(2 * 1024, 8 * 1024, 64 * 1024)
}

fn golden_gear() -> Box<[u64; 256]> {
    Box::new(*MasterKey::from_bytes([42; 32]).derive().gear())
}

/// Deterministic pseudo-random bytes: the BLAKE3 XOF of `seed`.
fn pseudo_random(seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(seed)
        .finalize_xof()
        .fill(&mut out);
    out
}

fn cut_ends(chunker: &Chunker, data: &[u8]) -> Vec<usize> {
    chunker.cuts(data).map(|r| r.end).collect()
}

/// BLAKE3 of the cut list, each end offset as u64 LE.
fn digest(ends: &[usize]) -> String {
    let mut h = blake3::Hasher::new();
    for e in ends {
        h.update(&(*e as u64).to_le_bytes());
    }
    h.finalize().to_hex().to_string()
}

/// Checks `ranges` tile `data` and respect the size limits.
fn assert_well_formed(p: ChunkerParams, data: &[u8], ranges: &[Range<usize>]) {
    let mut pos = 0;
    for (i, r) in ranges.iter().enumerate() {
        assert_eq!(
            r.start, pos,
            "chunk {i} does not start where the last ended"
        );
        assert!(!r.is_empty(), "empty chunk {i}");
        assert!(r.len() <= p.max_size as usize, "chunk {i} over max");
        if i + 1 < ranges.len() {
            assert!(r.len() >= p.min_size as usize, "chunk {i} under min");
        }
        pos = r.end;
    }
    assert_eq!(pos, data.len());
}

/// Streams `data` through `chunk_reader` and returns the chunk end offsets.
fn stream_ends(chunker: &Chunker, reader: impl Read, data: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut pos = 0;
    let mut buf = Vec::new();
    let total = chunker
        .chunk_reader(reader, &mut buf, |chunk| {
            assert_eq!(chunk, &data[pos..pos + chunk.len()]);
            pos += chunk.len();
            ends.push(pos);
            Ok(())
        })
        .unwrap();
    assert_eq!(total, data.len() as u64);
    assert!(buf.len() <= 2 * chunker.max_size());
    ends
}

/// A reader that returns short reads of scripted lengths and an `EINTR`
/// before every third read, the way pipes and signals behave.
struct ShortReader<'a> {
    data: &'a [u8],
    lens: Vec<usize>,
    calls: usize,
}

impl Read for ShortReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(3) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let want = self.lens[self.calls % self.lens.len()].max(1);
        let n = want.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn golden_large_params() {
    // The cut points of 512 KiB / 1 MiB / 8 MiB (the format's first defaults).
    let chunker = Chunker::new(ChunkerParams::V1_LARGE, &golden_gear()).unwrap();
    let data = pseudo_random(b"cairn chunker golden default", 20 * 1024 * 1024);
    let ends = cut_ends(&chunker, &data);
    assert_eq!(ends, GOLDEN_DEFAULT);
    assert_eq!(digest(&ends), GOLDEN_DEFAULT_DIGEST);
}

#[test]
fn golden_small_params() {
    let chunker = Chunker::new(small(), &golden_gear()).unwrap();
    let data = pseudo_random(b"cairn chunker golden small", 1024 * 1024);
    let ends = cut_ends(&chunker, &data);
    assert_eq!(ends.len(), GOLDEN_SMALL_COUNT);
    assert_eq!(&ends[..20], GOLDEN_SMALL_FIRST_20);
    assert_eq!(digest(&ends), GOLDEN_SMALL_DIGEST);
}

// Observed with fastcdc 3.2.1. If these change, every existing repository
// would stop deduplicating against new backups: treat it as a format change.
const GOLDEN_DEFAULT: &[usize] = &[
    1050761, 2888358, 4668520, 5627911, 6676081, 7240443, 8180707, 10389260, 13516773, 15633654,
    16251397, 17921630, 19047169, 20387729, 20971520,
];
const GOLDEN_DEFAULT_DIGEST: &str =
    "d6720e7e1400300d22c662f5dd9961a0823f7ec3eea28c1e643f90729b1472fd";
const GOLDEN_SMALL_COUNT: usize = 107;
const GOLDEN_SMALL_FIRST_20: &[usize] = &[
    10355, 13504, 21347, 33048, 35133, 44957, 54426, 59633, 75130, 89554, 102239, 115570, 125844,
    140995, 159090, 165637, 172853, 175843, 185231, 187567,
];
const GOLDEN_SMALL_DIGEST: &str =
    "bfb82e4395c293ceb0633ee7d51a70c7888c3d514851fbc1edd1089c9bf3850f";

#[test]
fn matches_the_crate_with_its_own_table() {
    let (gear, gear_ls) = fastcdc::v2020::get_gear_with_seed(0);
    let data = pseudo_random(b"differential", 16 * 1024 * 1024 + 77);
    for p in [
        small(),
        params(4096, 16384, 65535),
        params(64, 256, 1024),
        params(1000, 3000, 9001),
        ChunkerParams::default(),
    ] {
        let ours = Chunker::new(p, &gear).unwrap();
        assert_eq!(&ours.gear_ls[..], &gear_ls[..], "left-shifted table");
        let theirs: Vec<Range<usize>> =
            fastcdc::v2020::FastCDC::new(&data, p.min_size, p.avg_size, p.max_size)
                .map(|c| c.offset..c.offset + c.length)
                .collect();
        let mine: Vec<Range<usize>> = ours.cuts(&data).collect();
        assert!(mine.len() > 2, "{p:?} made too few chunks to compare");
        assert_eq!(mine, theirs, "{p:?}");
    }
}

#[test]
fn different_gear_tables_cut_differently() {
    let data = pseudo_random(b"keyed", 1024 * 1024);
    let a = Chunker::new(small(), &golden_gear()).unwrap();
    let other = MasterKey::from_bytes([43; 32]).derive();
    let b = Chunker::new(small(), other.gear()).unwrap();
    let (ea, eb) = (cut_ends(&a, &data), cut_ends(&b, &data));
    assert_ne!(ea, eb);
    // Boundaries are not just shifted: most of them differ.
    let shared = ea.iter().filter(|e| eb.contains(e)).count();
    assert!(
        shared * 4 < ea.len(),
        "{shared} of {} cuts shared",
        ea.len()
    );
}

#[test]
fn invalid_params_are_rejected() {
    let gear = golden_gear();
    for p in [
        params(8192, 8192, 65536),  // min == avg
        params(2048, 65536, 65536), // avg == max
        params(4096, 2048, 65536),  // min > avg
        params(32, 256, 1024),      // min below the crate's floor
        params(2048, 8192, 32 << 20),
        params(2048, 8 << 20, 16 << 20), // avg above the crate's ceiling
        params(0, 0, 0),
    ] {
        let err = Chunker::new(p, &gear).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{p:?}");
    }
}

#[test]
fn empty_input_has_no_chunks() {
    let chunker = Chunker::new(small(), &golden_gear()).unwrap();
    assert_eq!(chunker.next_cut(&[]), 0);
    assert_eq!(chunker.cuts(&[]).count(), 0);
    let mut calls = 0;
    let n = chunker
        .chunk_reader(io::empty(), &mut Vec::new(), |_| {
            calls += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!((n, calls), (0, 0));
}

#[test]
fn uniform_data_cuts_at_max() {
    let p = small();
    let chunker = Chunker::new(p, &golden_gear()).unwrap();
    let data = vec![0u8; 5 * p.max_size as usize + 123];
    let ranges: Vec<_> = chunker.cuts(&data).collect();
    assert_eq!(ranges.len(), 6);
    assert!(ranges[..5].iter().all(|r| r.len() == p.max_size as usize));
    assert_eq!(
        stream_ends(&chunker, &data[..], &data),
        cut_ends(&chunker, &data)
    );
}

#[test]
fn read_and_sink_errors_propagate() {
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
    }
    let chunker = Chunker::new(small(), &golden_gear()).unwrap();
    let err = chunker
        .chunk_named_reader(Broken, Path::new("/db"), &mut Vec::new(), |_| Ok(()))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.to_string().contains("/db"), "{err}");

    let data = pseudo_random(b"sink", 100_000);
    let err = chunker
        .chunk_reader(&data[..], &mut Vec::new(), |_| {
            Err(Error::Internal("full".into()))
        })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
}

#[test]
fn chunker_is_shareable() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Chunker>();
    let c = Chunker::new(small(), &golden_gear()).unwrap();
    assert!(!format!("{c:?}").contains(&c.gear[0].to_string()));
}

/// Pseudo-random data with optional runs of zeros (which force max-size cuts).
fn test_data(seed: u64, len: usize, zero_runs: &[(usize, usize)]) -> Vec<u8> {
    let mut data = pseudo_random(&seed.to_le_bytes(), len);
    for &(at, run) in zero_runs {
        let at = at.min(len);
        let end = (at + run).min(len);
        data[at..end].fill(0);
    }
    data
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn streaming_equals_whole_buffer(
        seed: u64,
        len in 0usize..400_000,
        zero_runs in proptest::collection::vec((0usize..400_000, 0usize..150_000), 0..3),
        lens in proptest::collection::vec(1usize..20_000, 1..8),
        which in 0usize..3,
    ) {
        let p = [small(), params(64, 256, 1024), params(1000, 3000, 9001)][which];
        let chunker = Chunker::new(p, &golden_gear()).unwrap();
        let data = test_data(seed, len, &zero_runs);
        let ranges: Vec<_> = chunker.cuts(&data).collect();
        assert_well_formed(p, &data, &ranges);
        let whole: Vec<usize> = ranges.iter().map(|r| r.end).collect();
        let reader = ShortReader { data: &data, lens, calls: 0 };
        prop_assert_eq!(stream_ends(&chunker, reader, &data), whole);
    }
}
