//! The write phase's units of work: each pack's chunks cut into the
//! pieces the reader would fetch with one request each, handed out
//! largest first.
//!
//! With a whole pack per task, a restore of the benchmark corpus ended on
//! one task creating a pack's thousands of small files on a single thread
//! while the other core idled (0.6 s of a 3.7 s restore). A piece is what
//! the reader merges into one request anyway ([`joins_read`]), so cutting
//! costs no extra request; and taking the costliest pieces first (longest
//! processing time first) leaves only short ones for the end, whatever
//! order the packs come in. Pieces with an urgent
//! destination (a database, checked as soon as it is complete) go before
//! all others.

use std::collections::HashMap;

use crate::format::index::BlobKind;
use crate::ids::{BlobId, PackId};
#[cfg(test)]
use crate::repo::MAX_MERGED_READ;
use crate::repo::{joins_read, PackRead};

/// Creating or opening a file costs about as much as writing this many
/// bytes (an inode, a directory entry, its metadata).
const FILE_COST: u64 = 64 * 1024;

/// One pack's chunks to read, each with its destinations (`T`).
pub(super) type PackChunks<T> = (BlobKind, HashMap<BlobId, (PackRead, Vec<T>)>);

/// Part of one pack's chunks, with where each goes (`T`: a destination).
pub(super) struct Piece<T> {
    pub(super) pack: PackId,
    pub(super) kind: BlobKind,
    pub(super) blobs: HashMap<BlobId, (PackRead, Vec<T>)>,
    /// Estimated work: bytes written, plus [`FILE_COST`] per destination.
    cost: u64,
    urgent: bool,
}

/// Cuts each pack's chunks, in offset order, where the reader would start
/// a new request ([`joins_read`]; a single blob larger than a read is a
/// piece of its own). Ordered urgent first, then costliest first.
pub(super) fn pieces<T>(
    packs: HashMap<PackId, PackChunks<T>>,
    urgent: impl Fn(&T) -> bool,
) -> Vec<Piece<T>> {
    let mut out = Vec::new();
    for (pack, (kind, blobs)) in packs {
        let mut entries: Vec<_> = blobs.into_iter().collect();
        entries.sort_by_key(|(_, (read, _))| read.offset);
        // The current piece, where it starts and where it ends so far.
        let mut current: Option<(u64, u64, Piece<T>)> = None;
        for (id, (read, targets)) in entries {
            let (offset, end) = (read.offset as u64, read.offset as u64 + read.length as u64);
            if current
                .as_ref()
                .is_some_and(|(start, last, _)| !joins_read(*start, *last, offset, end))
            {
                out.extend(current.take().map(|(_, _, p)| p));
            }
            let (_, last, piece) = current.get_or_insert_with(|| {
                let piece = Piece {
                    pack,
                    kind,
                    blobs: HashMap::new(),
                    cost: 0,
                    urgent: false,
                };
                (offset, end, piece)
            });
            *last = (*last).max(end);
            piece.cost += targets.len() as u64 * (FILE_COST + read.raw_length as u64);
            piece.urgent |= targets.iter().any(&urgent);
            piece.blobs.insert(id, (read, targets));
        }
        out.extend(current.map(|(_, _, p)| p));
    }
    out.sort_by_key(|p| std::cmp::Reverse((p.urgent, p.cost)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(n: u8, offset: u32, length: u32) -> (BlobId, (PackRead, Vec<u8>)) {
        let id = BlobId([n; 32]);
        let read = PackRead {
            id,
            offset,
            length,
            raw_length: length,
        };
        (id, (read, vec![n]))
    }

    /// Every chunk lands in exactly one piece of its own pack; no piece
    /// spans more than one merged read unless it is a single blob; pieces
    /// come urgent first, then costliest first.
    #[test]
    fn pieces_cover_each_pack_within_one_read_costliest_first() {
        let mb = 1024 * 1024;
        let big: HashMap<_, _> = (0..40u8).map(|n| read(n, n as u32 * mb, mb)).collect();
        let small: HashMap<_, _> = [read(100, 0, 1000), read(101, 1000, 1000)].into();
        let huge: HashMap<_, _> = [read(200, 0, 9 * mb)].into();
        // One read for the first blob, one for the two after the gap.
        let kib = 1024;
        let gapped: HashMap<_, _> = [
            read(50, 0, 100 * kib),
            read(51, 1100 * kib, 2900 * kib),
            read(52, 4000 * kib, 1000 * kib),
        ]
        .into();
        let packs = HashMap::from([
            (PackId([1; 32]), (BlobKind::Data, big)),
            (PackId([2; 32]), (BlobKind::Data, small)),
            (PackId([3; 32]), (BlobKind::Data, huge)),
            (PackId([4; 32]), (BlobKind::Data, gapped)),
        ]);
        let got = pieces(packs, |&t| t == 101);
        let mut seen: Vec<u8> = got
            .iter()
            .flat_map(|p| p.blobs.values().flat_map(|(_, t)| t.clone()))
            .collect();
        seen.sort();
        let mut want: Vec<u8> = (0..40).chain([50, 51, 52, 100, 101, 200]).collect();
        want.sort();
        assert_eq!(seen, want);
        for p in &got {
            let start = p
                .blobs
                .values()
                .map(|(r, _)| r.offset as u64)
                .min()
                .unwrap();
            let end = p
                .blobs
                .values()
                .map(|(r, _)| (r.offset + r.length) as u64)
                .max()
                .unwrap();
            assert!(
                end - start <= MAX_MERGED_READ || p.blobs.len() == 1,
                "{} blobs over {} bytes",
                p.blobs.len(),
                end - start
            );
            assert!(p.blobs.values().all(|(r, t)| r.id == BlobId([t[0]; 32])));
        }
        assert!(got.len() >= 14, "{} pieces", got.len());
        let mut of_gapped: Vec<Vec<u8>> = (got.iter())
            .filter(|p| p.pack == PackId([4; 32]))
            .map(|p| {
                let mut v: Vec<u8> = p.blobs.values().map(|(_, t)| t[0]).collect();
                v.sort();
                v
            })
            .collect();
        of_gapped.sort();
        assert_eq!(of_gapped, [vec![50], vec![51, 52]], "one piece per read");
        assert_eq!(got[0].pack, PackId([2; 32]), "the urgent piece comes first");
        assert!(got[1..].windows(2).all(|w| w[0].cost >= w[1].cost));
        assert_eq!(got[1].pack, PackId([3; 32]), "the 9 MiB blob is costliest");
    }
}
