use std::collections::VecDeque;
use std::time::Duration;

use super::*;

/// How long a store takes for one request: from 20 to 40 ms, a fixed
/// pseudo-random sequence.
struct Store {
    seed: u64,
}

impl Store {
    fn round_trip(&mut self) -> Duration {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        Duration::from_micros(20_000 + self.seed % 20_000)
    }
}

/// `n` requests through `limiter` against a store that serves `serves`
/// at once (the rest queue there; `None`: any number, a store that is
/// only far away), on a virtual clock (exact and instant), with always
/// more requests waiting than slots.
/// Returns the limits seen after each of the last 1,000 completions.
fn drive_from(limiter: &Limiter, serves: Option<usize>, n: usize) -> Vec<usize> {
    let mut store = Store { seed: 7 };
    let serves = serves.unwrap_or(usize::MAX);
    let mut now = limiter.state().now;
    let mut serving: Vec<(Duration, Permit<'_>)> = Vec::new();
    let mut queued: VecDeque<Permit<'_>> = VecDeque::new();
    let mut seen = Vec::new();
    for done in 0..n {
        while let Some(slot) = limiter.try_acquire() {
            if serving.len() < serves {
                serving.push((now + store.round_trip(), slot));
            } else {
                queued.push_back(slot);
            }
        }
        let next = (0..serving.len())
            .min_by_key(|&i| serving[i].0)
            .expect("a request is in flight");
        let (end, slot) = serving.swap_remove(next);
        now = end;
        limiter.state().now = now;
        drop(slot);
        if let Some(slot) = queued.pop_front() {
            serving.push((now + store.round_trip(), slot));
        }
        if done + 1000 >= n {
            seen.push(limiter.limit());
        }
    }
    seen
}

/// [`drive_from`] the start of the clock.
fn drive(limiter: &Limiter, serves: Option<usize>, n: usize) -> Vec<usize> {
    limiter.state().now = Duration::ZERO;
    drive_from(limiter, serves, n)
}

#[test]
fn a_far_store_gets_more_requests_in_flight_up_to_the_ceiling() {
    let limiter = Limiter::new(8, true);
    let seen = drive(&limiter, None, 3_000);
    assert!(seen.iter().all(|&l| l == ADAPTIVE_CEILING), "{seen:?}");
    assert_eq!(limiter.peak(), ADAPTIVE_CEILING);
}

#[test]
fn a_busy_store_holds_the_limit_near_what_it_serves_at_once() {
    // The store serves 20 at a time; more in flight only queue there.
    // The climb stops where completions per second stop growing, going
    // up again now and then to look: at most one step (half) above.
    let limiter = Limiter::new(8, true);
    let seen = drive(&limiter, Some(20), 10_000);
    let (min, max) = (seen.iter().min().unwrap(), seen.iter().max().unwrap());
    assert!(*min >= 12 && *max <= 40, "limits {min}..={max}");
    let mean = seen.iter().sum::<usize>() as f64 / seen.len() as f64;
    assert!((16.0..=32.0).contains(&mean), "mean limit {mean}");
}

#[test]
fn a_fixed_number_never_moves() {
    let limiter = Limiter::new(8, false);
    let seen = drive(&limiter, None, 2_000);
    assert!(seen.iter().all(|&l| l == 8));
    assert_eq!((limiter.peak(), limiter.ceiling()), (8, 8));
}

#[test]
fn rounds_with_slots_to_spare_change_nothing() {
    // Two requests at a time against eight slots: the store is not what
    // limits them, so nothing is learnt.
    let limiter = Limiter::new(8, true);
    for i in 1..=500u64 {
        let (a, b) = (limiter.try_acquire(), limiter.try_acquire());
        limiter.state().now = Duration::from_millis(30 * i);
        drop((a, b));
    }
    assert_eq!((limiter.limit(), limiter.peak()), (8, 2));
}

#[test]
fn throttling_halves_the_limit_and_held_slots_are_dropped_as_they_come_back() {
    let limiter = Limiter::new(40, true);
    let mut held = hold(&limiter, 40);
    limiter.throttled();
    held.pop(); // the throttled request ends the round
    assert_eq!(limiter.limit(), 20);
    // Every other slot is held, so the halving is owed: giving them back
    // drops the excess instead of freeing it.
    drop(held);
    assert_eq!(limiter.slots.available_permits(), 20);
    assert_eq!(limiter.limit(), 20);
}

#[test]
fn a_burst_of_throttling_answers_halves_once_per_round() {
    // 64 in flight meet a burst of 503s: the answers to requests sent
    // before the halving do not halve again.
    let limiter = Limiter::new(64, true);
    let mut held = hold(&limiter, 64);
    for _ in 0..10 {
        limiter.throttled();
        held.pop();
    }
    assert_eq!(limiter.limit(), 32);
}

#[test]
fn a_quiet_round_after_a_halving_ends_its_settling() {
    // After a halving, throttling answers are ignored for one round; a
    // round with slots to spare (a quiet phase) still counts as that one.
    let limiter = Limiter::new(16, true);
    let mut held = hold(&limiter, 16);
    limiter.throttled();
    held.pop();
    drop(held);
    assert_eq!(limiter.limit(), 8);
    // Never idle (idle time restarts a round), never more than 3 of 8.
    let _steady = hold(&limiter, 1);
    for i in 1..=20u64 {
        let pair = hold(&limiter, 2);
        limiter.state().now = Duration::from_millis(30 * i);
        drop(pair);
    }
    limiter.throttled();
    drop(hold(&limiter, 1));
    assert_eq!(limiter.limit(), 4);
}

#[test]
fn time_with_nothing_in_flight_is_not_counted() {
    // A far store, then a long pause (the archiver busy elsewhere), then
    // the store again: the pause does not make the number in flight look
    // worse than the one before, so the limit keeps what it reached.
    let limiter = Limiter::new(8, true);
    drive(&limiter, None, 400);
    let before = limiter.limit();
    assert!(before > 16, "limit {before}");
    limiter.state().now += Duration::from_secs(60);
    drive_from(&limiter, None, 400);
    assert!(
        limiter.limit() >= before,
        "{} after {before}",
        limiter.limit()
    );
}

#[test]
fn throttling_never_takes_the_limit_below_the_floor() {
    let limiter = Limiter::new(8, true);
    for _ in 0..10 {
        let slot = limiter.try_acquire().unwrap();
        limiter.throttled();
        drop(slot);
    }
    assert_eq!(limiter.limit(), FLOOR);
    assert_eq!(limiter.slots.available_permits(), FLOOR);
}

#[test]
fn growth_cancels_an_owed_shrink_before_adding_slots() {
    let limiter = Limiter::new(10, true);
    let held = hold(&limiter, 10);
    let mut st = limiter.state();
    limiter.resize(&mut st, 4);
    assert_eq!((st.slots, st.owed), (10, 6));
    limiter.resize(&mut st, 12);
    assert_eq!((st.slots, st.owed), (12, 0));
    drop(st);
    drop(held);
    assert_eq!(limiter.slots.available_permits(), 12);
}

/// `n` slots of `limiter`, held.
fn hold(limiter: &Limiter, n: usize) -> Vec<Permit<'_>> {
    (0..n).map(|_| limiter.try_acquire().unwrap()).collect()
}
