//! Writing a bundle: the header, every blob the snapshots need (each once,
//! references before the blobs that make them), the sealed manifest, the
//! trailer. Streams to any `Write`; only the manifest is held in memory.

use std::collections::HashSet;
use std::io::Write;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::format::bundle::{
    BundleBlob, BundleHeader, BundleSnapshot, Manifest, Trailer, BUNDLE_VERSION,
    ID_KEY_CHECK_INPUT, SALT_LEN,
};
use crate::format::envelope::{self, ObjectType};
use crate::format::index::BlobKind;
use crate::format::tree::{NodeKind, Tree};
use crate::ids::{BlobId, TreeId};
use crate::progress::Progress;
use crate::repo::{Repository, SnapshotRef};

use super::{bundle_keys, object_type, ExportOptions};

/// What went into a bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExportStats {
    pub snapshots: u64,
    pub data_blobs: u64,
    pub tree_blobs: u64,
    /// Plaintext bytes of all blobs.
    pub bytes: u64,
    /// Size of the bundle file.
    pub bundle_bytes: u64,
}

struct Writer<'a, W: Write> {
    repo: &'a Repository,
    keys: crate::crypto::Keys,
    level: Option<i32>,
    out: W,
    at: u64,
    blobs: Vec<BundleBlob>,
    seen_trees: HashSet<TreeId>,
    seen_data: HashSet<BlobId>,
    stats: ExportStats,
    progress: &'a dyn Progress,
}

/// Writes a bundle of `snapshots` sealed under `password` to `out`.
pub fn export_bundle<W: Write>(
    repo: &Repository,
    snapshots: &[SnapshotRef],
    password: &[u8],
    opts: &ExportOptions,
    out: W,
    progress: &dyn Progress,
) -> Result<(W, ExportStats)> {
    let mut salt = vec![0u8; SALT_LEN];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
    let header = BundleHeader {
        version: BUNDLE_VERSION,
        kdf: opts.kdf,
        salt,
    };
    let header_bytes = header.encode();
    let mut w = Writer {
        repo,
        keys: bundle_keys(&header, password)?,
        level: opts.compression,
        out,
        at: 0,
        blobs: Vec::new(),
        seen_trees: HashSet::new(),
        seen_data: HashSet::new(),
        stats: ExportStats::default(),
        progress,
    };
    w.emit(&header_bytes)?;
    for s in snapshots {
        w.tree(s.snapshot.tree)?;
        w.stats.snapshots += 1;
    }
    let manifest = Manifest {
        header_hash: *blake3::hash(&header_bytes).as_bytes(),
        created: crate::time::now().0,
        source_repo_id: repo.config().repo_id.clone(),
        id_key_check: repo.keys().blob_id(ID_KEY_CHECK_INPUT),
        snapshots: snapshots
            .iter()
            .map(|s| BundleSnapshot {
                id: s.id,
                snapshot: s.snapshot.clone(),
            })
            .collect(),
        blobs: std::mem::take(&mut w.blobs),
    };
    let sealed = envelope::seal(
        &w.keys,
        ObjectType::Index,
        None,
        &manifest.encode(),
        Some(3),
    );
    let trailer = Trailer {
        manifest_offset: w.at,
        manifest_length: sealed.len() as u64,
    };
    w.emit(&sealed)?;
    w.emit(&trailer.encode())?;
    w.out.flush().map_err(|e| Error::io("<bundle>", e))?;
    w.stats.bundle_bytes = w.at;
    Ok((w.out, w.stats))
}

impl<W: Write> Writer<'_, W> {
    fn emit(&mut self, bytes: &[u8]) -> Result<()> {
        crate::progress::check_cancelled(self.progress, || {
            "export stopped; the partial bundle is discarded".into()
        })?;
        self.out
            .write_all(bytes)
            .map_err(|e| Error::io("<bundle>", e))?;
        self.at += bytes.len() as u64;
        Ok(())
    }

    /// Seals one blob under the bundle key (its source id bound in) and
    /// appends it.
    fn blob(&mut self, kind: BlobKind, id: BlobId, plain: &[u8]) -> Result<()> {
        let sealed = envelope::seal(
            &self.keys,
            object_type(kind),
            Some(&id.0),
            plain,
            self.level,
        );
        let length = u32::try_from(sealed.len())
            .map_err(|_| Error::Internal("sealed blob over 4 GiB".into()))?;
        self.blobs.push(BundleBlob {
            kind,
            id,
            offset: self.at,
            length,
            raw_length: plain.len() as u32,
            checksum: *blake3::hash(&sealed).as_bytes(),
        });
        self.emit(&sealed)?;
        self.stats.bytes += plain.len() as u64;
        self.progress.bytes(plain.len() as u64);
        match kind {
            BlobKind::Data => self.stats.data_blobs += 1,
            BlobKind::Tree => self.stats.tree_blobs += 1,
        }
        Ok(())
    }

    /// Writes a tree after everything it references (post-order), once.
    fn tree(&mut self, id: TreeId) -> Result<()> {
        if self.seen_trees.contains(&id) {
            return Ok(());
        }
        let plain = self.repo.read_blob(BlobKind::Tree, &BlobId::from(id))?;
        let tree = Tree::decode(&plain)?;
        for node in &tree.nodes {
            match &node.kind {
                NodeKind::File { content, .. } | NodeKind::Sqlite { content, .. } => {
                    for c in content {
                        let cid = BlobId::from(*c);
                        if self.seen_data.insert(cid) {
                            let data = self.repo.read_blob(BlobKind::Data, &cid)?;
                            self.blob(BlobKind::Data, cid, &data)?;
                        }
                    }
                }
                NodeKind::Dir { subtree } => self.tree(*subtree)?,
                _ => {}
            }
        }
        self.blob(BlobKind::Tree, BlobId::from(id), &plain)?;
        self.seen_trees.insert(id);
        Ok(())
    }
}
