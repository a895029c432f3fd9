//! Password → key-encryption key, with Argon2id. The parameters live in each
//! key file so they can be raised later without touching the repository.

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
    /// What new key files and bundles get: RFC 9106's second recommended
    /// option (Argon2id, 64 MiB, 3 passes, 4 lanes). About 0.2 s of one core
    /// and 64 MiB, paid by every command; the lanes run in parallel (see
    /// `in_own_pool`), so on 2 cores opening took 0.135 s instead of 0.20.
    /// An attacker's cost is unchanged: lanes exist to be computed in
    /// parallel. The reasoning against restic's scrypt and the peers is in
    /// format-spec/08-keyfile.md.
    pub const DEFAULT: KdfParams = KdfParams {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 4,
    };
    /// The least memory a user may choose without `--insecure-kdf`: OWASP's
    /// smallest recommended Argon2id memory (19 MiB, with 2 passes).
    pub const FLOOR_MEMORY_KIB: u32 = 19 * 1024;
    /// The least memory × passes without `--insecure-kdf` (KiB·passes):
    /// OWASP's options all spend about this (19 MiB × 2; 46 MiB × 1 is
    /// above it), so 19 MiB needs 2 passes and 38 MiB or more needs one.
    pub const FLOOR_WORK_KIB: u64 = 2 * 19 * 1024;
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

    /// Refuses parameters a user should not choose for a new key file:
    /// below [`Self::FLOOR_MEMORY_KIB`] or [`Self::FLOOR_WORK_KIB`]. Readers
    /// do not apply it: an existing key file keeps the cost it was made with.
    pub fn check_floor(&self) -> Result<()> {
        let work = self.memory_kib as u64 * self.iterations as u64;
        if self.memory_kib >= Self::FLOOR_MEMORY_KIB && work >= Self::FLOOR_WORK_KIB {
            return Ok(());
        }
        Err(Error::Usage(format!(
            "KDF parameters too weak ({} KiB, {} passes): at least 19 MiB, and memory × \
             passes at least 38 MiB (19 MiB needs 2 passes); --insecure-kdf allows it anyway",
            self.memory_kib, self.iterations
        )))
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
        in_own_pool(self.parallelism, || {
            argon.hash_password_into(password, salt, out.as_mut())
        })
        .map_err(|e| Error::corrupt("key file", format!("KDF: {e}")))?;
        Ok(out)
    }
}

/// Runs `f` (whose lanes argon2 hands to rayon) on a pool of its own, one
/// thread per lane up to the cores: on rayon's global pool, opening a
/// repository in `serve` would wait for another job's `check` to leave
/// the pool. A pool that cannot be built leaves the global one.
fn in_own_pool<T: Send>(lanes: u32, f: impl FnOnce() -> T + Send) -> T {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (lanes as usize).clamp(1, cores);
    match rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("kdf-{i}"))
        .build()
    {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
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

    /// Several lanes, as the default has: computed in parallel since argon2
    /// 0.6, they must give the keys argon2 0.5 gave one lane at a time
    /// (vectors from argon2 0.5.3; the second is the default itself).
    #[test]
    fn argon2id_known_answers_with_four_lanes() {
        let four = |memory_kib| KdfParams {
            memory_kib,
            iterations: 3,
            parallelism: 4,
        };
        for (params, want) in [
            (
                four(4096),
                "7f77af0c247ce317b69574fc9ccf5008a4749a932a0e288efe69e5a7a3798761",
            ),
            (
                KdfParams::DEFAULT,
                "ac15942c3e63386a50cb7dab2ef19c9af40c56a2153409ab0ad7a45af500f1bc",
            ),
        ] {
            let k = params.derive(b"password", b"saltsaltsaltsalt").unwrap();
            assert_eq!(hex::encode(*k), want, "{params:?}");
        }
    }

    /// A derivation finishes while every thread of rayon's global pool is
    /// busy (another job's `check` in `serve`): it has a pool of its own.
    #[test]
    fn a_busy_global_pool_does_not_hold_up_a_derivation() {
        let busy = rayon::current_num_threads();
        let (started, running) = std::sync::mpsc::channel();
        let held = std::sync::Arc::new(std::sync::Mutex::new(()));
        let guard = held.lock().unwrap();
        for _ in 0..busy {
            let (held, started) = (held.clone(), started.clone());
            rayon::spawn(move || {
                started.send(()).unwrap();
                drop(held.lock());
            });
        }
        for _ in 0..busy {
            running.recv().unwrap();
        }
        let (done, finished) = std::sync::mpsc::channel();
        let params = KdfParams {
            memory_kib: 256,
            iterations: 1,
            parallelism: 4,
        };
        std::thread::spawn(move || {
            done.send(params.derive(b"password", b"saltsaltsaltsalt").is_ok())
        });
        let result = finished.recv_timeout(std::time::Duration::from_secs(30));
        drop(guard);
        assert_eq!(
            result,
            Ok(true),
            "the derivation waited for the global pool"
        );
    }

    #[test]
    fn the_floor_refuses_weak_choices_but_not_the_default() {
        KdfParams::DEFAULT.validate().unwrap();
        KdfParams::DEFAULT.check_floor().unwrap();
        let at = |m: u32, t: u32| KdfParams {
            memory_kib: m * 1024,
            iterations: t,
            parallelism: 1,
        };
        at(19, 2).check_floor().unwrap();
        at(38, 1).check_floor().unwrap();
        for weak in [at(1, 1), at(18, 10), at(19, 1), at(37, 1)] {
            let e = weak.check_floor().unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Usage, "{weak:?}");
            assert!(e.to_string().contains("--insecure-kdf"), "{e}");
        }
        assert!(KdfParams::insecure_for_tests().check_floor().is_err());
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
