//! The repository's key files: several passwords (a laptop's, a server's,
//! a recovery key kept on paper) wrap the same master key
//! (format-spec/08-keyfile.md). Listing, adding, removing and replacing
//! them.
//!
//! Two rules keep a repository openable whatever happens: a new key file is
//! stored, read back and opened before an old one is removed (a crash in
//! between leaves both, each working), and removals run under the
//! repository's exclusive lock, so two clients removing different keys at
//! the same moment cannot both see "another key remains" and delete the
//! last two.

use bytes::Bytes;
use serde::Serialize;

use crate::crypto::{KdfParams, MasterKey};
use crate::error::{Error, Result};
use crate::format::keyfile::{KeyFile, Unlocked};
use crate::format::layout;
use crate::format::tree::Timestamp;
use crate::ids::{content_hash, KeyId};
use crate::repo::object_lock::refused_delete;
use crate::repo::{lock, Repository};

/// One key file as `key list` shows it (never anything secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    pub id: KeyId,
    /// `full` (opens and changes everything) or `put-only` (adds backups).
    pub kind: &'static str,
    pub host: String,
    pub username: String,
    pub created: Timestamp,
    pub kdf: KdfParams,
    /// The key this process opened the repository with.
    pub in_use: bool,
}

/// Who a new key file says made it (shown by `key list`).
#[derive(Debug, Clone)]
pub struct NewKey<'a> {
    pub password: &'a [u8],
    pub kdf: KdfParams,
    pub host: String,
    pub username: String,
}

impl Repository {
    /// Every key file, sorted by id. A key file that cannot be read or
    /// decoded is an error naming it: a listing must not hide one.
    pub fn list_keys(&self) -> Result<Vec<KeyInfo>> {
        let mut out = Vec::new();
        for (id, kf) in self.key_files()? {
            out.push(KeyInfo {
                in_use: id == self.key_id(),
                id,
                kind: kf.kind.name(),
                host: kf.host,
                username: kf.username,
                created: kf.created,
                kdf: kf.kdf,
            });
        }
        Ok(out)
    }

    /// Stores a new key file wrapping the master key under `new.password`.
    /// `password` is the one this repository was opened with: the master
    /// key is unwrapped again from the key file in use (the opened
    /// repository keeps only the keys derived from it).
    pub fn add_key(&self, password: &[u8], new: &NewKey) -> Result<KeyId> {
        let master = self.unwrap_master(password)?;
        let kf = KeyFile::create(
            &master,
            new.password,
            new.kdf,
            crate::time::now().0,
            new.host.clone(),
            new.username.clone(),
        )?;
        self.store_key_file(&kf, |stored| {
            let opened = stored.unlock(new.password)?;
            Ok(opened.is_some_and(|m| m.expose() == master.expose()))
        })
    }

    /// Stores `kf`, then reads it back and checks it with `opens`: a key
    /// that was not stored whole must be found now, not on the day it is
    /// the only one left.
    fn store_key_file(
        &self,
        kf: &KeyFile,
        opens: impl FnOnce(&KeyFile) -> Result<bool>,
    ) -> Result<KeyId> {
        let bytes = kf.encode();
        let id = KeyId(content_hash(&bytes));
        self.storage()
            .put(&layout::key(&id), Bytes::from(bytes.clone()))?;
        let stored = self.storage().get(&layout::key(&id))?;
        if stored != bytes || !opens(&KeyFile::decode(&stored)?)? {
            return Err(Error::corrupt(
                "key file",
                format!("{id} did not read back as written"),
            ));
        }
        Ok(id)
    }

    /// Stores a put-only key file (format-spec/18-put-only.md) for
    /// `new.password`: it can add backups to this repository and read
    /// nothing. Needs the full key's `password`, like [`Repository::add_key`].
    pub fn add_put_only_key(&self, password: &[u8], new: &NewKey) -> Result<KeyId> {
        self.add_put_only_key_with(password, new, true)
    }

    /// [`Repository::add_put_only_key`]; with `dedup` false the key holds
    /// no dedup key (`--own-dedup-only`): its holder deduplicates against
    /// its own uploads only and cannot confirm what others stored. A caller
    /// adding a key with the dedup key then runs
    /// [`Repository::backfill_id_lists`].
    pub fn add_put_only_key_with(
        &self,
        password: &[u8],
        new: &NewKey,
        dedup: bool,
    ) -> Result<KeyId> {
        // The password must open a full key; what the put-only key gets is
        // the repository's own chunking, shared or derived (09-config.md).
        self.unwrap_master(password)?;
        let mut put = self.keys().put_keys();
        if !dedup {
            put.dedup = None;
        }
        let kf = KeyFile::create_put_only(
            &put,
            self.config(),
            new.password,
            new.kdf,
            crate::time::now().0,
            new.host.clone(),
            new.username.clone(),
        )?;
        self.store_key_file(&kf, |stored| {
            let opened = stored.open_secret(new.password)?;
            Ok(matches!(&opened, Some(Unlocked::PutOnly(p, c)) if *p == put && c == self.config()))
        })
    }

