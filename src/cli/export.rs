//! `cairn export` and `cairn import`: snapshots in and out as bundles.

use std::path::PathBuf;

use clap::Args;
use zeroize::Zeroizing;

use cairn::export::bundle::{export_bundle, import_bundle, ExportOptions};
use cairn::{Error, Result};

use crate::cli::args::{Filter, Global, KdfArgs};
use crate::cli::output::{bytes, Output};
use crate::cli::{exit, open, print_json, summary_json};

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Snapshots to export (id prefixes or "latest").
    #[arg(required = true)]
    pub snapshots: Vec<String>,
    /// The bundle file to write.
    #[arg(long)]
    pub to: PathBuf,
    /// Read the bundle password from this file (else $CAIRN_BUNDLE_PASSWORD).
    #[arg(long)]
    pub bundle_password_file: Option<PathBuf>,
    /// Replace the bundle file if it exists.
    #[arg(long)]
    pub force: bool,
    /// The bundle password's Argon2id cost.
    #[command(flatten)]
    pub kdf: KdfArgs,
    #[command(flatten)]
    pub filter: Filter,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The bundle file to import.
    pub bundle: PathBuf,
    /// Read the bundle password from this file (else $CAIRN_BUNDLE_PASSWORD).
    #[arg(long)]
    pub bundle_password_file: Option<PathBuf>,
}

/// The bundle password: `--bundle-password-file`, then `$CAIRN_BUNDLE_PASSWORD`.
fn bundle_password(file: &Option<PathBuf>) -> Result<Zeroizing<String>> {
    if let Some(f) = file {
        let s =
            std::fs::read_to_string(f).map_err(|e| Error::file("bundle password file", f, e))?;
        return Ok(Zeroizing::new(s.trim_end_matches(['\n', '\r']).to_string()));
    }
    match std::env::var("CAIRN_BUNDLE_PASSWORD") {
        Ok(p) if !p.is_empty() => Ok(Zeroizing::new(p)),
        _ => Err(Error::Usage(
            "no bundle password: use --bundle-password-file or set CAIRN_BUNDLE_PASSWORD".into(),
        )),
    }
}

pub fn export(g: &Global, a: ExportArgs) -> Result<i32> {
    let pw = bundle_password(&a.bundle_password_file)?;
    let kdf = crate::cli::init::kdf_params(&a.kdf)?;
    if !a.force && a.to.symlink_metadata().is_ok() {
        return Err(Error::Usage(format!(
            "{} exists: --force replaces it",
            a.to.display()
        )));
    }
    let repo = open::open(g, false)?;
    let filter = a.filter.to_filter();
    let snaps = a
        .snapshots
        .iter()
        .map(|s| repo.find_snapshot(s, &filter))
        .collect::<Result<Vec<_>>>()?;
    let mut seen = std::collections::HashSet::new();
    let snaps: Vec<_> = snaps.into_iter().filter(|s| seen.insert(s.id)).collect();
    // Written beside the target and renamed at the end: a failed export
    // leaves no half bundle behind.
    let mut tmp_name = a.to.as_os_str().to_owned();
    tmp_name.push(".partial");
    let tmp = PathBuf::from(tmp_name);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| Error::io(&tmp, e))?;
    let opts = ExportOptions {
        kdf,
        compression: repo.config().compression,
    };
    let progress = Output::new(g);
    let written = export_bundle(
        &repo,
        &snaps,
        pw.as_bytes(),
        &opts,
        std::io::BufWriter::with_capacity(1 << 20, file),
        &progress,
    )
    .map_err(|e| match e {
        Error::Io { path, source } if path.as_os_str() == "<bundle>" => {
            Error::file("bundle being written", &tmp, source)
        }
        e => e,
    })
    .and_then(|(out, stats)| {
        let file = out
            .into_inner()
            .map_err(|e| Error::io(&tmp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &a.to).map_err(|e| Error::io(&a.to, e))?;
        Ok(stats)
    });
    progress.clear();
    let stats = match written {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if g.json {
        let v = summary_json(&stats)?;
        print_json(&v)?;
    } else if !g.quiet {
        println!(
            "exported {} snapshots ({} data and {} tree blobs, {}) to {} ({})",
            stats.snapshots,
            stats.data_blobs,
            stats.tree_blobs,
            bytes(stats.bytes),
            a.to.display(),
            bytes(stats.bundle_bytes)
        );
    }
    Ok(exit::OK)
}

pub fn import(g: &Global, a: ImportArgs) -> Result<i32> {
    let pw = bundle_password(&a.bundle_password_file)?;
    let file = std::fs::File::open(&a.bundle).map_err(|e| Error::file("bundle", &a.bundle, e))?;
    let repo = open::open(g, false)?;
    let progress = Output::new(g);
    let stats = import_bundle(&repo, pw.as_bytes(), file, &progress)
        .map_err(|e| name_bundle(e, &a.bundle))?;
    progress.clear();
    if g.json {
        let v = summary_json(&stats)?;
        print_json(&v)?;
    } else if !g.quiet {
        println!(
            "imported {} snapshots ({} already present); {} of {} blobs new, {} stored{}",
            stats.snapshots_added,
            stats.snapshots_present,
            stats.write.blobs_added,
            stats.data_blobs + stats.tree_blobs,
            bytes(stats.write.bytes_stored),
            if stats.ids_rewritten {
                "; ids recomputed for this repository's key"
            } else {
                ""
            }
        );
    }
    Ok(exit::OK)
}

/// Puts the bundle's path into an import error (the library reads from any
/// reader and does not know it).
fn name_bundle(e: Error, path: &std::path::Path) -> Error {
    let name = path.display();
    match e {
        Error::Io { path: p, source } if p.as_os_str() == "<bundle>" => {
            Error::file("bundle", path, source)
        }
        Error::Corrupt { what, detail } => Error::Corrupt {
            what: format!("{what} {name}"),
            detail,
        },
        Error::Usage(m) => Error::Usage(format!("{name}: {m}")),
        Error::BundlePassword(m) => Error::BundlePassword(format!("{name}: {m}")),
        e => e,
    }
}
