//! How many requests one bucket client has in flight.
//!
//! No fixed number fits every store: SeaweedFS on a LAN is busy with 8,
//! while R2 80 ms away needs a bandwidth-delay product of small requests
//! in flight before the link is full. So by default the number adapts: it
//! climbs while more requests in flight finish more requests per second,
//! and goes back to the best number seen once they stop doing so (the
//! store or the link is full; more would only queue). A store that
//! throttles (HTTP 429/503) halves it. A number the user sets
//! (`--s3-connections`, `--source-connections`) stays fixed.
//!
//! It is a climb on the thing wanted, completions per second, measured in
//! rounds of as many completions as there are slots. Latency rules (TCP
//! Vegas, Gradient: `tower-acc`) were tried first: they read a queue into
//! every jitter of a store's own service time and swung between the floor
//! and the ceiling on a simulated busy store (limit_tests.rs). Rounds in
//! which a quarter or more of the requests ended with a slot free (a
//! restore with four threads) say nothing about the store and change
//! nothing; time with nothing in flight is not counted. Requests are
//! counted, not bytes: a phase that moves from large reads to small ones
//! may look like a gain or a loss for one judgement, which the next
//! climb (every [`HOLD_ROUNDS`] rounds) corrects.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

/// The most requests an adaptive client has in flight: far more than
/// any store we measured needs, few enough to stay polite to a shared one.
pub const ADAPTIVE_CEILING: usize = 64;

/// The fewest slots an adaptive client shrinks to (its start, if lower):
/// as many as a restore's or an upload's threads want at once.
const FLOOR: usize = 4;

/// The least gain a step up must show to count (see [`needed`]).
const MIN_GAIN: f64 = 1.05;

/// Rounds measured at a new number before it is judged: one round's rate
/// varies by a sixth with the store's answers.
const MEASURED_ROUNDS: u32 = 2;

/// Completions in the shortest round.
const MIN_ROUND: usize = 16;

/// Rounds spent at the best number before climbing again, in case the
/// link or the store got faster.
const HOLD_ROUNDS: u32 = 8;

/// A resizable count of request slots; see the module header.
pub(super) struct Limiter {
    slots: Semaphore,
    state: Mutex<State>,
    /// The clock rounds are timed by (the simulations use `State::now`).
    #[cfg_attr(test, allow(dead_code))]
    epoch: Instant,
}

struct State {
    climb: Option<Climb>,
    /// Slots that exist: free in `slots` or held.
    slots: usize,
    /// Held slots to drop when they are given back (a shrink that found
    /// too few free ones).
    owed: usize,
    in_flight: usize,
    peak: usize,
    /// The virtual clock of the simulations (limit_tests.rs).
    #[cfg(test)]
    now: Duration,
}

/// The adaptive rule's state: the current round and the best seen.
struct Climb {
    floor: usize,
    ceiling: usize,
    round_start: Duration,
    round_done: usize,
    /// Completions of the round that found every slot busy.
    round_full: usize,
    throttled: bool,
    /// Completions per second of the best round, and its number of slots.
    best: Option<(f64, usize)>,
    hold: u32,
    /// The sum and count of the rates measured at the current number.
    rates: (f64, u32),
    /// The next round follows a change: it is not measured.
    settle: bool,
    /// A step up has failed to pay: later steps are smaller.
    refused: bool,
}

