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

    /// Waiters are woken once a quarter of the budget is free, not at every
    /// release: the reader then refills the queue in one go instead of
    /// waking once per chunk the workers finish. Progress is certain as long
    /// as what is in flight gets released without waiting for the waiter
    /// (the reader is the one acquirer; the workers only release), since
    /// `used` then drains to zero.
    pub fn release(&self, n: usize) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.used = st.used.saturating_sub(n);
        if st.waiting > 0 && st.used <= self.limit - self.limit / 4 {
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

    #[test]
    fn a_waiter_whose_item_fits_above_three_quarters_still_gets_through() {
        // 90 of 100 in flight as nine items; the waiter wants 20. Releasing
        // one item leaves 80 (it would fit, but above the wake-up mark);
        // the rest drain after a pause, and the waiter must get through.
        let b = Budget::new(100);
        for _ in 0..9 {
            b.acquire(10);
        }
        std::thread::scope(|s| {
            let waiter = s.spawn(|| b.acquire(20));
            std::thread::sleep(std::time::Duration::from_millis(20));
            b.release(10);
            std::thread::sleep(std::time::Duration::from_millis(20));
            for _ in 0..8 {
                b.release(10);
            }
            waiter.join().unwrap();
        });
        b.release(20);
        assert_eq!(b.state.lock().unwrap().used, 0);
    }
}
