//! R2 bucket-lock rules for a repository (format-spec/09-config.md,
//! "Retention lock"): the rules that protect its immutable objects, in
//! Cloudflare's JSON shape (`wrangler r2 bucket lock set --file`, or the
//! API's PUT `…/r2/buckets/NAME/lock`), and a check of a rule set against
//! the layout.
//!
//! A rule covers every key starting with its prefix. The layout keeps each
//! kind of object under its own prefix, so one rule per immutable prefix
//! protects exactly those; a rule reaching a mutable object (a lock
//! generation, a backup marker, the policy, a probe) would make cairn's
//! deletes or rewrites of it fail, so backups and prunes would fail.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::format::layout;
use crate::repo::object_lock::IMMUTABLE_PREFIXES;

/// The mutable keys and prefixes (the probe's name starts with this).
pub const MUTABLE_PREFIXES: [&str; 5] = [
    layout::LOCKS_PREFIX,
    layout::RUNNING_PREFIX,
    layout::CONDEMNED_PREFIX,
    layout::POLICY,
    "cairn-probe-",
];

/// Cloudflare's bucket-lock configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockRules {
    pub rules: Vec<LockRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockRule {
    pub id: String,
    pub enabled: bool,
    #[serde(default)]
    pub prefix: String,
    pub condition: Condition,
}

/// How long a rule locks an object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Condition {
    /// For this long after the upload.
    Age {
        #[serde(rename = "maxAgeSeconds")]
        max_age_seconds: u64,
    },
    /// Until a date (RFC 3339).
    Date { date: String },
    /// For ever.
    Indefinite,
}

/// The immutable object prefixes under the location's key prefix
/// (`config` is a key, which as a prefix covers only itself).
fn protected(location_prefix: &str) -> Vec<String> {
    std::iter::once(layout::CONFIG)
        .chain(IMMUTABLE_PREFIXES)
        .map(|p| format!("{location_prefix}{p}"))
        .collect()
}

/// The rules to set for `days` of retention.
pub fn rules_for(location_prefix: &str, days: u32) -> LockRules {
    let rules = protected(location_prefix)
        .into_iter()
        .map(|prefix| LockRule {
            id: format!("cairn {prefix} {days}d"),
            enabled: true,
            condition: Condition::Age {
                max_age_seconds: u64::from(days) * 86_400,
            },
            prefix,
        })
        .collect();
    LockRules { rules }
}

/// One finding of [`check_rules`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `warning` (protection weaker than configured) or `error` (backups
    /// or prunes would fail).
    pub severity: &'static str,
    pub prefix: String,
    pub message: String,
}

/// Compares `rules` with the layout under `location_prefix` and `days` of
/// configured retention.
pub fn check_rules(rules: &LockRules, location_prefix: &str, days: u32) -> Vec<Finding> {
    let enabled: Vec<&LockRule> = rules.rules.iter().filter(|r| r.enabled).collect();
    let want = u64::from(days) * 86_400;
    let mut out = Vec::new();
    for prefix in protected(location_prefix) {
        // Only a rule whose prefix contains the whole of `prefix` covers it.
        let best = enabled
            .iter()
            .filter(|r| prefix.starts_with(&r.prefix))
            .map(|r| seconds(&r.condition))
            .max();
        let message = match best {
            None => "not covered by any enabled rule: a stolen key can delete these".to_string(),
            Some(s) if s < want => format!(
                "covered for {} days only, less than the configured {days}",
                s / 86_400
            ),
            Some(_) => continue,
        };
        out.push(Finding {
            severity: "warning",
            prefix,
            message,
        });
    }
    for m in MUTABLE_PREFIXES {
        let prefix = format!("{location_prefix}{m}");
        if let Some(r) = enabled
            .iter()
            .find(|r| prefix.starts_with(&r.prefix) || r.prefix.starts_with(&prefix))
        {
            out.push(Finding {
                severity: "error",
                prefix,
                message: format!(
                    "rule {:?} locks these mutable objects: backups and prunes would fail",
                    r.id
                ),
            });
        }
    }
    out
}

