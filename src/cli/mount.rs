//! `cairn mount`: serve the repository as a filesystem until SIGINT,
//! SIGTERM or SIGHUP (or an unmount from outside), then unmount cleanly.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use cairn::mount::{mount, parse_size, MountOptions};
use cairn::{Error, Result};

use crate::cli::args::Global;
use crate::cli::{exit, open};

#[derive(Args, Debug)]
pub struct MountArgs {
    /// An existing directory to mount on.
    pub mountpoint: PathBuf,
    /// Memory for decrypted chunks (e.g. 256MiB, 1GiB).
    #[arg(long, default_value = "256MiB", value_parser = size)]
    pub cache_size: u64,
    /// How far ahead of sequential readers to fetch (0 turns it off).
    #[arg(long, default_value = "16MiB", value_parser = size)]
    pub readahead: u64,
    /// Re-read the snapshot list at most this often, in seconds.
    #[arg(long, default_value_t = 3.0)]
    pub refresh_secs: f64,
    /// Let other users see the mount (needs user_allow_other in /etc/fuse.conf).
    #[arg(long)]
    pub allow_other: bool,
}

fn size(s: &str) -> std::result::Result<u64, String> {
    parse_size(s).map_err(|e| e.to_string())
}

pub fn run(g: &Global, a: MountArgs) -> Result<i32> {
    if !a.refresh_secs.is_finite() || a.refresh_secs < 0.0 {
        return Err(Error::Usage("--refresh-secs must be 0 or more".into()));
    }
    let repo = Arc::new(open::open(g, false)?);
    let opts = MountOptions {
        cache_size: a.cache_size,
        readahead: a.readahead,
        refresh: Duration::from_secs_f64(a.refresh_secs),
        allow_other: a.allow_other,
        ..MountOptions::default()
    };
    // Listen before mounting so that a signal never finds the mount
    // without a handler.
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| Error::Internal(format!("signal handlers: {e}")))?;
    let mounted = mount(repo, &a.mountpoint, &opts)?;
    if !g.quiet {
        eprintln!(
            "repository mounted at {}; Ctrl-C unmounts",
            a.mountpoint.display()
        );
    }
    loop {
        if signals.pending().next().is_some() || mounted.is_finished() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    mounted.unmount()?;
    if !g.quiet {
        eprintln!("unmounted {}", a.mountpoint.display());
    }
    Ok(exit::OK)
}
