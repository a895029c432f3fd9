//! Reading the file: parse with `toml`, then [`super::validate`] once.
//! Every error is `FILE:LINE: FIELD: reason`, an `Error::Usage` (exit 2):
//! parse errors carry toml's span; semantic errors find the line of the
//! offending key by walking toml's spanned document along the field's path.

use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use cairn::{Error, Result};

use super::Config;

/// The default file: `cairn/config.toml` in the user's config directory.
pub fn default_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("cairn").join("config.toml"))
}

/// Reads and validates the file; after this, every typed accessor of the
/// tree (schedules, policies, durations, check options) succeeds.
pub fn load(path: &Path) -> Result<Config> {
    load_with(path, None)
}

/// [`load`], with the `--insecure-listen REASON` flag of `cairn serve`
/// (it allows a non-loopback `listen` without TLS, as the
/// `server.insecure_listen` key does).
pub fn load_with(path: &Path, insecure_listen: Option<&str>) -> Result<Config> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        // The user named it (or relied on the default): a usage error, exit 2.
        std::io::ErrorKind::NotFound => Error::Usage(format!(
            "{}: no such configuration file (--config or CAIRN_CONFIG names another)",
            path.display()
        )),
        _ => Error::file("configuration file", path, e),
    })?;
    parse(path, &text, insecure_listen)
}

/// Parses and validates `text` as the contents of `path`.
pub fn parse(path: &Path, text: &str, insecure_listen: Option<&str>) -> Result<Config> {
    let at = Locator { path, text };
    let mut config: Config = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        let line = at.line_of(offset);
        let why = e.message().trim_end().replace('\n', " ");
        match at.field_at(offset) {
            Some(field) => Error::Usage(format!("{}:{line}: {field}: {why}", path.display())),
            None => Error::Usage(format!("{}:{line}: {why}", path.display())),
        }
    })?;
    if let Some(reason) = insecure_listen {
        config.server.insecure_listen = Some(reason.to_string());
    }
    super::validate::validate(&mut config, &at)?;
    Ok(config)
}

/// Turns a field path into `FILE:LINE: FIELD: reason`.
pub struct Locator<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl Locator<'_> {
    /// An error about `field` (`["plans", "db", "cron"]`), at the line of
    /// the deepest part of that path present in the file (the table header
    /// when the key itself is missing).
    pub fn error(&self, field: &[&str], reason: impl std::fmt::Display) -> Error {
        let line = self.line_of(self.offset_of(field));
        Error::Usage(format!(
            "{}:{line}: {}: {reason}",
            self.path.display(),
            field.join(".")
        ))
    }

    fn offset_of(&self, field: &[&str]) -> usize {
        let Ok(doc) = DeTable::parse(self.text) else {
            return 0;
        };
        let mut table = doc.get_ref();
        let mut offset = 0;
        for name in field {
            let Some((k, v)) = table.iter().find(|(k, _)| k.get_ref().as_ref() == *name) else {
                break;
            };
            offset = k.span().start;
            match v.get_ref() {
                DeValue::Table(t) => table = t,
                _ => break,
            }
        }
        offset
    }

    /// The dotted path of the key or value at `offset` (for parse errors,
    /// which toml reports by position).
    fn field_at(&self, offset: usize) -> Option<String> {
        let doc = DeTable::parse(self.text).ok()?;
        let mut path = Vec::new();
        find_at(doc.get_ref(), offset, &mut path).then(|| path.join("."))
    }

    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }
}

/// Depth-first search for the entry whose key or (non-table) value holds
/// `offset`, pushing the keys on the way. Table headers do not span their
/// bodies, so every table is searched.
fn find_at(table: &DeTable, offset: usize, path: &mut Vec<String>) -> bool {
    for (k, v) in table.iter() {
        path.push(k.get_ref().to_string());
        if k.span().contains(&offset) {
            return true;
        }
        match v.get_ref() {
            DeValue::Table(t) if find_at(t, offset, path) => return true,
            DeValue::Table(_) => {}
            _ if v.span().contains(&offset) => return true,
            _ => {}
        }
        path.pop();
    }
    false
}
