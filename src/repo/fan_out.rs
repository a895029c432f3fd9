//! Many small reads at once. Opening a repository reads every new index
//! file and listing snapshots reads every snapshot file: a few hundred
//! small objects, where one at a time costs a round trip each (30 ms to R2
//! makes 300 files nine seconds). Each read blocks a thread; the S3 backend
//! bounds what is really in flight by its connections.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Threads reading at once: room for the S3 backend's adaptive limit to
/// grow past its start of 8 when round trips are long (storage/s3/limit.rs
/// decides how many really go out), few enough to stay cheap on a disk.
pub const FETCH_WIDTH: usize = 32;

/// `f` of every item, in the items' order, run on up to [`FETCH_WIDTH`]
/// threads.
pub fn fetch_all<I: Sync, T: Send>(items: &[I], f: impl Fn(&I) -> T + Sync) -> Vec<T> {
    if items.len() <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..FETCH_WIDTH.min(items.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|r| r.expect("every item was fetched"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_items_order() {
        let items: Vec<u64> = (0..100).collect();
        let out = fetch_all(&items, |i| {
            std::thread::sleep(std::time::Duration::from_micros(100 - i));
            i * 2
        });
        assert_eq!(out, (0..100).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(fetch_all(&[7u8], |i| *i), vec![7]);
        assert!(fetch_all(&[] as &[u8], |i| *i).is_empty());
    }

    #[test]
    fn reads_overlap() {
        // 32 reads of 50 ms each take far less than 1.6 s when they overlap;
        // counted by the most running at once, not by time.
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        fetch_all(&[(); 32], |_| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(50));
            running.fetch_sub(1, Ordering::SeqCst);
        });
        assert!(peak.load(Ordering::SeqCst) > 1);
    }
}
