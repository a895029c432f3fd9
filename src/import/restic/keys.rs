//! restic key files (design.rst, "Keys, Encryption and MAC"): JSON with
//! scrypt parameters and a salt; scrypt turns the password into 64 bytes
//! laid out as a [`MasterKey`], which opens the file's `data`, which holds
//! the repository's master key.

use serde::Deserialize;
use zeroize::Zeroizing;

use super::crypto::{corrupt, decode_base64, MasterKey};
use crate::error::{Error, Result};
use crate::storage::Storage;

/// Where key files live.
pub const KEYS_PREFIX: &str = "keys/";

/// Refuse scrypt costs beyond what restic itself would pick by far: a
/// hostile key file must not make the import allocate gigabytes or spin
/// for hours. scrypt needs 128·r·N bytes and touches them p times; restic
/// calibrates to about 60 MiB and half a second, raising p on fast or
/// loaded machines (p = 9 is common), so p is bounded only through the work.
const MAX_LOG_N: u8 = 22;
const MAX_MEMORY: u64 = 256 << 20;
const MAX_WORK: u64 = 64 << 30;

#[derive(Deserialize)]
struct KeyFile {
    kdf: String,
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
    salt: String,
    data: String,
}

/// Tries every key file with `password` and returns the master key of the
/// first that opens. No key file opening is [`Error::ForeignPassword`].
pub fn open_master_key(storage: &dyn Storage, password: &[u8]) -> Result<MasterKey> {
    let mut keys = storage.list(KEYS_PREFIX)?;
    keys.sort_by(|a, b| a.key.cmp(&b.key));
    if keys.is_empty() {
        return Err(Error::NoRepository(format!(
            "{} (no restic key files)",
            storage.location()
        )));
    }
    for k in keys {
        let bytes = storage.get(&k.key)?;
        if let Some(master) = try_key_file(&bytes, password)? {
            return Ok(master);
        }
    }
    Err(Error::ForeignPassword(format!(
        "the restic repository at {}",
        storage.location()
    )))
}

/// The master key if `password` opens this key file, `None` if it does not.
pub fn try_key_file(bytes: &[u8], password: &[u8]) -> Result<Option<MasterKey>> {
    let kf: KeyFile =
        serde_json::from_slice(bytes).map_err(|e| corrupt("restic key file", e.to_string()))?;
    if kf.kdf != "scrypt" {
        return Err(corrupt(
            "restic key file",
            format!("unknown kdf {:?}", kf.kdf),
        ));
    }
    let params = scrypt_params(kf.n, kf.r, kf.p)?;
    let salt = decode_base64(&kf.salt, "restic key file")?;
    let data = decode_base64(&kf.data, "restic key file")?;
    let mut derived = Zeroizing::new([0u8; 64]);
    scrypt::scrypt(password, &salt, &params, &mut derived[..])
        .map_err(|e| corrupt("restic key file", e.to_string()))?;
    let user_key = MasterKey::from_derived(&derived);
    match user_key.open(&data, "restic key file") {
        Ok(plain) => MasterKey::from_json(&Zeroizing::new(plain)).map(Some),
        Err(_) => Ok(None),
    }
}

fn scrypt_params(n: u64, r: u32, p: u32) -> Result<scrypt::Params> {
    let bad = |d: String| corrupt("restic key file", d);
    if n < 2 || !n.is_power_of_two() {
        return Err(bad(format!("scrypt N = {n} is not a power of two")));
    }
    let log_n = n.trailing_zeros() as u8;
    let memory = 128 * u64::from(r) * n;
    if log_n > MAX_LOG_N || memory > MAX_MEMORY || memory.saturating_mul(u64::from(p)) > MAX_WORK {
        return Err(bad(format!("scrypt N={n} r={r} p={p} costs too much")));
    }
    scrypt::Params::new(log_n, r, p, 64).map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    /// What restic's calibration picks (p rises on fast or loaded machines)
    /// opens; memory or work far beyond it is refused.
    #[test]
    fn restic_calibrations_pass_and_hostile_costs_do_not() {
        for (n, r, p) in [(32768, 8, 9), (65536, 8, 20), (16384, 8, 1)] {
            assert!(scrypt_params(n, r, p).is_ok(), "N={n} r={r} p={p}");
        }
        for (n, r, p) in [(1 << 22, 8, 1), (32768, 8, 100_000), (1 << 20, 64, 1)] {
            assert!(scrypt_params(n, r, p).is_err(), "N={n} r={r} p={p}");
        }
    }

    use super::*;

    #[test]
    fn hostile_key_files_are_errors() {
        for bad in [
            &b"{"[..],
            br#"{"kdf":"argon","N":2,"r":1,"p":1,"salt":"","data":""}"#,
            br#"{"kdf":"scrypt","N":3,"r":1,"p":1,"salt":"","data":""}"#,
            br#"{"kdf":"scrypt","N":1099511627776,"r":8,"p":1,"salt":"","data":""}"#,
            br#"{"kdf":"scrypt","N":32768,"r":8,"p":100000,"salt":"","data":""}"#,
            br#"{"kdf":"scrypt","N":2,"r":1,"p":1,"salt":"!!","data":""}"#,
        ] {
            assert!(
                try_key_file(bad, b"pw").is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // Well-formed but too short to open: simply not this password.
        let short = br#"{"kdf":"scrypt","N":2,"r":1,"p":1,"salt":"AAAA","data":"AAAA"}"#;
        assert!(try_key_file(short, b"pw").unwrap().is_none());
    }
}
