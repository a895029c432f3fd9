//! Session limits and lifetime.

use std::time::Duration;

use super::{Sessions, PER_TOKEN, TOTAL};
use crate::serve::auth::{Identity, Scope};

fn who(n: usize) -> Identity {
    Identity {
        hash: blake3::hash(&n.to_le_bytes()),
        name: format!("t{n}"),
        scopes: vec![Scope::Read],
    }
}

fn count(s: &Sessions) -> usize {
    s.lock().len()
}

#[test]
fn a_token_keeps_its_newest_sessions_only() {
    let s = Sessions::default();
    let other = s.start(who(1), None);
    let ids: Vec<String> = (0..PER_TOKEN + 4).map(|_| s.start(who(0), None)).collect();
    assert_eq!(count(&s), PER_TOKEN + 1);
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(s.alive(id), i >= 4, "session {i}");
    }
    assert!(s.alive(&other), "another token's session stays");
}

#[test]
fn the_oldest_sessions_go_when_the_total_is_reached() {
    let s = Sessions::default();
    let ids: Vec<String> = (0..TOTAL + 3).map(|n| s.start(who(n), None)).collect();
    assert_eq!(count(&s), TOTAL);
    assert!(ids[..3].iter().all(|id| !s.alive(id)));
    assert!(ids[3..].iter().all(|id| s.alive(id)));
}

#[test]
fn signing_in_again_ends_the_cookies_session() {
    let s = Sessions::default();
    let first = s.start(who(0), None);
    let second = s.start(who(1), Some(&first));
    assert!(!s.alive(&first));
    assert!(s.alive(&second));
    assert_eq!(count(&s), 1);
}

#[test]
fn an_expired_session_asks_to_sign_in_and_is_removed() {
    let live = Sessions::with_lifetime(Duration::from_secs(3600));
    let id = live.start(who(0), None);
    assert!(live.get(&id).is_some());
    let expired = Sessions::with_lifetime(Duration::ZERO);
    let id = expired.start(who(0), None);
    assert_eq!(count(&expired), 1);
    assert!(
        expired.get(&id).is_none(),
        "an expired session is no session"
    );
    assert_eq!(count(&expired), 0, "and it is gone from the map");
}
