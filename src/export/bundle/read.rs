//! Importing a bundle: verify everything, then record it. See the module
//! docs of [`super`] for the id rule.

use std::collections::{HashMap, HashSet};
use std::io::{BufReader, Read, Seek, SeekFrom};

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::format::bundle::{
    BundleBlob, BundleHeader, Manifest, Trailer, HEADER_MAGIC, ID_KEY_CHECK_INPUT, TRAILER_LEN,
};
use crate::format::envelope::{self, ObjectType};
use crate::format::index::BlobKind;
use crate::format::tree::{NodeKind, Tree};
use crate::ids::{BlobId, ChunkId, TreeId};
use crate::progress::Progress;
use crate::repo::{BlobWriter, Repository, SnapshotFilter, WriteStats};

use super::{bundle_keys, object_type};

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportStats {
    pub snapshots_added: u64,
    /// Snapshots the repository already had (same content), not added again.
    pub snapshots_present: u64,
    pub data_blobs: u64,
    pub tree_blobs: u64,
    /// Blobs the repository already had.
    pub blobs_known: u64,
    /// True when the target's id key differs and ids were recomputed.
    pub ids_rewritten: bool,
    pub write: WriteStats,
}

fn io(e: std::io::Error) -> Error {
    Error::io("<bundle>", e)
}

fn read_exact(r: &mut impl Read, len: u64) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let got = r.take(len).read_to_end(&mut buf).map_err(io)?;
    if got as u64 != len {
        return Err(Error::corrupt("bundle", "truncated"));
    }
    Ok(buf)
}

/// Imports the bundle in `input` (opened with `password`) into `repo`.
pub fn import_bundle<R: Read + Seek>(
    repo: &Repository,
    password: &[u8],
    mut input: R,
    progress: &dyn Progress,
) -> Result<ImportStats> {
    let file_len = input.seek(SeekFrom::End(0)).map_err(io)?;
    input.seek(SeekFrom::Start(0)).map_err(io)?;
    let prefix = read_exact(&mut input, 12.min(file_len))?;
    if !prefix.starts_with(HEADER_MAGIC) {
        return Err(Error::Usage(
            "not a cairn bundle (it does not start with \"CAIRNBDL\")".into(),
        ));
    }
    let header_len = BundleHeader::total_len(&prefix)? as u64;
    let mut header_bytes = prefix;
    header_bytes.extend(read_exact(&mut input, header_len - 12)?);
    let header = BundleHeader::decode(&header_bytes)?;
    let keys = bundle_keys(&header, password)?;
    if file_len < header_len + TRAILER_LEN as u64 {
        return Err(Error::corrupt("bundle", "truncated"));
    }
    input
        .seek(SeekFrom::Start(file_len - TRAILER_LEN as u64))
        .map_err(io)?;
    let trailer = Trailer::decode(
        &read_exact(&mut input, TRAILER_LEN as u64)?,
        header_len,
        file_len,
    )?;
    input
        .seek(SeekFrom::Start(trailer.manifest_offset))
        .map_err(io)?;
    let sealed = read_exact(&mut input, trailer.manifest_length)?;
    let plain = envelope::open(&keys, ObjectType::Index, None, &sealed, None).map_err(|e| {
        match e.kind() {
            // The header parsed and the trailer points at a manifest of
            // sane size, so a wrong password is far likelier than damage
            // (the format holds no separate password check).
            ErrorKind::Corrupt => Error::BundlePassword(
                "its manifest does not open (or the manifest is damaged)".into(),
            ),
            _ => e,
        }
    })?;
    let manifest = Manifest::decode(&plain, header_len, trailer.manifest_offset)?;
    if manifest.header_hash != *blake3::hash(&header_bytes).as_bytes() {
        return Err(Error::corrupt(
            "bundle",
            "header does not match the manifest",
        ));
    }
    let mut t = Translator {
        repo,
        same_key: manifest.id_key_check == repo.keys().blob_id(ID_KEY_CHECK_INPUT),
        data: HashMap::new(),
        trees: HashMap::new(),
    };
    let mut stats = ImportStats {
        ids_rewritten: !t.same_key,
        ..Default::default()
    };

    // Pass 1: verify every blob and work out every new id; record nothing.
    progress.start("verify", Some(manifest.blobs.len() as u64), None);
    input.seek(SeekFrom::Start(header_len)).map_err(io)?;
    let mut r = BufReader::with_capacity(1 << 20, &mut input);
    for b in &manifest.blobs {
        crate::progress::check_cancelled(progress, || {
            "import stopped while verifying the bundle; nothing was changed".into()
        })?;
        let plain = open_blob(&mut r, &keys, b)?;
        progress.bytes(plain.len() as u64);
        t.translate(b, plain)?;
        match b.kind {
            BlobKind::Data => stats.data_blobs += 1,
            BlobKind::Tree => stats.tree_blobs += 1,
        }
    }
    for s in &manifest.snapshots {
        if !t.trees.contains_key(&s.snapshot.tree) {
            return Err(Error::corrupt(
                "bundle",
                format!("snapshot {} names a tree the bundle lacks", s.id),
            ));
        }
    }
    drop(r);
    progress.finish();

    // Pass 2: store what the repository lacks; packs and index first.
    progress.start("import", Some(manifest.blobs.len() as u64), None);
    input.seek(SeekFrom::Start(header_len)).map_err(io)?;
    let mut r = BufReader::with_capacity(1 << 20, &mut input);
    // Deduplicating and storing snapshots outside a backup, so without a
    // backup's marker: the maintenance lock keeps every prune out until the
    // snapshots are stored, and the index is read as of now, after any
    // prune that finished before (format-spec/12-prune.md).
    let _lock = crate::repo::lock::acquire(repo, "import", Default::default())?;
    repo.sync_index()?;
    let writer = BlobWriter::new(repo);
    for b in &manifest.blobs {
        if progress.cancelled() {
            return Err(Error::Interrupted(format!(
                "import stopped before adding any snapshot; the next import reuses the {} bytes of packs already stored",
                writer.abandon()?
            )));
        }
        let new = t.new_id(b)?;
        if writer.is_known(b.kind, &new)? {
            stats.blobs_known += 1;
            r.seek_relative(b.length as i64).map_err(io)?;
            continue;
        }
        // Read and check again: the file may have changed since pass 1.
        let plain = open_blob(&mut r, &keys, b)?;
        let (id, bytes) = t.translate(b, plain)?;
        if id != new {
            return Err(Error::corrupt("bundle", "changed while it was imported"));
        }
        progress.bytes(bytes.len() as u64);
        writer.add_if_new(b.kind, id, &bytes)?;
    }
    stats.write = writer.finish()?;
    progress.finish();

    // Snapshots last, so each names only stored, indexed blobs.
    let mut existing: Vec<_> = repo
        .snapshots(&SnapshotFilter::default())?
        .into_iter()
        .map(|s| s.snapshot)
        .collect();
    let existing_ids: HashSet<_> = repo.snapshot_ids()?.into_iter().collect();
    for s in &manifest.snapshots {
        let mut snap = s.snapshot.clone();
        snap.tree = t.trees[&s.snapshot.tree];
        snap.parent = snap.parent.filter(|p| existing_ids.contains(p));
        if existing.contains(&snap) {
            stats.snapshots_present += 1;
        } else {
            repo.save_snapshot(&snap)?;
            existing.push(snap);
            stats.snapshots_added += 1;
        }
    }
    Ok(stats)
}

