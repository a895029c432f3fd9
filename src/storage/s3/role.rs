//! Which side of an operation a bucket that is not the repository is on,
//! and where its credentials come from: its own environment variables
//! (`CAIRN_SOURCE_*`, `CAIRN_TARGET_*`), never the repository's, so a
//! backup from one account into another cannot sign the source's requests
//! with the repository's keys by accident.

use zeroize::Zeroizing;

use super::config::{Env, Secrets};

/// Which side of an operation a bucket is on: names it in messages and
/// picks its environment variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// What a bucket backup reads (`CAIRN_SOURCE_*`).
    Source,
    /// Where a restore writes objects (`CAIRN_TARGET_*`).
    Target,
}

impl Role {
    /// "source" or "target", as messages say it.
    pub fn word(self) -> &'static str {
        match self {
            Role::Source => "source",
            Role::Target => "target",
        }
    }

    /// `CAIRN_SOURCE_` or `CAIRN_TARGET_`.
    pub fn env_prefix(self) -> &'static str {
        match self {
            Role::Source => "CAIRN_SOURCE_",
            Role::Target => "CAIRN_TARGET_",
        }
    }

    fn key_vars(self) -> &'static str {
        match self {
            Role::Source => "CAIRN_SOURCE_ACCESS_KEY_ID/CAIRN_SOURCE_SECRET_ACCESS_KEY",
            Role::Target => "CAIRN_TARGET_ACCESS_KEY_ID/CAIRN_TARGET_SECRET_ACCESS_KEY",
        }
    }

    /// Credentials from `PREFIX_ACCESS_KEY_ID`, `PREFIX_SECRET_ACCESS_KEY`
    /// and `PREFIX_SESSION_TOKEN`; no fallback to the repository's keys.
    pub fn secrets_from_env(self, env: Env) -> std::result::Result<Secrets, String> {
        let p = self.env_prefix();
        let var = |name: &str| env(&format!("{p}{name}"));
        match (var("ACCESS_KEY_ID"), var("SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Ok(Secrets {
                access_key_id: id,
                secret_access_key: Zeroizing::new(secret),
                session_token: var("SESSION_TOKEN").map(Zeroizing::new),
                source: self.key_vars(),
            }),
            _ => Err(format!(
                "no credentials for the {} bucket: set {p}ACCESS_KEY_ID and \
                 {p}SECRET_ACCESS_KEY (or give key files); the repository's keys are never used for it",
                self.word()
            )),
        }
    }

    /// `PREFIX_REGION`, if set.
    pub fn region_from_env(self, env: Env) -> Option<String> {
        env(&format!("{}REGION", self.env_prefix()))
    }
}
