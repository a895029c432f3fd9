//! Every rule the configuration must satisfy, checked once at load so the
//! service and `cairn -P` never meet a bad value later. Decisions:
//! - a plan without `cron` or `every` is allowed: it runs only when asked
//!   (API, `cairn serve` triggers); `jitter`, `run_missed` and `timezone`
//!   then mean nothing and are refused;
//! - `retention` and `keep_*` combine (each rule once); `keep_min` needs a rule;
//! - paths must be absolute: a service's working directory means nothing;
//! - a repository declared `put_only = true` takes only backup plans
//!   without retention, prune or check (its key can do nothing else). The
//!   key's kind itself is known only after the KDF, at first open: a
//!   put-only key in an undeclared section fails those jobs then, naming
//!   the plan (crate::serve::jobs::kinds).

use std::path::Path;

use cairn::Result;

use super::load::Locator;
use super::{Config, Plan, RepositoryConfig, Server};

pub fn validate(config: &mut Config, at: &Locator) -> Result<()> {
    server(&mut config.server, at)?;
    for (name, repo) in &config.repositories {
        repository(name, repo, at)?;
    }
    for (name, plan) in &config.plans {
        let err = |key: &str, why: String| {
            let mut field = vec!["plans", name.as_str()];
            field.extend(key.split('.'));
            at.error(&field, why)
        };
        check_name(name).map_err(|e| at.error(&["plans", name], e))?;
        if !config.repositories.contains_key(&plan.repository) {
            let known: Vec<&str> = config.repositories.keys().map(String::as_str).collect();
            return Err(err(
                "repository",
                format!(
                    "no repository {:?} in [repositories] (known: {})",
                    plan.repository,
                    list(&known)
                ),
            ));
        }
        plan_rules(plan).map_err(|(k, why)| err(k, why))?;
        if config.repositories[&plan.repository].put_only {
            put_only_rules(plan).map_err(|(k, why)| err(k, why))?;
        }
    }
    Ok(())
}

/// A plan on a repository declared `put_only = true` may only back up:
/// forget, prune and check need a full key, and would fail at every run.
fn put_only_rules(p: &Plan) -> std::result::Result<(), (&'static str, String)> {
    let why = |what: &str| {
        format!(
            "the repository is put_only (its key can only add backups): {what} needs a full \
             key; run it from a machine that holds one"
        )
    };
    if p.try_policy()?.is_some() {
        let key = if p.retention.is_some() {
            "retention"
        } else {
            "keep_last"
        };
        return Err((key, why("forget by a retention policy")));
    }
    for (key, set) in [
        ("prune_cron", p.prune_cron.is_some()),
        ("prune_every", p.prune_every.is_some()),
    ] {
        if set {
            return Err((key, why("prune")));
        }
    }
    for (key, set) in [
        ("check_cron", p.check_cron.is_some()),
        ("check_every", p.check_every.is_some()),
    ] {
        if set {
            return Err((key, why("check")));
        }
    }
    Ok(())
}

fn server(s: &mut Server, at: &Locator) -> Result<()> {
    let err = |key: &str, why: String| at.error(&["server", key], why);
    for (key, p) in [
        ("state_dir", &s.state_dir),
        ("tls_cert", &s.tls_cert),
        ("tls_key", &s.tls_key),
        ("cache_dir", &s.cache_dir),
    ] {
        if let Some(p) = p {
            absolute(p).map_err(|e| err(key, e))?;
        }
    }
    for p in &s.restore_roots {
        absolute(p).map_err(|e| err("restore_roots", e))?;
    }
    match (&s.tls_cert, &s.tls_key) {
        (Some(_), None) => return Err(err("tls_cert", "set without tls_key".into())),
        (None, Some(_)) => return Err(err("tls_key", "set without tls_cert".into())),
        _ => {}
    }
    let reason = s.insecure_listen.as_deref().map(str::trim);
    if !s.listen.ip().is_loopback() && s.tls_cert.is_none() && reason.is_none_or(str::is_empty) {
        return Err(err(
            "listen",
            format!(
                "{} is not a loopback address: set tls_cert and tls_key, or state why plain \
                 HTTP is safe with insecure_listen (or --insecure-listen REASON)",
                s.listen
            ),
        ));
    }
    if s.max_parallel_jobs == 0 {
        return Err(err("max_parallel_jobs", "must be at least 1".into()));
    }
    if s.history_days == 0 {
        return Err(err("history_days", "must be at least 1".into()));
    }
    s.try_grace().map_err(|e| err("shutdown_grace", e))?;
    if s.state_dir.is_none() {
        let dir = dirs::data_dir().map(|d| d.join("cairn").join("serve"));
        s.state_dir = Some(dir.ok_or_else(|| {
            err(
                "state_dir",
                "no data directory is known: set state_dir".into(),
            )
        })?);
    }
    Ok(())
}