    /// Removes key file `id`. Refused for the key in use and for the last
    /// key unless `force` (the last key only when another exists: `force`
    /// never leaves a repository without any key file), and, whatever
    /// `force`, while the key file is under the repository's retention lock
    /// ([`Error::Retained`], naming the date). `now` is the clock the
    /// retention is judged by (`None`: now; tests move it).
    pub fn remove_key(&self, id: &KeyId, force: bool, now: Option<i64>) -> Result<()> {
        let guard = lock::acquire(self, "key remove", Default::default())?;
        let files = self.key_files()?;
        let ids: Vec<KeyId> = files.iter().map(|(k, _)| *k).collect();
        let Some((_, kf)) = files.iter().find(|(k, _)| k == id) else {
            return Err(Error::Usage(format!("no key {id} in this repository")));
        };
        if ids.len() == 1 {
            return Err(Error::Usage(format!(
                "{id} is the repository's only key: removing it would make the repository unreadable for good"
            )));
        }
        if *id == self.key_id() && !force {
            return Err(Error::Usage(format!(
                "{id} is the key this command opened the repository with; add --force to remove it anyway"
            )));
        }
        if let Some(until) = self.key_retained_until(id, kf.created.secs, now)? {
            return Err(retained(id, Some(until)));
        }
        guard.check()?;
        let key = layout::key(id);
        match self.storage().delete(&key) {
            Ok(()) => guard.release(),
            // A bucket-lock rule longer than the repository records.
            Err(e) if refused_delete(self, &key, &e) => Err(retained(id, None)),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces the key in use by one under `new.password`: the new key file
    /// is stored and verified first, then the old one removed. Under a
    /// retention lock the old one may have to stay: the new key's id and,
    /// then, `Some` date until which the old key file stays (and its
    /// password still opens the repository; `Some(None)`: a date the
    /// storage did not tell).
    pub fn change_password(
        &self,
        password: &[u8],
        new: &NewKey,
        now: Option<i64>,
    ) -> Result<(KeyId, Option<Option<i64>>)> {
        let id = self.add_key(password, new)?;
        match self.remove_key(&self.key_id(), true, now) {
            Ok(()) => Ok((id, None)),
            Err(Error::Retained(_)) => {
                let old = self.key_id();
                let created = (self.key_files()?.into_iter())
                    .find(|(k, _)| *k == old)
                    .map(|(_, kf)| kf.created.secs)
                    .unwrap_or(i64::MAX);
                Ok((id, Some(self.key_retained_until(&old, created, now)?)))
            }
            Err(e) => Err(e),
        }
    }

    /// When key file `id` leaves its retention, if that is still to come.
    /// Under Object Lock the storage says (its date sees `repo extend-lock`);
    /// under bucket-lock rules it is the upload time (the listing's, else
    /// the key file's `created`) plus the configured days, as the rule
    /// counts (format-spec/09-config.md, "Retention lock").
    pub fn key_retained_until(
        &self,
        id: &KeyId,
        created: i64,
        now: Option<i64>,
    ) -> Result<Option<i64>> {
        let Some(lock) = self.config().lock else {
            return Ok(None);
        };
        let key = layout::key(id);
        let until = if lock.is_object_lock() {
            self.storage().retention(&key)?
        } else {
            let listed = self.storage().list(&key)?;
            let uploaded = listed
                .iter()
                .find(|o| o.key == key)
                .and_then(|o| o.modified);
            Some(uploaded.unwrap_or(created).saturating_add(lock.seconds()))
        };
        let now = now.unwrap_or_else(|| crate::time::now().0.secs);
        Ok(until.filter(|u| *u > now))
    }

    /// Every decodable key file with its id; an unreadable one is an error.
    fn key_files(&self) -> Result<Vec<(KeyId, KeyFile)>> {
        let mut listed = self.storage().list(layout::KEYS_PREFIX)?;
        listed.sort_by(|a, b| a.key.cmp(&b.key));
        let mut out = Vec::new();
        for info in listed {
            let Some(id) = layout::parse_id::<KeyId>(&info.key) else {
                continue;
            };
            let bytes = self.storage().get(&info.key)?;
            if content_hash(&bytes) != id.0 {
                return Err(Error::corrupt(
                    "key file",
                    format!("{id} does not match its name"),
                ));
            }
            out.push((id, KeyFile::decode(&bytes)?));
        }
        Ok(out)
    }

    fn unwrap_master(&self, password: &[u8]) -> Result<MasterKey> {
        let bytes = self.storage().get(&layout::key(&self.key_id()))?;
        KeyFile::decode(&bytes)?
            .unlock(password)?
            .ok_or(Error::WrongPassword)
    }
}

/// The refusal to remove key file `id` while it is retained.
fn retained(id: &KeyId, until: Option<i64>) -> Error {
    let when = match until {
        Some(t) => format!(
            "until {}",
            crate::time::rfc3339_local(Timestamp { secs: t, nanos: 0 })
        ),
        None => "for now (the storage refused the delete: its lock rule is longer than the \
                 repository records; see `cairn repo lock-rules --check`)"
            .to_string(),
    };
    Error::Retained(format!(
        "key {id} is under the repository's retention lock {when}: it cannot be removed \
         before then, and until then its password still opens the repository"
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::repo::{InitOptions, OpenOptions};
    use crate::storage::memory::MemoryStorage;

    const CHEAP: KdfParams = KdfParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    fn new_key(password: &[u8]) -> NewKey<'_> {
        NewKey {
            password,
            kdf: CHEAP,
            host: "laptop".into(),
            username: "ana".into(),
        }
    }

    fn setup() -> (Arc<MemoryStorage>, Repository) {
        let storage = Arc::new(MemoryStorage::new());
        let opts = InitOptions {
            kdf: Some(CHEAP),
            ..InitOptions::default()
        };
        let repo =
            Repository::init(storage.clone(), b"first", opts, OpenOptions::default()).unwrap();
        (storage, repo)
    }

    fn open(storage: &Arc<MemoryStorage>, password: &[u8]) -> Result<Repository> {
        Repository::open(storage.clone(), password, OpenOptions::default())
    }

    #[test]
    fn an_added_key_opens_the_same_repository() {
        let (storage, repo) = setup();
        let id = repo.add_key(b"first", &new_key(b"second")).unwrap();
        let other = open(&storage, b"second").unwrap();
        assert_eq!(other.key_id(), id);
        assert_eq!(other.config().repo_id, repo.config().repo_id);
        let keys = repo.list_keys().unwrap();
        assert_eq!(keys.len(), 2);
        let added = keys.iter().find(|k| k.id == id).unwrap();
        assert_eq!((added.host.as_str(), added.in_use), ("laptop", false));
        assert_eq!(added.kdf, CHEAP);
        assert!(keys.iter().any(|k| k.in_use && k.id == repo.key_id()));
    }

    #[test]
    fn adding_needs_the_password_the_repository_was_opened_with() {
        let (_, repo) = setup();
        let err = repo.add_key(b"wrong", &new_key(b"second")).unwrap_err();
        assert!(matches!(err, Error::WrongPassword), "{err:?}");
    }

    #[test]
    fn the_last_key_and_the_key_in_use_are_kept() {
        let (storage, repo) = setup();
        let only = repo.key_id();
        let err = repo.remove_key(&only, true, None).unwrap_err();
        assert!(err.to_string().contains("only key"), "{err}");
        let second = repo.add_key(b"first", &new_key(b"second")).unwrap();
        let err = repo.remove_key(&only, false, None).unwrap_err();
        assert!(err.to_string().contains("--force"), "{err}");
        // Another client, opened with the second key, may remove the first.
        let other = open(&storage, b"second").unwrap();
        other.remove_key(&only, false, None).unwrap();
        assert!(matches!(
            open(&storage, b"first"),
            Err(Error::WrongPassword)
        ));
        assert_eq!(other.list_keys().unwrap().len(), 1);
        assert_eq!(other.list_keys().unwrap()[0].id, second);
    }

    #[test]
    fn a_changed_password_replaces_the_key_in_use() {
        let (storage, repo) = setup();
        let (new, old_stays) = repo
            .change_password(b"first", &new_key(b"renewed"), None)
            .unwrap();
        assert_eq!(old_stays, None);
        assert!(matches!(
            open(&storage, b"first"),
            Err(Error::WrongPassword)
        ));
        let reopened = open(&storage, b"renewed").unwrap();
        assert_eq!(reopened.key_id(), new);
        assert_eq!(reopened.list_keys().unwrap().len(), 1);
    }

    #[test]
    fn removing_an_unknown_key_names_it() {
        let (_, repo) = setup();
        let err = repo.remove_key(&KeyId([9; 32]), false, None).unwrap_err();
        assert!(err.to_string().contains("no key"), "{err}");
    }
}
