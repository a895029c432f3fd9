//! Byte-exact encodings of everything cairn stores, one file per chapter of
//! `format-spec/`. Pure: bytes in, typed values out, no I/O. Every decoder
//! returns an error on hostile input and never panics or allocates without
//! bound.

pub mod config;
pub mod envelope;
pub mod index;
pub mod keyfile;
pub mod layout;
pub mod pack;
pub mod snapshot;
pub mod tree;

/// The repository format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
