//! `cairn init`: everything is checked (options, password, an empty or
//! missing location) before anything is created, and a failed init removes
//! the directory it created.

use std::path::{Path, PathBuf};

use cairn::crypto::KdfParams;
use cairn::format::config::{LockKind, RetentionLock};
use cairn::repo::{InitOptions, Repository};
use cairn::storage::Storage;
use cairn::{Error, Result};

use crate::cli::args::{Global, InitArgs, KdfArgs};
use crate::cli::{exit, open, print_json};

/// Printed by every init: restic's warning, because nothing else can
/// help a user who loses the password.
pub const LOST_PASSWORD_WARNING: &str = "\
WARNING: keep the password safe. Without it nobody, including you, can read
this repository: a lost password means all its data is lost for good.";

/// The KDF parameters `a` asks for ([`KdfParams::DEFAULT`] when none),
/// refused below the floor unless `--insecure-kdf`. Also used by `export`.
pub fn kdf_params(a: &KdfArgs) -> Result<KdfParams> {
    let d = KdfParams::DEFAULT;
    let k = KdfParams {
        memory_kib: a
            .kdf_memory_mib
            .map_or(d.memory_kib, |m| m.saturating_mul(1024)),
        iterations: a.kdf_iterations.unwrap_or(d.iterations),
        parallelism: d.parallelism,
    };
    k.validate().map_err(|_| {
        Error::Usage(format!(
            "KDF parameters out of range ({} KiB, {} passes): memory at most {} MiB, 1 to 100 passes",
            k.memory_kib,
            k.iterations,
            KdfParams::MAX_MEMORY_KIB / 1024
        ))
    })?;
    if !a.insecure_kdf {
        k.check_floor()?;
    }
    Ok(k)
}

/// The options `a` asks for, checked.
fn init_options(a: &InitArgs) -> Result<InitOptions> {
    let levels = zstd::compression_level_range();
    if a.compression != 0 && !levels.contains(&a.compression) {
        return Err(Error::Usage(format!(
            "--compression {} is outside zstd's levels {}..={} (0 stores data uncompressed)",
            a.compression,
            levels.start(),
            levels.end()
        )));
    }
    if !(1..=1024).contains(&a.pack_size_mib) {
        return Err(Error::Usage(
            "--pack-size-mib must be between 1 and 1024".into(),
        ));
    }
    Ok(InitOptions {
        kdf: Some(kdf_params(&a.kdf)?),
        pack_size: a.pack_size_mib * 1024 * 1024,
        compression: (a.compression != 0).then_some(a.compression),
        lock: retention_lock(a)?,
        ..InitOptions::default()
    })
}

/// The retention lock `--object-lock` or `--lock-rules` asks for.
fn retention_lock(a: &InitArgs) -> Result<Option<RetentionLock>> {
    let (kind, days) = match (a.object_lock, a.lock_rules) {
        (Some(d), _) if a.lock_mode == "governance" => (LockKind::ObjectLockGovernance, d),
        (Some(d), _) => (LockKind::ObjectLockCompliance, d),
        (None, Some(d)) => (LockKind::BucketRules, d),
        (None, None) => return Ok(None),
    };
    if !(1..=RetentionLock::MAX_DAYS).contains(&days) {
        return Err(Error::Usage(format!(
            "the retention must be 1 to {} days",
            RetentionLock::MAX_DAYS
        )));
    }
    Ok(Some(RetentionLock { kind, days }))
}

