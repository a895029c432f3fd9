//! A byte budget for chunks between the reader and the sealing workers, so
//! memory in flight is bounded by bytes rather than by a count of chunks
//! that may each be up to the chunker's maximum size.

use std::sync::{Condvar, Mutex};

pub struct Budget {
    limit: usize,
    state: Mutex<State>,
    freed: Condvar,
}

struct State {
    used: usize,
    /// Threads waiting in `acquire`: releases wake nobody when there are
    /// none (every wake is a syscall, and there is one release per chunk).
    waiting: usize,
}

impl Budget {
    pub fn new(limit: usize) -> Self {
        Budget {
            limit,
            state: Mutex::new(State {
                used: 0,
                waiting: 0,
            }),
            freed: Condvar::new(),
        }
    }

    /// Waits until `n` bytes fit. A single item larger than the whole budget
    /// is let through once nothing else is in flight, so progress is certain.
    pub fn acquire(&self, n: usize) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while st.used > 0 && st.used + n > self.limit {
            st.waiting += 1;
            st = self.freed.wait(st).unwrap_or_else(|p| p.into_inner());
            st.waiting -= 1;
        }
        st.used += n;
    }

    /// A guard that releases `n` bytes when dropped, panics included.
    pub fn hold(&self, n: usize) -> Held<'_> {
        Held { budget: self, n }
    }

    /// Waiters are woken once a quarter of the budget is free (or all of
    /// it), not at every release: the reader then refills the queue in one
    /// go instead of waking once per chunk the workers finish. Progress is
    /// certain: whatever is in flight is released in the end, down to zero.
    pub fn release(&self, n: usize) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.used = st.used.saturating_sub(n);
        if st.waiting > 0 && (st.used == 0 || st.used <= self.limit - self.limit / 4) {
            self.freed.notify_all();
        }
    }
}

/// Bytes acquired by the reader, released by whoever finishes with them.
pub struct Held<'a> {
    budget: &'a Budget,
    n: usize,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.budget.release(self.n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn never_exceeds_the_limit_except_for_one_oversized_item() {
        let b = Budget::new(100);
        let peak = AtomicUsize::new(0);
        let now = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for t in 0..4 {
                let (b, peak, now) = (&b, &peak, &now);
                s.spawn(move || {
                    for i in 0..200 {
                        let n = 10 + (i * 7 + t) % 40;
                        b.acquire(n);
                        let cur = now.fetch_add(n, Ordering::SeqCst) + n;
                        peak.fetch_max(cur, Ordering::SeqCst);
                        now.fetch_sub(n, Ordering::SeqCst);
                        b.release(n);
                    }
                });
            }
        });
        assert!(peak.load(Ordering::SeqCst) <= 100);
        b.acquire(1000);
        b.release(1000);
    }
}
