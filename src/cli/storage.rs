//! Backend flags (`--s3-*`, `--stats`), opening the storage a command uses,
//! and reporting what the command cost on the backend.

use std::sync::{Arc, Mutex};

use clap::Args;

use cairn::storage::s3::S3Options;
use cairn::storage::stats::{StatsHandle, StorageStats, WireStats};
use cairn::storage::{open_location_with, Storage, StorageOptions};
use cairn::Result;

use crate::cli::args::Global;

/// Global flags for the storage backend.
#[derive(Args, Debug, Clone, Default)]
pub struct BackendArgs {
    /// Report the backend requests (by billing class) and bytes this command cost.
    #[arg(long, global = true)]
    pub stats: bool,
    /// S3: address buckets as ENDPOINT/BUCKET (default: on for IP and localhost endpoints).
    #[arg(long, env = "CAIRN_S3_PATH_STYLE", global = true, value_name = "BOOL",
          num_args = 0..=1, default_missing_value = "true")]
    pub s3_path_style: Option<bool>,
    /// S3: region to sign for (default: AWS_REGION, "auto" for R2, else us-east-1).
    #[arg(long, env = "CAIRN_S3_REGION", global = true)]
    pub s3_region: Option<String>,
    /// S3: requests and pack uploads in flight at once, fixed [default: from
    /// 8, adapting to the store's round trips].
    #[arg(long, env = "CAIRN_S3_CONNECTIONS", global = true,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub s3_connections: Option<u16>,
}

impl BackendArgs {
    /// `base` (a `-P` profile's settings, or the defaults) with the flags
    /// given on top: a flag on the command line wins.
    pub fn over(&self, mut base: StorageOptions) -> StorageOptions {
        let s3: &mut S3Options = &mut base.s3;
        if self.s3_path_style.is_some() {
            s3.path_style = self.s3_path_style;
        }
        if self.s3_region.is_some() {
            s3.region = self.s3_region.clone();
        }
        if let Some(n) = self.s3_connections {
            s3.connections = n as usize;
            s3.adaptive = false;
        }
        base
    }
}

/// The counters of every storage this process opened (one per command).
static OPENED: Mutex<Vec<StatsHandle>> = Mutex::new(Vec::new());

/// Opens the storage at `location` with the global backend flags, and keeps
/// its counters for [`report`].
/// With `-P`, the profile's S3 settings and keys, under the flags.
pub fn open(g: &Global, location: &str, create: bool) -> Result<Arc<dyn Storage>> {
    let base = match crate::cli::open::profile(g)? {
        Some((name, r)) => r.storage_options(&name)?,
        None => StorageOptions::default(),
    };
    let opened = open_location_with(location, create, &g.backend.over(base))?;
    OPENED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(opened.stats);
    Ok(opened.storage)
}

/// Everything the opened storages did so far.
fn totals() -> Option<StorageStats> {
    let handles = OPENED.lock().unwrap_or_else(|p| p.into_inner());
    let mut it = handles.iter().map(StatsHandle::snapshot);
    let mut t = it.next()?;
    for s in it {
        t.puts += s.puts;
        t.lists += s.lists;
        t.gets += s.gets;
        t.deletes += s.deletes;
        t.write_list_requests += s.write_list_requests;
        t.read_requests += s.read_requests;
        t.bytes_up += s.bytes_up;
        t.bytes_down += s.bytes_down;
        t.errors += s.errors;
        t.wire = match (t.wire, s.wire) {
            (Some(a), Some(b)) => Some(WireStats {
                requests: a.requests + b.requests,
                class_a: a.class_a + b.class_a,
                class_b: a.class_b + b.class_b,
                free: a.free + b.free,
            }),
            (a, b) => a.or(b),
        };
    }
    Some(t)
}

/// With `--stats`: one line to stderr, a `storage_stats` JSON line there
/// with `--json` (stdout holds only the command's result).
pub fn report(g: &Global) {
    if !g.backend.stats {
        return;
    }
    let t = totals().unwrap_or_default();
    if g.json {
        let mut v = serde_json::to_value(t).unwrap_or_default();
        v["message_type"] = "storage_stats".into();
        eprintln!("{v}");
    } else {
        eprintln!(
            "storage: {} requests: {} write/list (class A: {} puts, {} lists), {} reads (class B), {} deletes; {} up, {} down; {} errors",
            t.write_list_requests + t.read_requests + t.deletes,
            t.write_list_requests,
            t.puts,
            t.lists,
            t.read_requests,
            t.deletes,
            human(t.bytes_up),
            human(t.bytes_down),
            t.errors
        );
        if let Some(w) = t.wire {
            eprintln!(
                "storage: {} HTTP requests sent (retries and upload parts included): {} class A, {} class B, {} deletes",
                w.requests, w.class_a, w.class_b, w.free
            );
        }
    }
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
