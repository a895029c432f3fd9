//! `cairn key list | add | remove ID | passwd`: the key files that wrap the
//! repository's master key (one per password). The library keeps a
//! repository openable through crashes and races (`cairn::repo::keyring`);
//! this layer reads the passwords and prints.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;

use cairn::ids::KeyId;
use cairn::repo::{KeyInfo, NewKey, Repository};
use cairn::{Error, Result};

use crate::cli::args::{Global, KdfArgs};
use crate::cli::table::{Align, Table};
use crate::cli::{exit, open, password, print_json};

#[derive(Args, Debug)]
pub struct KeyArgs {
    #[command(subcommand)]
    pub command: KeyCommand,
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// List the key files: id, kind, host, user, creation time, KDF cost.
    List,
    /// Add a key file for a new password (the repository's data is unchanged).
    Add {
        #[command(flatten)]
        new: NewKeyArgs,
        /// Make a put-only key: it can add backups but read, restore, forget
        /// or prune nothing (format-spec/18-put-only.md).
        #[arg(long)]
        put_only: bool,
        /// With --put-only: leave out the dedup key, so the key deduplicates
        /// only against its own uploads and cannot confirm what others stored.
        #[arg(long, requires = "put_only")]
        own_dedup_only: bool,
    },
    /// Remove a key file (not the last one; not the one in use without --force).
    Remove {
        /// The key's id, or a unique prefix of it (see `key list`).
        id: String,
        /// Remove the key this command opened the repository with.
        #[arg(long)]
        force: bool,
    },
    /// Replace the key in use by one for a new password.
    Passwd(NewKeyArgs),
    /// Write the id list of every index file that has none, so put-only keys
    /// deduplicate against it (what `key add --put-only` does; rerun after
    /// an interrupted one).
    BackfillIds,
}

#[derive(Args, Debug)]
pub struct NewKeyArgs {
    /// Read the new password from this file (else $CAIRN_NEW_PASSWORD, else a prompt).
    #[arg(long)]
    pub new_password_file: Option<PathBuf>,
    /// The host recorded in the key file [default: this machine's name].
    #[arg(long)]
    pub host: Option<String>,
    /// The user recorded in the key file [default: the current user].
    #[arg(long)]
    pub user: Option<String>,
    #[command(flatten)]
    pub kdf: KdfArgs,
}

pub fn run(g: &Global, a: KeyArgs) -> Result<i32> {
    let pw = password::password(g, false)?;
    let repo = open_with(g, pw.as_bytes())?;
    match a.command {
        KeyCommand::List => list(g, &repo),
        KeyCommand::Add {
            new: n,
            put_only,
            own_dedup_only,
        } => {
            let new_pw = password::new_password(n.new_password_file.as_deref())?;
            let new = new_key(&n, new_pw.as_bytes())?;
            let id = if put_only {
                repo.add_put_only_key_with(pw.as_bytes(), &new, !own_dedup_only)?
            } else {
                repo.add_key(pw.as_bytes(), &new)?
            };
            // After the key file: a crash in between is mended by a rerun
            // (`key backfill-ids`), which writes only what is missing.
            let id_lists = if put_only && !own_dedup_only {
                Some(repo.backfill_id_lists()?)
            } else {
                None
            };
            let kind = if put_only { "put-only" } else { "full" };
            if g.json {
                let mut v =
                    json!({"message_type": "key_added", "id": id.to_string(), "kind": kind});
                if let Some(n) = id_lists {
                    v["id_lists_written"] = json!(n);
                }
                print_json(&v)?;
            } else if !g.quiet {
                println!("added {kind} key {id}");
                if let Some(n) = id_lists {
                    println!("wrote {n} id lists for the index files stored before it");
                }
            }
            Ok(exit::OK)
        }
        KeyCommand::BackfillIds => {
            let n = repo.backfill_id_lists()?;
            if g.json {
                print_json(&json!({"message_type": "id_lists_written", "id_lists_written": n}))?;
            } else if !g.quiet {
                println!("wrote {n} id lists");
            }
            Ok(exit::OK)
        }
        KeyCommand::Remove { id, force } => {
            let id = resolve(&repo.list_keys()?, &id)?;
            repo.remove_key(&id, force, cairn::prune::test_clock())?;
            done(g, "removed", id)
        }
        KeyCommand::Passwd(n) => {
            let new_pw = password::new_password(n.new_password_file.as_deref())?;
            let new = new_key(&n, new_pw.as_bytes())?;
            let (id, old_stays) =
                repo.change_password(pw.as_bytes(), &new, cairn::prune::test_clock())?;
            match old_stays {
                None => done(g, "changed", id),
                Some(until) => old_key_stays(g, &repo.key_id(), id, until),
            }
        }
    }
}

