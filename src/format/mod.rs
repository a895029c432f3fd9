//! Byte-exact encodings of everything cairn stores, one file per chapter of
//! `format-spec/`. Pure: bytes in, typed values out, no I/O. Every decoder
//! returns an error on hostile input and never panics or allocates without
//! bound.

pub mod audit;
pub mod bundle;
pub mod config;
pub mod database;
pub mod envelope;
pub mod fuzz;
pub mod id_list;
pub mod index;
pub mod keyfile;
pub mod layout;
pub mod lock;
pub mod marker;
pub mod object;
pub mod pack;
pub mod policy;
mod sample;
pub mod snapshot;
pub mod tree;

/// The repository format version `init` writes: the newest this build knows.
pub const FORMAT_VERSION: u32 = 2;

/// Every repository format version this build reads and writes. Version 2
/// is version 1 plus the `Sqlite` tree node (06-tree.md, 16-database.md); a
/// version-1 repository stays version 1 and is written as version 1.
/// Version 3 is version 2 plus shared chunking in the config (09-config.md),
/// written only by `init --copy-chunking-from`.
pub const SUPPORTED_VERSIONS: [u32; 3] = [1, 2, 3];

/// The version a repository sharing another's chunking is created with.
pub const SHARED_CHUNKING_VERSION: u32 = 3;

/// The newest version this build reads, named in "unsupported version" errors.
pub const NEWEST_VERSION: u32 = 3;

/// Does this build read and write repositories of format `version`?
pub fn is_supported(version: u32) -> bool {
    SUPPORTED_VERSIONS.contains(&version)
}

/// Decodes a postcard value that must fill `bytes` exactly and be in its one
/// canonical encoding. postcard alone ignores trailing bytes and accepts
/// over-long varints, which would give one value several encodings (and so
/// several ids) and let junk ride along unnoticed.
pub(crate) fn decode_exact<T>(bytes: &[u8], what: &str) -> crate::Result<T>
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let (value, rest) =
        postcard::take_from_bytes::<T>(bytes).map_err(|e| crate::Error::corrupt(what, e))?;
    if !rest.is_empty() {
        return Err(crate::Error::corrupt(
            what,
            format!("{} trailing bytes", rest.len()),
        ));
    }
    let again = postcard::to_allocvec(&value).expect("postcard encoding to a Vec cannot fail");
    if again != bytes {
        return Err(crate::Error::corrupt(what, "not in canonical encoding"));
    }
    Ok(value)
}

#[cfg(test)]
mod keyfile_put_tests;
#[cfg(test)]
mod robustness_tests;
