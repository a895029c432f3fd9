//! Whether a plaintext is worth handing to zstd, judged from a few samples.
//!
//! Half the bytes people back up are already compressed or random (media,
//! archives, parquet, encrypted files); zstd spends as long failing on them
//! as it spends compressing text, and the envelope then stores them raw
//! anyway. Measured on a bucket backup, zstd was a fifth of cairn's CPU.
//! Three windows of the plaintext (start, middle, end) have their byte
//! entropy estimated; near 8 bits per byte there is nothing for zstd's
//! entropy coder to win, and matches long enough to pay off would show in
//! the windows as repeated bytes. The one case missed: data that is random
//! byte by byte but repeats itself far apart inside one chunk (a random
//! block copied twice). It is stored raw, as correct as ever, just larger;
//! the chunker's deduplication still catches repeats across chunks.

/// Plaintexts shorter than this are always tried: zstd is cheap on them
/// and the estimate from so few bytes is noisy.
const MIN_LEN: usize = 2048;
/// Bytes in each of the three windows.
const WINDOW: usize = 2048;
/// Estimated bits per byte from which a plaintext counts as incompressible.
/// Uniformly random bytes and zstd frames estimate at about 8.0
/// (bias-corrected, below); text and executables at 4.5-6.5 bits.
const THRESHOLD: f64 = 7.9;

/// True when `plaintext` looks incompressible: long enough and with every
/// byte value about equally common in its sampled windows.
pub fn looks_incompressible(plaintext: &[u8]) -> bool {
    let n = plaintext.len();
    if n < MIN_LEN {
        return false;
    }
    let mut counts = [0u32; 256];
    let middle = (n / 2).saturating_sub(WINDOW / 2);
    let end = n.saturating_sub(WINDOW);
    let mut sampled = 0usize;
    let mut last_end = 0usize;
    for start in [0, middle, end] {
        // Windows overlap on short plaintexts: count each byte once.
        let from = start.max(last_end);
        let to = (start + WINDOW).min(n);
        if from < to {
            for &b in &plaintext[from..to] {
                counts[b as usize] += 1;
            }
            sampled += to - from;
            last_end = to;
        }
    }
    entropy_bits(&counts, sampled) >= THRESHOLD
}

/// Shannon entropy in bits per byte, with the Miller-Madow correction for
/// the bias of estimating from a sample (`(seen - 1) / (2 N ln 2)`), so the
/// same threshold holds for 2 KiB and 6 KiB of samples.
fn entropy_bits(counts: &[u32; 256], total: usize) -> f64 {
    let n = total as f64;
    let mut h = 0.0;
    let mut seen = 0u32;
    for &c in counts.iter().filter(|&&c| c > 0) {
        let p = f64::from(c) / n;
        h -= p * p.log2();
        seen += 1;
    }
    h + f64::from(seen.saturating_sub(1)) / (2.0 * n * std::f64::consts::LN_2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngCore, SeedableRng};

    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut v = vec![0u8; len];
        rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut v);
        v
    }

    #[test]
    fn random_bytes_look_incompressible_at_every_size() {
        for (len, seed) in [(2048, 1), (3000, 2), (6144, 3), (64 << 10, 4), (1 << 20, 5)] {
            assert!(looks_incompressible(&noise(len, seed)), "{len} bytes");
        }
    }

    #[test]
    fn zstd_output_looks_incompressible() {
        // Rows of random words: compressible, and its frame is not.
        let words: Vec<String> = noise(4000, 9)
            .chunks(8)
            .map(|w| hex::encode(&w[..3]))
            .collect();
        let text: Vec<u8> = noise(600_000, 10)
            .chunks(3)
            .flat_map(|r| {
                format!(
                    "{} {} {}\n",
                    words[r[0] as usize], words[r[1] as usize], words[r[2] as usize]
                )
                .into_bytes()
            })
            .collect();
        let frame = zstd::bulk::compress(&text, 3).unwrap();
        assert!(frame.len() < text.len() / 2);
        assert!(frame.len() > MIN_LEN);
        assert!(looks_incompressible(&frame));
    }

    #[test]
    fn text_short_input_and_mixed_content_are_compressed() {
        let text = b"the quick brown fox jumps over the lazy dog. ".repeat(200);
        assert!(!looks_incompressible(&text));
        assert!(!looks_incompressible(&noise(MIN_LEN - 1, 6)));
        // Random at the start, zeros in the middle and at the end: zstd wins.
        let mut mixed = noise(16 << 10, 7);
        mixed.extend(vec![0u8; 48 << 10]);
        assert!(!looks_incompressible(&mixed));
        // Bytes drawn from 64 values: 6 bits each, zstd's Huffman stage wins.
        let narrow: Vec<u8> = noise(64 << 10, 8).iter().map(|b| b & 63).collect();
        assert!(!looks_incompressible(&narrow));
    }
}
