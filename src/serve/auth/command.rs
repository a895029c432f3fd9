//! `cairn serve token create|list|revoke`: manage the API's tokens in the
//! service's state directory. The service picks changes up at the next
//! request; no restart.

use std::path::Path;

use cairn::{Error, Result};

use super::{generate, hash, tokens_path, Scope, StoredToken, TokenFile};
use crate::cli::serve::TokenCommand;

/// Runs one token command against the state directory the configuration
/// file `config` names; the exit code.
pub fn run(config: &Path, cmd: TokenCommand, json: bool) -> Result<i32> {
    let config = crate::config::load(config)?;
    let path = tokens_path(&config.server.state_dir());
    match cmd {
        TokenCommand::Create { name, scopes } => create(&path, &name, &scopes),
        TokenCommand::List => list(&path, json),
        TokenCommand::Revoke { name } => revoke(&path, &name),
    }
}

fn create(path: &Path, name: &str, scopes: &[String]) -> Result<i32> {
    if name.is_empty() || name.chars().any(|c| c.is_control()) {
        return Err(Error::Usage(
            "a token name must be printable and not empty".into(),
        ));
    }
    let mut scopes = scopes
        .iter()
        .map(|s| s.parse())
        .collect::<Result<Vec<Scope>>>()?;
    scopes.dedup();
    let mut file = TokenFile::load(path)?;
    if file.tokens.iter().any(|t| t.name == name) {
        return Err(Error::Usage(format!(
            "a token named {name:?} exists already (revoke it first)"
        )));
    }
    let token = generate();
    file.tokens.push(StoredToken {
        name: name.to_string(),
        scopes,
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        hash: hash(&token).to_hex().to_string(),
    });
    file.save(path)?;
    eprintln!("token {name:?} created; it is shown only now:");
    println!("{token}");
    Ok(0)
}

fn list(path: &Path, json: bool) -> Result<i32> {
    let file = TokenFile::load(path)?;
    if json {
        let v: Vec<_> = file
            .tokens
            .iter()
            .map(|t| serde_json::json!({"name": t.name, "scopes": t.scopes, "created": t.created}))
            .collect();
        crate::cli::print_json(&v)?;
        return Ok(0);
    }
    for t in &file.tokens {
        let scopes: Vec<_> = t.scopes.iter().map(|s| s.name()).collect();
        println!("{}\t{}\t{}", t.name, scopes.join(","), t.created);
    }
    Ok(0)
}

fn revoke(path: &Path, name: &str) -> Result<i32> {
    let mut file = TokenFile::load(path)?;
    let before = file.tokens.len();
    file.tokens.retain(|t| t.name != name);
    if file.tokens.len() == before {
        return Err(Error::Usage(format!("no token named {name:?}")));
    }
    file.save(path)?;
    eprintln!("token {name:?} revoked");
    Ok(0)
}