impl Limiter {
    /// `connections` slots; when `adaptive`, moving between [`FLOOR`] (or
    /// `connections`, if lower) and [`ADAPTIVE_CEILING`] (or `connections`,
    /// if higher).
    pub fn new(connections: usize, adaptive: bool) -> Limiter {
        let start = connections.max(1);
        let climb = adaptive.then(|| Climb {
            floor: FLOOR.min(start),
            ceiling: start.max(ADAPTIVE_CEILING),
            round_start: Duration::ZERO,
            round_done: 0,
            round_full: 0,
            throttled: false,
            best: None,
            hold: 0,
            rates: (0.0, 0),
            settle: false,
            refused: false,
        });
        Limiter {
            slots: Semaphore::new(start),
            state: Mutex::new(State {
                climb,
                slots: start,
                owed: 0,
                in_flight: 0,
                peak: 0,
                #[cfg(test)]
                now: Duration::ZERO,
            }),
            epoch: Instant::now(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a slot. The semaphore is never closed.
    pub async fn acquire(&self) -> Permit<'_> {
        let permit = match self.slots.acquire().await {
            Ok(p) => p,
            Err(_) => unreachable!("the request semaphore is never closed"),
        };
        self.held(permit)
    }

    /// A slot if one is free now.
    #[cfg(test)]
    fn try_acquire(&self) -> Option<Permit<'_>> {
        let permit = self.slots.try_acquire().ok()?;
        Some(self.held(permit))
    }

    fn held<'a>(&'a self, permit: SemaphorePermit<'a>) -> Permit<'a> {
        let mut st = self.state();
        if st.in_flight == 0 {
            // Nothing was in flight: the time since is not the store's.
            let now = self.now(&st);
            if let Some(c) = st.climb.as_mut() {
                (c.round_start, c.round_done, c.round_full) = (now, 0, 0);
            }
        }
        st.in_flight += 1;
        st.peak = st.peak.max(st.in_flight);
        Permit {
            limiter: self,
            permit: Some(permit),
        }
    }

    /// The store answered 429 or 503: the current round ends with a halving,
    /// unless the number just changed (the answer is to requests sent
    /// under the old one, a halving may already be under way).
    pub fn throttled(&self) {
        if let Some(c) = self.state().climb.as_mut() {
            c.throttled |= !c.settle;
        }
    }

    /// The clock rounds are timed by.
    fn now(&self, st: &State) -> Duration {
        #[cfg(test)]
        return st.now;
        #[cfg(not(test))]
        {
            let _ = st;
            self.epoch.elapsed()
        }
    }

    /// One request finished (its slot is still held).
    fn completed(&self, st: &mut State) {
        let now = self.now(st);
        let limit = st.slots - st.owed;
        let full = st.in_flight >= limit;
        let Some(c) = st.climb.as_mut() else {
            return;
        };
        c.round_done += 1;
        c.round_full += usize::from(full);
        if c.round_done < limit.max(MIN_ROUND) && !c.throttled {
            return;
        }
        let elapsed = now.saturating_sub(c.round_start).as_secs_f64();
        let rate = c.round_done as f64 / elapsed.max(1e-6);
        let target = c.next(limit, rate);
        (c.round_start, c.round_done, c.round_full, c.throttled) = (now, 0, 0, false);
        if target != limit {
            tracing::debug!(target: "cairn::http", "requests in flight: at most {target}");
            self.resize(st, target);
        }
    }

    fn resize(&self, st: &mut State, target: usize) {
        let now = st.slots - st.owed;
        if target > now {
            let mut add = target - now;
            let cancelled = add.min(st.owed);
            st.owed -= cancelled;
            add -= cancelled;
            self.slots.add_permits(add);
            st.slots += add;
        } else if target < now {
            let cut = now - target;
            let forgotten = self.slots.forget_permits(cut);
            st.slots -= forgotten;
            st.owed += cut - forgotten;
        }
    }

    /// The most slots there can be.
    pub fn ceiling(&self) -> usize {
        let st = self.state();
        st.climb.as_ref().map_or(st.slots, |c| c.ceiling)
    }

    /// The slots there are now (in use or free).
    #[cfg(test)]
    pub fn limit(&self) -> usize {
        let st = self.state();
        st.slots - st.owed
    }

    /// The most requests that were in flight at once.
    pub fn peak(&self) -> usize {
        self.state().peak
    }
}

impl Climb {
    /// The number of slots after a round at `limit` that finished `rate`
    /// requests per second.
    fn next(&mut self, limit: usize, rate: f64) -> usize {
        if self.throttled {
            self.best = None;
            self.hold = HOLD_ROUNDS;
            return self.change(limit, limit / 2);
        }
        // A round right after a change: its first completions were sent
        // under the old number. One where slots were often free: the store
        // was not what held requests back. Neither is measured.
        let settling = std::mem::take(&mut self.settle);
        if settling || self.round_full * 4 < self.round_done * 3 {
            return limit;
        }
        self.rates.0 += rate;
        self.rates.1 += 1;
        let measured = self.rates.0 / f64::from(self.rates.1);
        if self.hold > 0 {
            self.hold -= 1;
            if self.hold > 0 {
                return limit;
            }
            // Held long enough: the best number's rate, then look higher.
            self.best = Some((measured, limit));
            return self.change(limit, self.climb(limit));
        }
        if self.rates.1 < MEASURED_ROUNDS {
            return limit;
        }
        match self.best {
            Some((best, at)) if at != limit && measured < best * needed(at, limit) => {
                // Not enough better than the best: back to it, for a while.
                self.hold = HOLD_ROUNDS;
                self.refused = true;
                self.change(limit, at)
            }
            _ => {
                self.best = Some((measured, limit));
                let next = self.climb(limit);
                if next == limit {
                    self.hold = HOLD_ROUNDS;
                }
                self.change(limit, next)
            }
        }
    }

    /// One step up: half again until a step first fails to pay, a quarter
    /// after that (at least one), or the ceiling when the step after would
    /// pass it (no step too small to measure).
    fn climb(&self, limit: usize) -> usize {
        let step = if self.refused { limit / 4 } else { limit / 2 };
        let next = limit + step.max(1);
        if next + next / 4 > self.ceiling {
            self.ceiling
        } else {
            next
        }
    }

    /// Moves from `limit` to `target` (bounded), starting a new measure.
    fn change(&mut self, limit: usize, target: usize) -> usize {
        let target = target.clamp(self.floor, self.ceiling);
        self.rates = (0.0, 0);
        self.settle = target != limit;
        target
    }
}

/// The gain in completions per second that going from `from` to `to`
/// slots must show to count: half of what it would be if the store were
/// only far away (twice the slots, twice the rate), at least [`MIN_GAIN`].
fn needed(from: usize, to: usize) -> f64 {
    let full = to as f64 / from as f64;
    (1.0 + (full - 1.0) / 2.0).max(MIN_GAIN)
}

/// A request slot, given back (or dropped, after a shrink) on drop.
pub(super) struct Permit<'a> {
    limiter: &'a Limiter,
    permit: Option<SemaphorePermit<'a>>,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut st = self.limiter.state();
        self.limiter.completed(&mut st);
        st.in_flight -= 1;
        let Some(permit) = self.permit.take() else {
            return;
        };
        if st.owed > 0 {
            st.owed -= 1;
            st.slots -= 1;
            permit.forget();
        }
    }
}

#[cfg(test)]
#[path = "limit_tests.rs"]
mod tests;
