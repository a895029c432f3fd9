//! Importing other backup tools' repositories into cairn. Each importer
//! reads the foreign repository through [`crate::storage::Storage`] and
//! feeds its snapshots to [`crate::backup`] as a [`crate::source::Source`],
//! so the trees, chunks, packs and snapshots are written by the same
//! engine as a backup's.

pub mod restic;
