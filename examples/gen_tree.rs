//! Writes a deterministic tree of many small files for `benches/million.sh`:
//! N files of 0–8 KiB of incompressible content (BLAKE3 output keyed by the
//! seed and the file's number), 300 to a directory, leaf directories 200 to
//! a parent, so 1,000,000 files make a three-level tree of 3,334 directories
//! of files, like a mail spool or a `node_modules` forest. The same N and
//! seed always give the same names, sizes and bytes.
//!
//! Leaf directories are written in parallel (file creation is the cost, not
//! the bytes). Usage:
//!
//! ```text
//! cargo run --release --example gen_tree -- DIR N [SEED]
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rayon::prelude::*;

/// Files per leaf directory, and leaf directories per parent.
const PER_DIR: u64 = 300;
const DIRS_PER_PARENT: u64 = 200;
/// Largest file, in bytes (sizes are uniform in 0..=MAX_SIZE).
const MAX_SIZE: u64 = 8192;

/// The relative directory of leaf directory `k`.
fn leaf_dir(k: u64) -> PathBuf {
    PathBuf::from(format!(
        "t{:03}/m{:03}",
        k / DIRS_PER_PARENT,
        k % DIRS_PER_PARENT
    ))
}

/// The size and content of file `i`, from the seed.
fn content(seed: u64, i: u64, buf: &mut Vec<u8>) {
    let mut h = blake3::Hasher::new();
    h.update(b"cairn gen_tree")
        .update(&seed.to_le_bytes())
        .update(&i.to_le_bytes());
    let mut xof = h.finalize_xof();
    let mut size = [0u8; 8];
    xof.fill(&mut size);
    let size = u64::from_le_bytes(size) % (MAX_SIZE + 1);
    buf.resize(size as usize, 0);
    xof.fill(buf);
}

fn write_leaf(root: &Path, seed: u64, k: u64, n: u64) -> std::io::Result<()> {
    let dir = root.join(leaf_dir(k));
    std::fs::create_dir_all(&dir)?;
    let mut buf = Vec::with_capacity(MAX_SIZE as usize);
    for i in k * PER_DIR..((k + 1) * PER_DIR).min(n) {
        content(seed, i, &mut buf);
        std::fs::File::create(dir.join(format!("f{i:07}")))?.write_all(&buf)?;
    }
    Ok(())
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: gen_tree DIR N [SEED]";
    let root = PathBuf::from(args.next().ok_or(usage)?);
    let n: u64 = args
        .next()
        .ok_or(usage)?
        .parse()
        .map_err(|e| format!("N: {e}"))?;
    let seed: u64 = match args.next() {
        Some(s) => s.parse().map_err(|e| format!("SEED: {e}"))?,
        None => 1,
    };
    let leaves = n.div_ceil(PER_DIR);
    (0..leaves)
        .into_par_iter()
        .try_for_each(|k| write_leaf(&root, seed, k, n))
        .map_err(|e| format!("{}: {e}", root.display()))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen_tree: {e}");
            ExitCode::FAILURE
        }
    }
}