fn repository(name: &str, r: &RepositoryConfig, at: &Locator) -> Result<()> {
    let err = |key: &str, why: String| at.error(&["repositories", name, key], why);
    check_name(name).map_err(|e| at.error(&["repositories", name], e))?;
    let loc = r.location.trim();
    if loc.is_empty() {
        return Err(err("location", "empty".into()));
    }
    if !cairn::storage::s3::is_s3_location(loc) {
        absolute(Path::new(loc.strip_prefix("local:").unwrap_or(loc)))
            .map_err(|e| err("location", e))?;
    }
    let sources = [
        ("password_file", r.password_file.is_some()),
        ("password_command", r.password_command.is_some()),
        ("password_env", r.password_env.is_some()),
    ];
    let set: Vec<&str> = sources.iter().filter(|s| s.1).map(|s| s.0).collect();
    if set.len() != 1 {
        let why = if set.is_empty() {
            "no password source: set one of password_file, password_command, password_env"
                .to_string()
        } else {
            format!(
                "more than one password source ({}): use one",
                set.join(", ")
            )
        };
        return Err(at.error(&["repositories", name, set.last().unwrap_or(&"")], why));
    }
    for (key, p) in [
        ("password_file", &r.password_file),
        ("s3_access_key_id_file", &r.s3_access_key_id_file),
        ("s3_secret_access_key_file", &r.s3_secret_access_key_file),
    ] {
        if let Some(p) = p {
            absolute(p).map_err(|e| err(key, e))?;
        }
    }
    match (&r.s3_access_key_id_file, &r.s3_secret_access_key_file) {
        (Some(_), None) => {
            let why = "set without s3_secret_access_key_file".into();
            return Err(err("s3_access_key_id_file", why));
        }
        (None, Some(_)) => {
            let why = "set without s3_access_key_id_file".into();
            return Err(err("s3_secret_access_key_file", why));
        }
        _ => {}
    }
    if let Some(n) = r.s3_connections {
        if !(1..=256).contains(&n) {
            return Err(err("s3_connections", format!("{n} is not in 1..=256")));
        }
    }
    Ok(())
}

/// A plan's own rules, as `(key, reason)`.
fn plan_rules(p: &Plan) -> std::result::Result<(), (&'static str, String)> {
    if p.paths.is_empty() && p.sqlite.is_empty() {
        return Err(("paths", "nothing to back up: set paths or sqlite".into()));
    }
    // A bucket (`s3:…`, `r2:…`) is backed up on its own (17-bucket.md).
    let is_bucket = |p: &Path| p.to_str().is_some_and(cairn::storage::s3::is_s3_location);
    if p.paths.iter().any(|q| is_bucket(q)) {
        if p.paths.len() > 1 || !p.sqlite.is_empty() {
            let why =
                "a bucket is backed up on its own: one s3:/r2: location, no other paths or sqlite";
            return Err(("paths", why.into()));
        }
    } else {
        for path in &p.paths {
            absolute(path).map_err(|e| ("paths", e))?;
        }
    }
    for path in &p.sqlite {
        absolute(path).map_err(|e| ("sqlite", e))?;
    }
    let backup = p.try_schedule()?;
    p.try_prune_schedule()?;
    p.try_check_schedule()?;
    if backup.is_none() {
        for (key, set) in [("jitter", p.jitter.is_some()), ("run_missed", p.run_missed)] {
            if set {
                return Err((
                    key,
                    "needs cron or every (this plan runs only when asked)".into(),
                ));
            }
        }
    }
    let any_cron = p.cron.is_some() || p.prune_cron.is_some() || p.check_cron.is_some();
    if p.timezone.is_some() && !any_cron {
        return Err(("timezone", "only cron schedules have a time zone".into()));
    }
    p.try_policy()?;
    p.try_check_options()?;
    for (key, url) in [
        ("notify.webhook", &p.notify.webhook),
        ("notify.healthchecks", &p.notify.healthchecks),
    ] {
        if let Some(u) = url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err((key, format!("{u:?} is not an http:// or https:// URL")));
            }
        }
    }
    Ok(())
}

/// Names appear in URLs and metrics labels: letters, digits, `-`, `_`, `.`.
fn check_name(name: &str) -> std::result::Result<(), String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || !name.chars().all(ok) {
        return Err(format!(
            "bad name {name:?}: use letters, digits, '-', '_' and '.'"
        ));
    }
    Ok(())
}

fn absolute(p: &Path) -> std::result::Result<(), String> {
    if p.is_absolute() {
        Ok(())
    } else {
        Err(format!(
            "{} is relative: use an absolute path (a service's working directory means nothing)",
            p.display()
        ))
    }
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
