//! Password → key-encryption key, with Argon2id. The parameters live in each
//! key file so they can be raised later without touching the repository.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Length of the key-encryption key.
pub const KEK_LEN: usize = 32;

/// Argon2id cost parameters as stored in a key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl KdfParams {
    /// Memory used by calibration: far above argon2's 19 MiB default, because a
    /// copied key file can be attacked offline for as long as the attacker likes.
    pub const CALIBRATION_MEMORY_KIB: u32 = 256 * 1024;
    /// Upper bounds a reader accepts, so a hostile key file cannot make us
    /// allocate without limit (4 GiB, 100 passes, 64 lanes).
    pub const MAX_MEMORY_KIB: u32 = 4 * 1024 * 1024;
    const MAX_ITERATIONS: u32 = 100;
    const MAX_PARALLELISM: u32 = 64;

    /// Cheap parameters for tests only; never for real repositories.
    pub fn insecure_for_tests() -> Self {
        KdfParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }

    /// Picks parameters that take about `target` on this machine at 256 MiB.
    pub fn calibrate(target: Duration) -> Result<Self> {
        let mut p = KdfParams {
            memory_kib: Self::CALIBRATION_MEMORY_KIB,
            iterations: 1,
            parallelism: 1,
        };
        let mut salt = [0u8; 32];
        salt[0] = 1;
        loop {
            let start = Instant::now();
            p.derive(b"calibration", &salt)?;
            let took = start.elapsed();
            if took * 2 > target || p.iterations >= 16 {
                // Scale linearly to the target from the last measurement.
                let per_pass = took.as_secs_f64() / p.iterations as f64;
                let want = (target.as_secs_f64() / per_pass).round() as u32;
                p.iterations = want.clamp(1, Self::MAX_ITERATIONS);
                return Ok(p);
            }
            p.iterations *= 2;
        }
    }

    /// Rejects parameters outside what a reader will run.
    pub fn validate(&self) -> Result<()> {
        let ok = (8..=Self::MAX_MEMORY_KIB).contains(&self.memory_kib)
            && (1..=Self::MAX_ITERATIONS).contains(&self.iterations)
            && (1..=Self::MAX_PARALLELISM).contains(&self.parallelism)
            && self.memory_kib >= 8 * self.parallelism;
        if ok {
            Ok(())
        } else {
            Err(Error::corrupt(
                "key file",
                format!("KDF parameters out of range: {self:?}"),
            ))
        }
    }

    /// Derives the key-encryption key from a password and salt.
    pub fn derive(
        &self,
        password: &[u8],
        salt: &[u8],
    ) -> Result<zeroize::Zeroizing<[u8; KEK_LEN]>> {
        self.validate()?;
        let params = argon2::Params::new(
            self.memory_kib,
            self.iterations,
            self.parallelism,
            Some(KEK_LEN),
        )
        .map_err(|e| Error::corrupt("key file", format!("KDF parameters: {e}")))?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = zeroize::Zeroizing::new([0u8; KEK_LEN]);
        argon
            .hash_password_into(password, salt, out.as_mut())
            .map_err(|e| Error::corrupt("key file", format!("KDF: {e}")))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_known_answer() {
        // Fixed vector so an argon2 crate upgrade can never change derived keys:
        // Argon2id v0x13, m = 64 KiB, t = 1, p = 1, 32-byte output.
        let p = KdfParams::insecure_for_tests();
        let k = p.derive(b"password", b"saltsaltsaltsalt").unwrap();
        assert_eq!(
            hex::encode(*k),
            "59bf4338b29483094be5f8da77db5f08f534481028d0f118fdebc9461c2d511d"
        );
        let other = p.derive(b"passwore", b"saltsaltsaltsalt").unwrap();
        assert_ne!(*k, *other);
    }

    #[test]
    fn hostile_parameters_are_refused() {
        let mut p = KdfParams::insecure_for_tests();
        p.memory_kib = u32::MAX;
        assert!(p.derive(b"x", b"saltsaltsaltsalt").is_err());
        p = KdfParams::insecure_for_tests();
        p.iterations = 0;
        assert!(p.validate().is_err());
    }
}