/// Reads one blob's sealed bytes, checks its checksum and opens it.
fn open_blob(r: &mut impl Read, keys: &crate::crypto::Keys, b: &BundleBlob) -> Result<Vec<u8>> {
    let sealed = read_exact(r, b.length as u64)?;
    if *blake3::hash(&sealed).as_bytes() != b.checksum {
        return Err(Error::corrupt(
            "bundle",
            format!("blob {} does not match its checksum", b.id),
        ));
    }
    envelope::open(
        keys,
        object_type(b.kind),
        Some(&b.id.0),
        &sealed,
        Some(b.raw_length as usize),
    )
}

/// Source ids → target ids, filled in file order (references first).
struct Translator<'a> {
    repo: &'a Repository,
    same_key: bool,
    data: HashMap<BlobId, BlobId>,
    trees: HashMap<TreeId, TreeId>,
}

impl Translator<'_> {
    fn new_id(&self, b: &BundleBlob) -> Result<BlobId> {
        let found = match b.kind {
            BlobKind::Data => self.data.get(&b.id).copied(),
            BlobKind::Tree => self.trees.get(&TreeId(b.id.0)).map(|t| BlobId(t.0)),
        };
        found.ok_or_else(|| Error::Internal("blob missing from the id map".into()))
    }

    /// The blob's id in the target and the bytes to store there. With the
    /// same id key both are the source's, verified; otherwise data ids are
    /// recomputed and trees rewritten with their children's new ids.
    fn translate(&mut self, b: &BundleBlob, plain: Vec<u8>) -> Result<(BlobId, Vec<u8>)> {
        let bad = |what: &str| Error::corrupt("bundle", format!("blob {}: {what}", b.id));
        let (id, bytes) = match b.kind {
            BlobKind::Data => {
                let id = BlobId(self.repo.keys().blob_id(&plain));
                if self.same_key && id != b.id {
                    return Err(bad("does not match its id"));
                }
                self.data.insert(b.id, id);
                (id, plain)
            }
            BlobKind::Tree => {
                let mut tree = Tree::decode(&plain)?;
                for node in &mut tree.nodes {
                    match &mut node.kind {
                        NodeKind::File { content, .. } | NodeKind::Sqlite { content, .. } => {
                            for c in content.iter_mut() {
                                let new = self.data.get(&BlobId::from(*c)).ok_or_else(|| {
                                    bad("references a chunk that is not before it")
                                })?;
                                *c = ChunkId(new.0);
                            }
                        }
                        NodeKind::Dir { subtree } => {
                            *subtree = *self
                                .trees
                                .get(subtree)
                                .ok_or_else(|| bad("references a tree that is not before it"))?;
                        }
                        _ => {}
                    }
                }
                let bytes = if self.same_key { plain } else { tree.encode() };
                let id = BlobId(self.repo.keys().blob_id(&bytes));
                if self.same_key && id != b.id {
                    return Err(bad("does not match its id"));
                }
                self.trees.insert(TreeId(b.id.0), TreeId(id.0));
                (id, bytes)
            }
        };
        Ok((id, bytes))
    }
}