/// Seconds a condition locks a new object (a date counts as for ever: its
/// length depends on the upload, and it is at least as strong until then).
fn seconds(c: &Condition) -> u64 {
    match c {
        Condition::Age { max_age_seconds } => *max_age_seconds,
        Condition::Date { .. } | Condition::Indefinite => u64::MAX,
    }
}

/// Parses a rules file (the JSON `rules_for` prints).
pub fn parse_rules(text: &str) -> Result<LockRules> {
    serde_json::from_str(text).map_err(|e| Error::Usage(format!("lock rules: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_rules_cover_every_immutable_prefix_and_pass_the_check() {
        let rules = rules_for("backups/", 30);
        let json = serde_json::to_value(&rules).unwrap();
        assert_eq!(json["rules"][0]["prefix"], "backups/config");
        assert_eq!(json["rules"][0]["enabled"], true);
        assert_eq!(json["rules"][0]["condition"]["type"], "Age");
        assert_eq!(json["rules"][0]["condition"]["maxAgeSeconds"], 30 * 86_400);
        let prefixes: Vec<&str> = rules.rules.iter().map(|r| r.prefix.as_str()).collect();
        assert_eq!(
            prefixes,
            [
                "backups/config",
                "backups/packs/",
                "backups/index/",
                "backups/ids/",
                "backups/snapshots/",
                "backups/keys/",
                "backups/audit/"
            ]
        );
        assert_eq!(check_rules(&rules, "backups/", 30), []);
        let back = parse_rules(&serde_json::to_string(&rules).unwrap()).unwrap();
        assert_eq!(back, rules);
    }

    #[test]
    fn missing_short_and_overreaching_rules_are_reported() {
        let mut rules = rules_for("", 30);
        rules.rules.retain(|r| r.prefix != "snapshots/");
        rules.rules[1].condition = Condition::Age {
            max_age_seconds: 86_400,
        };
        let f = check_rules(&rules, "", 30);
        let summary: Vec<(&str, &str)> =
            f.iter().map(|f| (f.severity, f.prefix.as_str())).collect();
        assert_eq!(summary, [("warning", "packs/"), ("warning", "snapshots/")]);
        // A disabled rule protects nothing.
        let mut off = rules_for("", 30);
        off.rules.iter_mut().for_each(|r| r.enabled = false);
        assert_eq!(check_rules(&off, "", 30).len(), 7);
        // One rule over the whole bucket covers the immutable objects but
        // also locks and markers: errors.
        let all = LockRules {
            rules: vec![LockRule {
                id: "all".into(),
                enabled: true,
                prefix: String::new(),
                condition: Condition::Indefinite,
            }],
        };
        let f = check_rules(&all, "", 30);
        assert!(f.iter().all(|f| f.severity == "error"), "{f:?}");
        assert_eq!(f.len(), MUTABLE_PREFIXES.len());
        // A rule on a prefix inside a mutable one is an error too.
        let inner = LockRules {
            rules: vec![LockRule {
                prefix: "running/ab".into(),
                ..all.rules[0].clone()
            }],
        };
        assert!(check_rules(&inner, "", 30)
            .iter()
            .any(|f| f.severity == "error"));
    }

    #[test]
    fn cloudflare_shapes_parse() {
        let text = r#"{"rules":[
            {"id":"a","enabled":true,"prefix":"packs/","condition":{"type":"Age","maxAgeSeconds":86400}},
            {"id":"b","enabled":true,"condition":{"type":"Date","date":"2030-01-01T00:00:00Z"}},
            {"id":"c","enabled":false,"prefix":"x","condition":{"type":"Indefinite"}}]}"#;
        let r = parse_rules(text).unwrap();
        assert_eq!(r.rules[1].prefix, "");
        assert!(parse_rules("{\"rules\":[{\"id\":1}]}").is_err());
    }
}