fn open_with(g: &Global, pw: &[u8]) -> Result<Repository> {
    let (loc, _) = open::location(g)?;
    let storage = crate::cli::storage::open(g, &loc, false)?;
    Repository::open(storage, pw, open::open_options(g))
}

fn new_key<'a>(n: &NewKeyArgs, password: &'a [u8]) -> Result<NewKey<'a>> {
    Ok(NewKey {
        password,
        kdf: crate::cli::init::kdf_params(&n.kdf)?,
        host: n.host.clone().unwrap_or_else(cairn::time::hostname),
        username: n.user.clone().unwrap_or_else(cairn::time::username),
    })
}

/// The one key whose id starts with `given`.
fn resolve(keys: &[KeyInfo], given: &str) -> Result<KeyId> {
    let given = given.to_ascii_lowercase();
    let found: Vec<&KeyInfo> = keys
        .iter()
        .filter(|k| !given.is_empty() && k.id.to_string().starts_with(&given))
        .collect();
    match found.as_slice() {
        [one] => Ok(one.id),
        [] => Err(Error::Usage(format!("no key {given:?} in this repository"))),
        _ => Err(Error::Usage(format!(
            "{given:?} names {} keys: give more of the id",
            found.len()
        ))),
    }
}

fn list(g: &Global, repo: &Repository) -> Result<i32> {
    let keys = repo.list_keys()?;
    if g.json {
        let rows: Vec<serde_json::Value> = keys
            .iter()
            .map(|k| {
                json!({
                    "id": k.id.to_string(),
                    "kind": k.kind,
                    "host": k.host,
                    "username": k.username,
                    "created": cairn::time::rfc3339(k.created, 0),
                    "kdf": k.kdf,
                    "in_use": k.in_use,
                })
            })
            .collect();
        print_json(&rows)?;
        return Ok(exit::OK);
    }
    let out = std::io::stdout().lock();
    let mut t = Table::new(out, &[Align::Left; 7]);
    let header = ["", "id", "kind", "host", "user", "created", "kdf"];
    t.row(header.iter().map(|h| h.to_string()).collect())
        .map_err(stdout_err)?;
    for k in &keys {
        t.row(vec![
            if k.in_use { "*" } else { "" }.to_string(),
            k.id.to_string()[..16].to_string(),
            k.kind.to_string(),
            k.host.clone(),
            k.username.clone(),
            cairn::time::format_local(k.created),
            format!(
                "argon2id m={} MiB t={} p={}",
                k.kdf.memory_kib / 1024,
                k.kdf.iterations,
                k.kdf.parallelism
            ),
        ])
        .map_err(stdout_err)?;
    }
    drop(t.finish().map_err(stdout_err)?);
    Ok(exit::OK)
}

fn stdout_err(e: std::io::Error) -> Error {
    Error::io("<stdout>", e)
}

fn done(g: &Global, what: &str, id: KeyId) -> Result<i32> {
    if g.json {
        print_json(&json!({"message_type": format!("key_{what}"), "id": id.to_string()}))?;
    } else if !g.quiet {
        println!("{what} key {id}");
    }
    Ok(exit::OK)
}

/// `key passwd` under a retention lock: the new key is stored, the old key
/// file stays until its retention ends, and its password with it. Exit 0
/// (the password change itself worked), with the warning on stderr and in
/// `--json` (`old_key_retained_until`, `null` when the storage gave no date).
fn old_key_stays(g: &Global, old: &KeyId, id: KeyId, until: Option<i64>) -> Result<i32> {
    let date = until
        .map(|t| cairn::time::rfc3339_local(cairn::format::tree::Timestamp { secs: t, nanos: 0 }));
    let when = date
        .as_deref()
        .unwrap_or("its retention ends (the storage gave no date)");
    eprintln!(
        "warning: old key {old} is under the repository's retention lock and stays until \
         {when}: until then the old password still opens the repository; remove it then \
         with `cairn key remove {}`",
        &old.to_string()[..16]
    );
    if g.json {
        print_json(&json!({
            "message_type": "key_changed",
            "id": id.to_string(),
            "old_key": old.to_string(),
            "old_key_retained_until": date,
        }))?;
    } else if !g.quiet {
        println!("changed key {id}");
    }
    Ok(exit::OK)
}
