//! Fixed, page-aligned chunking for database snapshots (10-chunking.md,
//! 16-database.md). A database changes in pages: with chunks that are a
//! whole number of pages, an updated row changes one chunk, not the 1–2 MiB
//! content-defined chunk around it, and an unchanged page range always cuts
//! the same way, across snapshots and across databases.

use std::io::{ErrorKind, Read};
use std::path::Path;

use crate::error::{Error, Result};

/// The chunk length for database snapshots (measured, see 16-database.md):
/// 64 KiB, 16 pages at SQLite's default 4 KiB page size.
pub const DB_CHUNK_SIZE: u32 = 64 * 1024;

/// The chunk length for a database of this page size: [`DB_CHUNK_SIZE`],
/// or one page when pages are larger (a chunk never splits a page).
pub fn db_chunk_size(page_size: u32) -> u32 {
    DB_CHUNK_SIZE.max(page_size)
}

/// Cuts `reader` into chunks of exactly `chunk_size` bytes (the last may
/// be shorter; an empty stream gives none) and hands each to `sink`, in
/// order, reusing `buf`. Read errors name `path`. Returns the bytes read.
pub fn chunk_fixed<R: Read>(
    mut reader: R,
    path: &Path,
    chunk_size: usize,
    buf: &mut Vec<u8>,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<u64> {
    buf.resize(chunk_size.max(1), 0);
    let mut total = 0u64;
    loop {
        let mut n = 0;
        while n < buf.len() {
            match reader.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(path, e)),
            }
        }
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
        sink(&buf[..n])?;
        if n < buf.len() {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most 7 bytes per call, to show that
    /// short reads never shift a cut.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = out.len().min(7).min(self.0.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn cuts(data: &[u8], size: usize) -> Vec<usize> {
        let mut lens = Vec::new();
        let mut buf = Vec::new();
        let total = chunk_fixed(Trickle(data), Path::new("x"), size, &mut buf, |c| {
            lens.push(c.len());
            Ok(())
        })
        .unwrap();
        assert_eq!(total, data.len() as u64);
        lens
    }

    #[test]
    fn cuts_at_multiples_of_the_chunk_size() {
        let data = vec![7u8; 100];
        assert_eq!(cuts(&data, 32), [32, 32, 32, 4]);
        assert_eq!(cuts(&data[..96], 32), [32, 32, 32]);
        assert_eq!(cuts(&[], 32), Vec::<usize>::new());
        assert_eq!(cuts(&data[..5], 32), [5]);
    }

    #[test]
    fn chunk_size_is_a_whole_number_of_pages() {
        for page in [512, 1024, 4096, 8192, 16384, 32768, 65536] {
            let c = db_chunk_size(page);
            assert_eq!(c % page, 0, "{page}");
            assert!(c >= page);
        }
        assert_eq!(db_chunk_size(4096), 65536);
        assert_eq!(db_chunk_size(65536), 65536);
    }

    #[test]
    fn a_read_error_names_the_file() {
        struct Fail;
        impl Read for Fail {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk on fire"))
            }
        }
        let err =
            chunk_fixed(Fail, Path::new("/db/x.db"), 8, &mut Vec::new(), |_| Ok(())).unwrap_err();
        assert!(err.to_string().contains("/db/x.db"), "{err}");
    }
}
