//! cairn: encrypted, deduplicating, content-addressed backups.
//!
//! Files are split into content-defined chunks ([`chunker`]), named by a
//! keyed BLAKE3 hash ([`crypto`]), compressed with zstd, sealed with
//! XChaCha20-Poly1305 ([`format::envelope`]) and gathered into packs
//! ([`format::pack`]) on a [`storage::Storage`] backend. Index files say
//! which blob lives in which pack; trees describe directories; snapshots
//! name a root tree. The byte layout is specified in `format-spec/`.
//!
//! The pipeline, one module per stage and each using only those before it:
//! [`source`] → [`chunker`] → [`crypto`] → [`repo`] (dedup, pack, upload,
//! index) → [`backup`]; [`restore`] reads the same types in reverse.
//!
//! The library is the product; the `cairn` command is its first user. An
//! application can back itself up, for example from its SIGTERM handler:
//!
//! ```
//! use std::sync::Arc;
//! use cairn::backup::{backup, BackupOptions};
//! use cairn::crypto::KdfParams;
//! use cairn::progress::NoProgress;
//! use cairn::repo::{InitOptions, OpenOptions, Repository, SnapshotFilter};
//! use cairn::restore::{restore, RestoreOptions};
//! use cairn::source::fs::{FsOptions, FsSource};
//! use cairn::storage::local::LocalStorage;
//!
//! # fn main() -> cairn::Result<()> {
//! let tmp = tempfile::tempdir().unwrap();
//! let data = tmp.path().join("data");
//! std::fs::create_dir(&data).unwrap();
//! std::fs::write(data.join("app.db"), b"important state").unwrap();
//!
//! // Create a repository (cheap KDF parameters: this is an example).
//! let storage = Arc::new(LocalStorage::create(tmp.path().join("repo"))?);
//! let init = InitOptions { kdf: Some(KdfParams::insecure_for_tests()), ..Default::default() };
//! let open = OpenOptions { cache_dir: Some(tmp.path().join("cache")), ..Default::default() };
//! let repo = Repository::init(storage.clone(), b"secret", init, open.clone())?;
//! drop(repo);
//!
//! // Back up a directory.
//! let repo = Repository::open(storage, b"secret", open)?;
//! let mut source = FsSource::new(FsOptions { paths: vec![data.clone()], ..Default::default() })?;
//! let report = backup(&repo, &mut source, &BackupOptions::default(), &NoProgress)?;
//! assert!(report.is_complete());
//!
//! // Restore the newest snapshot elsewhere.
//! let latest = repo.find_snapshot("latest", &SnapshotFilter::default())?;
//! let target = tmp.path().join("restored");
//! restore(&repo, latest.snapshot.tree, &RestoreOptions::new(&target), &NoProgress)?;
//! let restored = target.join(data.strip_prefix("/").unwrap()).join("app.db");
//! assert_eq!(std::fs::read(restored).unwrap(), b"important state");
//! # Ok(())
//! # }
//! ```

pub mod app;
pub mod backup;
pub mod check;
pub mod child;
pub mod chunker;
pub mod copy;
pub mod crypto;
pub mod error;
pub mod explore;
pub mod export;
pub mod forget;
pub mod format;
pub mod hooks;
pub mod ids;
pub mod import;
pub mod mount;
pub mod progress;
pub mod prune;
pub mod repair;
pub mod repo;
pub mod restore;
pub mod source;
pub mod stats;
pub mod storage;
pub mod time;
pub mod units;

pub use error::{Error, ErrorKind, Result};
