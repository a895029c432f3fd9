//! Measures, on one thread and on the real data, what each stage of a
//! perfect backup pipeline costs for a directory: read from the page cache,
//! FastCDC cut points, keyed BLAKE3 ids, zstd at a given level with the
//! library's default parameters, and the AEAD over the compressed bytes.
//! `benches/compare.sh` uses it for the "limits" section of its report: the
//! criterion rates on synthetic text say little about a corpus of binaries,
//! databases and random data, so the bound is computed from this corpus.
//!
//! The last stage, `envelope`, is cairn's own compress-and-seal of each
//! chunk (its tuned zstd encoder and the AEAD), for the stricter bound of a
//! perfect pipeline doing exactly what cairn's stages do.
//!
//! No pipeline, no bookkeeping, no output: only the stage costs. Usage:
//!
//! ```text
//! cargo run --release --example pipeline_limits -- DIR [ZSTD_LEVEL]
//! ```
//!
//! Prints one `stage<TAB>bytes<TAB>seconds` line per stage.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cairn::chunker::Chunker;
use cairn::crypto::{MasterKey, NONCE_LEN};
use cairn::format::config::ChunkerParams;
use cairn::format::envelope::{self, ObjectType};

/// Regular files under `dir`, depth first, symlinks not followed.
fn files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let t = e.file_type()?;
        if t.is_dir() {
            files(&e.path(), out)?;
        } else if t.is_file() {
            out.push(e.path());
        }
    }
    Ok(())
}

#[derive(Default)]
struct Stage {
    bytes: u64,
    time: Duration,
}

impl Stage {
    fn time<T>(&mut self, bytes: usize, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let r = f();
        self.time += t.elapsed();
        self.bytes += bytes as u64;
        r
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: pipeline_limits DIR [ZSTD_LEVEL]")?,
    );
    let level: i32 = match args.next() {
        Some(l) => l.parse().map_err(|e| format!("zstd level {l}: {e}"))?,
        None => 3,
    };
    let mut paths = Vec::new();
    files(&dir, &mut paths).map_err(|e| format!("{}: {e}", dir.display()))?;
    let keys = MasterKey::generate().derive();
    let chunker = Chunker::new(ChunkerParams::default(), keys.gear()).map_err(|e| e.to_string())?;
    let mut zstd = zstd::bulk::Compressor::new(level).map_err(|e| e.to_string())?;
    let (mut read, mut cut, mut id, mut comp, mut seal) =
        <(Stage, Stage, Stage, Stage, Stage)>::default();
    let mut own = Stage::default();
    let (mut data, mut ids, mut buf) = (Vec::new(), 0u8, Vec::new());
    let (mut packed, mut sealed) = (Vec::new(), Vec::new());
    for p in &paths {
        data.clear();
        let n = read.time(0, || {
            File::open(p).and_then(|mut f| f.read_to_end(&mut data))
        });
        let n = n.map_err(|e| format!("{}: {e}", p.display()))?;
        read.bytes += n as u64;
        let cuts: Vec<_> = cut.time(n, || chunker.cuts(&data).collect());
        for r in cuts {
            let chunk = &data[r];
            // Fold the ids into a byte so the hashing cannot be optimised out.
            let blob = id.time(chunk.len(), || keys.blob_id(chunk));
            ids ^= blob[0];
            own.time(chunk.len(), || {
                let ty = ObjectType::DataBlob;
                envelope::seal_into(&keys, ty, Some(&blob), chunk, Some(level), &mut buf)
            });
            ids ^= buf[0];
            // Output buffers are reused, as the envelope stage reuses `buf`,
            // so no stage pays for fresh allocations the others do not.
            packed.resize(zstd::zstd_safe::compress_bound(chunk.len()), 0);
            let n = comp.time(chunk.len(), || {
                zstd.compress_to_buffer(chunk, &mut packed[..])
            });
            packed.truncate(n.map_err(|e| format!("zstd: {e}"))?);
            // Stored compressed only when that is smaller, as the envelope does.
            let stored = if packed.len() < chunk.len() {
                &packed[..]
            } else {
                chunk
            };
            sealed.clear();
            sealed.resize(NONCE_LEN, 0);
            sealed.extend_from_slice(stored);
            seal.time(stored.len(), || keys.seal_in_place(&mut sealed, b"limits"));
            ids ^= sealed[0];
        }
    }
    for (name, s) in [
        ("read", read),
        ("chunk", cut),
        ("blake3", id),
        ("zstd", comp),
        ("seal", seal),
        ("envelope", own),
    ] {
        println!("{name}\t{}\t{:.4}", s.bytes, s.time.as_secs_f64());
    }
    eprintln!("{} files (checksum byte {ids})", paths.len());
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pipeline_limits: {e}");
            ExitCode::FAILURE
        }
    }
}
