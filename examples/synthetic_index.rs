//! Fills a repository's index with synthetic entries, to measure how backup,
//! check and the index cache behave when a repository holds millions of
//! chunks without storing terabytes (used by `benches/scale.sh`).
//!
//! The entries name packs that do not exist: never run this on a repository
//! you care about. Usage:
//!
//! ```text
//! CAIRN_PASSWORD=... cargo run --release --example synthetic_index -- REPO CHUNKS [CACHE_DIR]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use cairn::format::index::{BlobEntry, BlobKind, IndexFile, PackEntry};
use cairn::ids::{BlobId, PackId};
use cairn::repo::{OpenOptions, Repository};
use cairn::storage::open_location;

/// Blobs per synthetic pack (a 16 MiB pack of 512 KiB chunks) and packs per
/// index file (the engine writes one every 8 packs; bigger files make the
/// synthetic index quicker to write and change no per-blob cost).
const PER_PACK: u64 = 32;
const PACKS_PER_FILE: u64 = 2048;

fn synthetic_id(tag: &[u8], n: u64) -> [u8; 32] {
    *blake3::Hasher::new()
        .update(b"cairn synthetic index")
        .update(tag)
        .update(&n.to_le_bytes())
        .finalize()
        .as_bytes()
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: synthetic_index REPO CHUNKS [CACHE_DIR]";
    let repo = args.next().ok_or(usage)?;
    let chunks: u64 = args
        .next()
        .ok_or(usage)?
        .parse()
        .map_err(|e| format!("CHUNKS: {e}"))?;
    let cache_dir = args.next().map(PathBuf::from);
    let password = std::env::var("CAIRN_PASSWORD").map_err(|_| "set CAIRN_PASSWORD")?;
    let storage = open_location(&repo, false).map_err(|e| e.to_string())?;
    let repo = Repository::open(
        storage,
        password.as_bytes(),
        OpenOptions {
            cache_dir,
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let total_packs = chunks.div_ceil(PER_PACK);
    let mut written = 0u64;
    for first in (0..total_packs).step_by(PACKS_PER_FILE as usize) {
        let end = (first + PACKS_PER_FILE).min(total_packs);
        let packs = (first..end)
            .map(|p| PackEntry {
                id: PackId(synthetic_id(b"pack", p)),
                kind: BlobKind::Data,
                size: 16 << 20,
                blobs: (0..PER_PACK)
                    .map(|i| BlobEntry {
                        id: BlobId(synthetic_id(b"blob", p * PER_PACK + i)),
                        offset: (i * 500_000) as u32,
                        length: 500_000,
                        raw_length: 524_288,
                    })
                    .collect(),
            })
            .collect();
        let file = IndexFile {
            packs,
            ..Default::default()
        };
        repo.save_index_file(file).map_err(|e| e.to_string())?;
        written = (end * PER_PACK).min(chunks);
        eprint!("\r{written} synthetic chunks indexed");
    }
    eprintln!("\r{written} synthetic chunks indexed");
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("synthetic_index: {e}");
            ExitCode::FAILURE
        }
    }
}
