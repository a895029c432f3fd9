//! The proxy's tokens file: one token per line, `NAME SCOPE SECRET`, where
//! SCOPE is `append` or `full`; blank lines and lines starting with `#`
//! are ignored. Only the BLAKE3 hash of each secret is kept in memory, and
//! a presented token is hashed and compared with every stored hash in
//! constant time (`blake3::Hash`'s `==`), without stopping at a match, so
//! a wrong token and an unknown one cost the same. Errors name the file
//! and line, never the secret.

use std::collections::HashSet;
use std::path::Path;

use cairn::{Error, Result};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// List, read and create objects; overwrite or delete only the
    /// objects a backup itself rewrites (see `policy.rs`).
    Append,
    /// Everything, as with direct access to the backend.
    Full,
}

/// A secret shorter than this is refused: tokens guard a whole repository.
const MIN_SECRET: usize = 16;

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    scope: Scope,
    hash: blake3::Hash,
}

/// Who presented a token that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub scope: Scope,
}

/// The loaded tokens.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    entries: Vec<Entry>,
}

impl Tokens {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Tokens> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Usage(format!("tokens file {}: {e}", path.display())))?;
        Tokens::parse(&text).map_err(|e| Error::Usage(format!("{}:{e}", path.display())))
    }

    /// Parses the file's text; an error starts with the line number.
    pub fn parse(text: &str) -> std::result::Result<Tokens, String> {
        let mut entries = Vec::new();
        let mut names = HashSet::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [name, scope, secret] = fields[..] else {
                return Err(format!(
                    "{n}: expected NAME SCOPE SECRET, found {} fields",
                    fields.len()
                ));
            };
            let scope = match scope {
                "append" => Scope::Append,
                "full" => Scope::Full,
                other => return Err(format!("{n}: scope {other:?} is not append or full")),
            };
            if secret.len() < MIN_SECRET {
                return Err(format!(
                    "{n}: the secret of {name:?} is shorter than {MIN_SECRET} characters"
                ));
            }
            if !names.insert(name.to_string()) {
                return Err(format!("{n}: a second token named {name:?}"));
            }
            entries.push(Entry {
                name: name.to_string(),
                scope,
                hash: blake3::hash(secret.as_bytes()),
            });
        }
        Ok(Tokens { entries })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The identity `presented` belongs to, if any. Every stored hash is
    /// compared, in constant time.
    pub fn check(&self, presented: &str) -> Option<Identity> {
        let hash = blake3::hash(presented.as_bytes());
        let mut found = None;
        for e in &self.entries {
            if e.hash == hash {
                found = Some(Identity {
                    name: e.name.clone(),
                    scope: e.scope,
                });
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# the proxy's tokens\n\
        laptop append 0123456789abcdef-laptop\n\
        \n   operator   full   0123456789abcdef-operator  \n";

    #[test]
    fn finds_the_token_and_only_the_token() {
        let t = Tokens::parse(FILE).unwrap();
        assert_eq!(t.len(), 2);
        let id = t.check("0123456789abcdef-laptop").unwrap();
        assert_eq!((id.name.as_str(), id.scope), ("laptop", Scope::Append));
        assert_eq!(
            t.check("0123456789abcdef-operator").unwrap().scope,
            Scope::Full
        );
        for wrong in [
            "",
            "laptop",
            "0123456789abcdef-laptoP",
            "0123456789abcdef-laptop ",
        ] {
            assert_eq!(t.check(wrong), None, "{wrong:?}");
        }
    }

    #[test]
    fn bad_lines_name_the_line_never_the_secret() {
        for (text, want) in [
            ("a append\n", "1: expected NAME SCOPE SECRET"),
            ("\na read 0123456789abcdef-x\n", "2: scope \"read\""),
            ("a full short-secret\n", "1: the secret of \"a\" is shorter"),
            (
                "a full 0123456789abcdef-1\na full 0123456789abcdef-2\n",
                "2: a second token named \"a\"",
            ),
        ] {
            let e = Tokens::parse(text).unwrap_err();
            assert!(e.starts_with(want), "{e}");
            assert!(
                !e.contains("short-secret") && !e.contains("0123456789"),
                "{e}"
            );
        }
    }
}
