//! Key files under a retention lock (format-spec/09-config.md): `remove`
//! refuses while the file is retained, naming the date and that its
//! password still opens the repository; `passwd` stores the new key and
//! leaves the old one; once the retention passed, the old one goes. The
//! repository is never without a key that opens it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::crypto::KdfParams;
use crate::error::{Error, ErrorKind};
use crate::format::config::{LockKind, RetentionLock};
use crate::repo::{InitOptions, NewKey, OpenOptions, Repository};
use crate::storage::lock_sim::LockSimStorage;
use crate::storage::memory::MemoryStorage;
use crate::storage::Storage;

const DAY: i64 = 86_400;

fn new_key(password: &[u8]) -> NewKey<'_> {
    NewKey {
        password,
        kdf: KdfParams::insecure_for_tests(),
        host: "laptop".into(),
        username: "ana".into(),
    }
}

fn locked_repo() -> (Arc<dyn Storage>, Repository, Arc<AtomicI64>) {
    let now = crate::time::now().0.secs;
    let clock = Arc::new(AtomicI64::new(now));
    let storage: Arc<dyn Storage> =
        Arc::new(LockSimStorage::new(MemoryStorage::new(), clock.clone()));
    let init = InitOptions {
        kdf: Some(KdfParams::insecure_for_tests()),
        lock: Some(RetentionLock {
            kind: LockKind::ObjectLockCompliance,
            days: 1,
        }),
        ..Default::default()
    };
    let repo = Repository::init(storage.clone(), b"first", init, OpenOptions::default()).unwrap();
    (storage, repo, clock)
}

fn opens(storage: &Arc<dyn Storage>, password: &[u8]) -> bool {
    Repository::open(storage.clone(), password, OpenOptions::default()).is_ok()
}

#[test]
fn a_retained_key_file_is_not_removed_and_the_message_says_until_when() {
    let (storage, repo, clock) = locked_repo();
    let now = clock.load(Ordering::SeqCst);
    let second = repo.add_key(b"first", &new_key(b"second")).unwrap();
    let err = repo.remove_key(&second, false, Some(now)).unwrap_err();
    assert!(matches!(err, Error::Retained(_)), "{err}");
    assert_eq!(err.kind(), ErrorKind::Locked);
    let msg = err.to_string();
    assert!(msg.contains("until 2"), "a date: {msg}");
    assert!(msg.contains("still opens the repository"), "{msg}");
    assert!(opens(&storage, b"second"));
    assert_eq!(repo.list_keys().unwrap().len(), 2);
    // After its retention, it goes.
    clock.store(now + 2 * DAY, Ordering::SeqCst);
    repo.remove_key(&second, false, Some(now + 2 * DAY))
        .unwrap();
    assert!(!opens(&storage, b"second"));
    assert!(opens(&storage, b"first"));
}

#[test]
fn passwd_on_a_locked_repository_keeps_the_old_key_file_and_says_until_when() {
    let (storage, repo, clock) = locked_repo();
    let now = clock.load(Ordering::SeqCst);
    let old = repo.key_id();
    let (new, old_stays) = repo
        .change_password(b"first", &new_key(b"renewed"), Some(now))
        .unwrap();
    let until = old_stays.expect("the old key stays").expect("a date");
    assert!(
        (now + DAY - 60..=now + DAY + 60).contains(&until),
        "{until}"
    );
    assert!(opens(&storage, b"renewed"));
    assert!(
        opens(&storage, b"first"),
        "the old key file stays, and works"
    );
    let renewed = Repository::open(storage.clone(), b"renewed", OpenOptions::default()).unwrap();
    assert_eq!(renewed.key_id(), new);
    // Once the retention passed, the new key removes the old one.
    clock.store(until + 1, Ordering::SeqCst);
    renewed.remove_key(&old, false, Some(until + 1)).unwrap();
    assert!(!opens(&storage, b"first"));
    assert!(opens(&storage, b"renewed"));
}
