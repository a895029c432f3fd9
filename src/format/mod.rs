//! Byte-exact encodings of everything cairn stores, one file per chapter of
//! `format-spec/`. Pure: bytes in, typed values out, no I/O. Every decoder
//! returns an error on hostile input and never panics or allocates without
//! bound.

pub mod audit;
pub mod bundle;
pub mod config;
pub mod envelope;
pub mod fuzz;
pub mod index;
pub mod keyfile;
pub mod layout;
pub mod lock;
pub mod marker;
pub mod pack;
pub mod policy;
pub mod snapshot;
pub mod tree;

/// The repository format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

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
mod robustness_tests;
