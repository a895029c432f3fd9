//! Benchmark helper (benches/serve.sh): gives a repository many snapshots
//! quickly, so listing costs can be measured at 10,000 snapshots without
//! 10,000 backups. It re-saves the newest snapshot N times, each an hour
//! earlier than the one before (same tree, so nothing else is written).
//!
//! Usage: `CAIRN_PASSWORD=... fill_snapshots REPO N [CACHE_DIR]`

use cairn::repo::{OpenOptions, Repository, SnapshotFilter};
use cairn::storage::open_location;

fn main() -> cairn::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(location), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse::<i64>().ok()))
    else {
        eprintln!("usage: CAIRN_PASSWORD=... fill_snapshots REPO N [CACHE_DIR]");
        std::process::exit(2);
    };
    let password = std::env::var("CAIRN_PASSWORD")
        .map_err(|_| cairn::Error::Usage("set CAIRN_PASSWORD".into()))?;
    let open = OpenOptions {
        cache_dir: args.get(3).map(Into::into),
        ..Default::default()
    };
    let repo = Repository::open(open_location(location, false)?, password.as_bytes(), open)?;
    let newest = repo.find_snapshot("latest", &SnapshotFilter::default())?;
    for i in 1..=n {
        let mut s = newest.snapshot.clone();
        s.time.secs -= i * 3600;
        s.parent = None;
        repo.save_snapshot(&s)?;
    }
    println!("saved {n} snapshots");
    Ok(())
}