pub fn run(g: &Global, a: InitArgs) -> Result<i32> {
    let mut opts = init_options(&a)?;
    if let Some(from) = &a.copy_chunking_from {
        opts.chunking = Some(chunking_of(g, from, a.from_password_file.as_deref())?);
    }
    let (loc, _) = open::location(g)?;
    let local = local_dir(&loc);
    if let Some(dir) = &local {
        refuse_unrelated_files(dir)?;
    }
    let pw = crate::cli::password::password(g, true)?;
    let created = local.as_deref().and_then(topmost_missing);
    let result = create(g, &loc, pw.as_bytes(), opts);
    let repo = match result {
        Ok(r) => r,
        Err(e) => {
            if let Some(dir) = created {
                remove_failed(g, &loc, &dir);
            }
            return Err(e);
        }
    };
    if !g.quiet {
        eprintln!("{LOST_PASSWORD_WARNING}");
    }
    if g.json {
        print_json(&serde_json::json!({
            "message_type": "initialized",
            "repository": loc,
            "id": hex::encode(&repo.config().repo_id),
        }))?;
    } else if !g.quiet {
        println!(
            "created repository {} at {loc}",
            hex::encode(&repo.config().repo_id[..4])
        );
    }
    Ok(exit::OK)
}

/// The chunking of the repository at `from`, opened with its own password
/// (before anything is created here, so a wrong one leaves nothing behind).
fn chunking_of(
    g: &Global,
    from: &str,
    pw_file: Option<&Path>,
) -> Result<(
    cairn::format::config::ChunkerParams,
    cairn::crypto::ChunkingKeys,
)> {
    let pw = crate::cli::password::other_password(
        pw_file,
        "--from-password-file",
        "CAIRN_FROM",
        "--copy-chunking-from repository",
    )?;
    let storage = crate::cli::storage::open(g, from, false)?;
    Repository::open(storage, pw.as_bytes(), open::open_options(g))?.shared_chunking()
}

fn create(g: &Global, loc: &str, pw: &[u8], opts: InitOptions) -> Result<Repository> {
    let storage = crate::cli::storage::open(g, loc, true)?;
    if Repository::exists(&*storage)? {
        return Err(Error::Usage(format!(
            "a repository already exists at {loc}"
        )));
    }
    if local_dir(loc).is_none() && !storage.list("")?.is_empty() {
        return Err(not_empty(loc));
    }
    Repository::init(storage, pw, opts, open::open_options(g))
}

/// The directory of a local location (not `s3:` or `r2:`).
fn local_dir(loc: &str) -> Option<PathBuf> {
    (!cairn::storage::s3::is_s3_location(loc))
        .then(|| PathBuf::from(loc.strip_prefix("local:").unwrap_or(loc)))
}

fn not_empty(loc: &str) -> Error {
    Error::Usage(format!(
        "{loc} is not empty and holds no repository: init needs a new or empty location"
    ))
}

/// Refuses a directory that holds anything but a repository (a repository
/// itself is refused later, with a clearer message).
fn refuse_unrelated_files(dir: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            return Err(Error::Usage(format!(
                "{} is a file, not a directory for a repository",
                dir.display()
            )))
        }
        Err(e) => return Err(Error::file("repository directory", dir, e)),
    };
    let mut any = false;
    for e in entries {
        let e = e.map_err(|e| Error::file("repository directory", dir, e))?;
        if e.file_name() == cairn::format::layout::CONFIG {
            return Ok(());
        }
        any = true;
    }
    if any {
        return Err(not_empty(&dir.display().to_string()));
    }
    Ok(())
}

/// The outermost directory of `dir`'s path that does not exist yet: what
/// init will create, and so what a failed init removes.
fn topmost_missing(dir: &Path) -> Option<PathBuf> {
    let mut missing = None;
    for a in dir.ancestors() {
        if a.as_os_str().is_empty() || a.symlink_metadata().is_ok() {
            break;
        }
        missing = Some(a.to_path_buf());
    }
    missing
}

/// Removes the directory a failed init created, unless a repository is
/// there after all (another init won a race for the same place).
fn remove_failed(g: &Global, loc: &str, dir: &Path) {
    let won_by_other = crate::cli::storage::open(g, loc, false)
        .and_then(|s| Repository::exists(&*s))
        .unwrap_or(true);
    if !won_by_other {
        let _ = std::fs::remove_dir_all(dir);
    }
}
