//! Content-defined chunking: FastCDC 2020 (via the `fastcdc` crate's
//! `cut_gear`) driven by a *secret* gear table derived from the master key.
//!
//! Why a full table and not the crate's 64-bit seed: XOR-ing one seed into the
//! public table leaves the table's structure intact, and published attacks
//! (2025) recover it from observed chunk lengths, which then leak content.
//! 256 independent secret words do not have that weakness.
//!
//! Two entry points give identical boundaries: [`Chunker::cuts`] over a whole
//! in-memory buffer (an mmapped file) and [`Chunker::chunk_reader`] over a
//! reader of unknown length (stdin, a live database) with a bounded buffer.
//! A cut depends only on the next `max_size` bytes (or fewer at EOF), which is
//! what lets the streaming path hold just `2 * max_size` bytes.

mod fixed;

pub use fixed::{chunk_fixed, db_chunk_size, DB_CHUNK_SIZE};

use std::io::{self, Read};
use std::ops::Range;
use std::path::Path;

use fastcdc::v2020::{cut_gear, logarithm2, MASKS};
use zeroize::Zeroize;

use crate::error::{Error, Result};
use crate::format::config::ChunkerParams;

/// Normalization level 1, as `fastcdc::v2020::FastCDC::new` uses: the mask is
/// one bit harder before the average size and one bit easier after it.
const NORMALIZATION: u32 = 1;

/// A keyed FastCDC chunker. Immutable once built, so one instance can be
/// shared by reference across threads (`Send + Sync`); cloning copies 4 KiB.
#[derive(Clone)]
pub struct Chunker {
    params: ChunkerParams,
    gear: Box<[u64; 256]>,
    gear_ls: Box<[u64; 256]>,
    mask_s: u64,
    mask_l: u64,
}

impl std::fmt::Debug for Chunker {
    // The gear table is key material: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chunker")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Drop for Chunker {
    fn drop(&mut self) {
        self.gear.zeroize();
        self.gear_ls.zeroize();
    }
}

impl Chunker {
    /// Builds a chunker from validated params and a gear table (normally
    /// [`crate::crypto::Keys::gear`]). Rejects params the crate would only
    /// debug-assert, since out-of-range sizes index past its mask table.
    pub fn new(params: ChunkerParams, gear: &[u64; 256]) -> Result<Chunker> {
        params.validate()?;
        let bits = logarithm2(params.avg_size);
        let mask_s = MASKS[(bits + NORMALIZATION) as usize];
        let mask_l = MASKS[(bits - NORMALIZATION) as usize];
        let gear = Box::new(*gear);
        let mut gear_ls = Box::new([0u64; 256]);
        for (ls, g) in gear_ls.iter_mut().zip(gear.iter()) {
            *ls = g << 1;
        }
        Ok(Chunker {
            params,
            gear,
            gear_ls,
            mask_s,
            mask_l,
        })
    }

    /// The size limits this chunker cuts with.
    pub fn params(&self) -> ChunkerParams {
        self.params
    }

    /// Largest chunk this chunker ever emits.
    pub fn max_size(&self) -> usize {
        self.params.max_size as usize
    }

    /// Length of the first chunk of `data`, treating its end as EOF; `0`
    /// only for empty `data`. Reads at most `max_size` bytes of `data`.
    pub fn next_cut(&self, data: &[u8]) -> usize {
        let (_hash, len) = cut_gear(
            data,
            self.params.min_size as usize,
            self.params.avg_size as usize,
            self.params.max_size as usize,
            self.mask_s,
            self.mask_l,
            self.mask_s << 1,
            self.mask_l << 1,
            &self.gear,
            &self.gear_ls,
        );
        len
    }

    /// All chunks of a complete buffer, as byte ranges in order. They tile
    /// `data` exactly; the empty buffer has no chunks.
    pub fn cuts<'a>(&'a self, data: &'a [u8]) -> impl Iterator<Item = Range<usize>> + 'a {
        let mut pos = 0;
        std::iter::from_fn(move || {
            let len = self.next_cut(&data[pos..]);
            (len > 0).then(|| {
                let range = pos..pos + len;
                pos += len;
                range
            })
        })
    }

    /// Chunks a reader of unknown length, calling `sink` with each chunk in
    /// order, and returns the bytes read. Boundaries equal [`Chunker::cuts`]
    /// on the whole stream. `buf` is scratch space reused across calls; it is
    /// grown to `2 * max_size` bytes. Read errors name the source `<stream>`.
    pub fn chunk_reader<R: Read>(
        &self,
        reader: R,
        buf: &mut Vec<u8>,
        sink: impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<u64> {
        self.chunk_named_reader(reader, Path::new("<stream>"), buf, sink)
    }

    /// [`Chunker::chunk_reader`] whose read errors name `path`.
    pub fn chunk_named_reader<R: Read>(
        &self,
        mut reader: R,
        path: &Path,
        buf: &mut Vec<u8>,
        mut sink: impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<u64> {
        let max = self.max_size();
        buf.resize(2 * max, 0);
        // buf[start..end] is read but not yet chunked.
        let (mut start, mut end) = (0usize, 0usize);
        let mut eof = false;
        let mut total = 0u64;
        loop {
            // A cut needs max_size bytes of lookahead unless the stream ended.
            if !eof && end - start < max {
                buf.copy_within(start..end, 0);
                end -= start;
                start = 0;
                // Fill completely, so the next compaction is at least
                // max_size bytes of chunking away: copying stays amortized.
                while end < buf.len() {
                    let n = read_retrying(&mut reader, &mut buf[end..])
                        .map_err(|e| Error::io(path, e))?;
                    if n == 0 {
                        eof = true;
                        break;
                    }
                    end += n;
                    total += n as u64;
                }
            }
            let len = self.next_cut(&buf[start..end]);
            if len == 0 {
                return Ok(total);
            }
            sink(&buf[start..start + len])?;
            start += len;
        }
    }
}

/// One `read`, retried on `EINTR`; short reads are left to the caller's loop.
fn read_retrying(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests;
