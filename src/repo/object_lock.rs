//! Retention of immutable objects (format-spec/09-config.md, 12-prune.md):
//! writing them with a retention date under S3 Object Lock, and telling
//! prune and forget which objects they must not try to delete yet.
//!
//! An object's retention end comes from the storage itself under Object
//! Lock (GetObjectRetention: exact, and it sees extensions made by
//! `repo extend-lock`), and from the listing's last-modified time plus the
//! configured age under bucket-lock rules (R2 has no per-object API; its
//! rules count the age from the upload, so this is exactly the rule's view).

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::config::{LockKind, RetentionLock};
use crate::format::layout;
use crate::repo::Repository;
use crate::storage::{Retaining, RetentionMode, Storage, StorageError, StorageErrorKind};

/// Is `key` one of the objects a lock protects: packs, index files, id
/// lists, snapshots, key files, audit records and the config. Mutable objects
/// (lock generations, backup markers, the policy, probes) are not.
pub fn is_immutable(key: &str) -> bool {
    key == layout::CONFIG || IMMUTABLE_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// The prefixes holding immutable objects (with `config`, the whole set).
pub const IMMUTABLE_PREFIXES: [&str; 6] = [
    layout::PACKS_PREFIX,
    layout::INDEX_PREFIX,
    layout::IDS_PREFIX,
    layout::SNAPSHOTS_PREFIX,
    layout::KEYS_PREFIX,
    layout::AUDIT_PREFIX,
];

/// The S3 mode of an Object Lock setting; `None` for bucket rules.
pub fn mode_of(lock: &RetentionLock) -> Option<RetentionMode> {
    match lock.kind {
        LockKind::ObjectLockCompliance => Some(RetentionMode::Compliance),
        LockKind::ObjectLockGovernance => Some(RetentionMode::Governance),
        LockKind::BucketRules => None,
    }
}

/// The storage a repository writes through: under Object Lock, one that
/// gives every immutable object its retention date.
pub(crate) fn wrap(storage: Arc<dyn Storage>, lock: Option<&RetentionLock>) -> Arc<dyn Storage> {
    match lock.and_then(|l| mode_of(l).map(|m| (l, m))) {
        Some((l, mode)) => Arc::new(Retaining::new(
            storage,
            l.seconds(),
            mode,
            Arc::new(is_immutable),
        )),
        None => storage,
    }
}

/// Whether `err`, from deleting `key`, is the storage refusing to delete
/// an object its retention still protects: a permanent failure (403
/// AccessDenied) deleting an immutable object of a repository with a
/// retention lock. R2's bucket-lock rules live outside S3: an operator may
/// have set a longer age in Cloudflare than the repository records, so
/// such a refusal means "still locked", never "deleted". Without a lock
/// it stays an error.
pub fn refused_delete(repo: &Repository, key: &str, err: &StorageError) -> bool {
    repo.config().lock.is_some() && is_immutable(key) && err.kind == StorageErrorKind::Permanent
}

/// Refuses an Object Lock repository on storage without Object Lock: its
/// objects would silently be unprotected.
pub(crate) fn check_supported(storage: &dyn Storage, lock: Option<&RetentionLock>) -> Result<()> {
    let Some(lock) = lock else { return Ok(()) };
    lock.validate()?;
    if lock.is_object_lock() && !storage.lock_supported()? {
        return Err(Error::Usage(format!(
            "{} has no Object Lock enabled: create the bucket with Object Lock \
             (e.g. `aws s3api create-bucket --object-lock-enabled-for-bucket`), \
             or use --lock-rules for R2 bucket-lock rules",
            storage.location()
        )));
    }
    Ok(())
}

/// Answers "is this object still under retention at `now`?" for one run of
/// prune or forget, listing each prefix at most once under bucket rules.
pub struct LockCheck<'r> {
    repo: &'r Repository,
    now: i64,
    listed: HashMap<String, HashMap<String, i64>>,
    /// Retention lookups made (each one request under Object Lock).
    pub lookups: u64,
}

impl<'r> LockCheck<'r> {
    pub fn new(repo: &'r Repository, now: i64) -> Self {
        LockCheck {
            repo,
            now,
            listed: HashMap::new(),
            lookups: 0,
        }
    }

    /// The end of `key`'s retention if it is still in the future.
    pub fn locked_until(&mut self, key: &str) -> Result<Option<i64>> {
        let Some(lock) = self.repo.config().lock else {
            return Ok(None);
        };
        if !is_immutable(key) {
            return Ok(None);
        }
        let until = if lock.is_object_lock() {
            self.lookups += 1;
            self.repo.storage().retention(key)?
        } else {
            self.uploaded(key)?
                .map(|t| t.saturating_add(lock.seconds()))
        };
        Ok(until.filter(|u| *u > self.now))
    }

    /// When `key` was uploaded, from one listing of its prefix.
    fn uploaded(&mut self, key: &str) -> Result<Option<i64>> {
        let prefix = match key.split_once('/') {
            Some((p, _)) => format!("{p}/"),
            None => key.to_string(),
        };
        if !self.listed.contains_key(&prefix) {
            let map = self
                .repo
                .storage()
                .list(&prefix)?
                .into_iter()
                .filter_map(|o| o.modified.map(|m| (o.key, m)))
                .collect();
            self.listed.insert(prefix.clone(), map);
        }
        Ok(self.listed[&prefix].get(key).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KdfParams;
    use crate::repo::{InitOptions, OpenOptions};
    use crate::storage::local::LocalStorage;

    /// Under bucket-lock rules an object is retained for `days` from its
    /// upload (the listing's modification time); mutable objects never.
    #[test]
    fn bucket_rules_count_the_age_from_the_upload() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = Arc::new(LocalStorage::create(tmp.path().join("repo")).unwrap());
        let init = InitOptions {
            kdf: Some(KdfParams::insecure_for_tests()),
            lock: Some(RetentionLock {
                kind: LockKind::BucketRules,
                days: 1,
            }),
            ..Default::default()
        };
        let open = OpenOptions {
            cache_dir: Some(tmp.path().join("cache")),
            ..Default::default()
        };
        let repo = Repository::init(storage.clone(), b"pw", init, open).unwrap();
        // Nothing is asked of the storage: it has no Object Lock.
        assert!(!storage.lock_supported().unwrap());
        let now = crate::time::now().0.secs;
        let key = storage.list(layout::KEYS_PREFIX).unwrap()[0].key.clone();
        let mut check = LockCheck::new(&repo, now);
        let until = check.locked_until(&key).unwrap().expect("retained");
        assert!(
            (now + 86_400 - 5..=now + 86_400 + 5).contains(&until),
            "{until}"
        );
        assert!(check.locked_until(layout::CONFIG).unwrap().is_some());
        assert_eq!(
            check.locked_until("locks/00000000000000000001").unwrap(),
            None
        );
        assert_eq!(check.locked_until(layout::POLICY).unwrap(), None);
        let mut later = LockCheck::new(&repo, now + 86_400 + 10);
        assert_eq!(later.locked_until(&key).unwrap(), None);
    }
}
