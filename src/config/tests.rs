//! Loading and validation: every refusal names the file, the line and the
//! field; the accessors give typed values.

use std::path::Path;
use std::time::Duration;

use super::load::parse;
use super::Config;

const GOOD: &str = r#"
[server]
listen = "127.0.0.1:8667"
state_dir = "/var/lib/cairn"

[repositories.main]
location = "/srv/backups/main"
password_file = "/etc/cairn/main.pass"

[plans.databases]
repository = "main"
paths = ["/var/lib/sentinel"]
cron = "0 3 * * *"
timezone = "Europe/Berlin"
retention = "90d"
keep_min = 3
tags = ["scheduled"]
"#;

fn load(text: &str) -> cairn::Result<Config> {
    parse(Path::new("/etc/cairn/config.toml"), text, None)
}

/// The text with `from` replaced by `to` (which must occur once).
fn edit(from: &str, to: &str) -> String {
    assert_eq!(GOOD.matches(from).count(), 1, "{from:?}");
    GOOD.replace(from, to)
}

/// Loading fails with `FILE:LINE: ...` at `line`, mentioning `words`.
fn refused(text: &str, line: usize, words: &[&str]) {
    let e = load(text).expect_err("accepted");
    assert_eq!(e.kind(), cairn::ErrorKind::Usage, "{e}");
    let msg = e.to_string();
    let prefix = format!("/etc/cairn/config.toml:{line}: ");
    assert!(
        msg.starts_with(&prefix),
        "{msg:?} does not start with {prefix:?}"
    );
    for w in words {
        assert!(msg.contains(w), "{msg:?} lacks {w:?}");
    }
}

#[test]
fn the_issue_example_loads_with_typed_values() {
    let c = load(GOOD).unwrap();
    let p = &c.plans["databases"];
    let policy = p.policy().unwrap();
    assert_eq!((policy.daily, policy.min), (90, 3));
    assert!(p.schedule().unwrap().describe().contains("Europe/Berlin"));
    assert!(p.prune_schedule().is_none() && p.check_schedule().is_none());
    assert!(!p.check_options().read_data);
    assert_eq!(c.server.grace(), Duration::from_secs(60));
    assert_eq!(c.server.state_dir(), Path::new("/var/lib/cairn"));
}

#[test]
fn syntax_errors_and_unknown_keys_name_their_line() {
    refused(
        &edit("keep_min = 3", "keep_min = 3\nkeep_mni = 4"),
        17,
        &["plans.databases.keep_mni", "unknown field"],
    );
    refused(&edit("[server]", "[server]\nlisten = "), 3, &[]);
    refused(
        &edit("tags = [\"scheduled\"]", "tags = \"scheduled\""),
        17,
        &["plans.databases.tags"],
    );
}

#[test]
fn plan_errors_name_their_key() {
    refused(
        &edit("repository = \"main\"", "repository = \"mian\""),
        11,
        &["plans.databases.repository", "mian", "known: main"],
    );
    refused(
        &edit("cron = \"0 3 * * *\"", "cron = \"0 3 * *\""),
        13,
        &["plans.databases.cron"],
    );
    refused(
        &edit(
            "cron = \"0 3 * * *\"",
            "cron = \"0 3 * * *\"\nevery = \"6h\"",
        ),
        14,
        &["plans.databases.every", "not both"],
    );
    refused(
        &edit("Europe/Berlin", "Europe/Atlantis"),
        14,
        &["timezone", "Atlantis"],
    );
    refused(
        &edit("retention = \"90d\"", "retention = \"90q\""),
        15,
        &["retention"],
    );
    refused(
        &edit("keep_min = 3", "keep_min = 3\nkeep_daily = 7"),
        15,
        &["retention", "keep_*"],
    );
    refused(
        &edit("keep_min = 3", "jitter = \"5x\""),
        16,
        &["jitter", "bad duration"],
    );
    refused(
        &edit("paths = [\"/var/lib/sentinel\"]", "paths = [\"data\"]"),
        12,
        &["paths", "relative"],
    );
    refused(
        &edit("paths = [\"/var/lib/sentinel\"]", "paths = []"),
        12,
        &["nothing to back up"],
    );
    // A bucket is a plan's one path (17-bucket.md).
    let bucket = edit(
        "paths = [\"/var/lib/sentinel\"]",
        "paths = [\"r2:acct/media/photos\"]",
    );
    assert!(load(&bucket).is_ok());
    refused(
        &edit(
            "paths = [\"/var/lib/sentinel\"]",
            "paths = [\"r2:acct/media\", \"/srv\"]",
        ),
        12,
        &["paths", "bucket is backed up on its own"],
    );
    refused(
        &edit(
            "keep_min = 3",
            "check_read_data_subset = \"5%\"\ncheck_audit_budget = \"2GiB\"",
        ),
        17,
        &["check_audit_budget", "not both"],
    );
    refused(
        &edit("keep_min = 3", "check_audit_budget = \"lots\""),
        16,
        &["check_audit_budget"],
    );
    refused(
        &edit("keep_min = 3", "prune_every = \"1w\""),
        16,
        &["prune_every"],
    );
    refused(
        &edit(
            "tags = [\"scheduled\"]",
            "[plans.databases.notify]\nwebhook = \"ftp://x\"",
        ),
        18,
        &["plans.databases.notify.webhook"],
    );
}

#[test]
fn a_plan_without_a_schedule_runs_only_when_asked() {
    let manual = edit("cron = \"0 3 * * *\"\ntimezone = \"Europe/Berlin\"\n", "");
    assert!(load(&manual).unwrap().plans["databases"]
        .schedule()
        .is_none());
    refused(
        &edit("cron = \"0 3 * * *\"\n", ""),
        13,
        &["timezone", "only cron"],
    );
    let missed = edit(
        "cron = \"0 3 * * *\"\ntimezone = \"Europe/Berlin\"\n",
        "run_missed = true\n",
    );
    refused(&missed, 13, &["run_missed", "needs cron or every"]);
}

#[test]
fn repository_errors_name_their_key() {
    refused(
        &edit("password_file = \"/etc/cairn/main.pass\"", ""),
        6,
        &["repositories.main", "no password source"],
    );
    refused(
        &edit(
            "password_file = \"/etc/cairn/main.pass\"",
            "password_file = \"/etc/cairn/main.pass\"\npassword_env = \"PW\"",
        ),
        9,
        &[
            "more than one password source",
            "password_file, password_env",
        ],
    );
    refused(
        &edit("\"/srv/backups/main\"", "\"backups/main\""),
        7,
        &["location", "relative"],
    );
    refused(
        &edit(
            "\"/etc/cairn/main.pass\"",
            "\"/p\"\ns3_access_key_id_file = \"/k\"",
        ),
        9,
        &["s3_access_key_id_file", "without s3_secret_access_key_file"],
    );
    let s3 = edit("\"/srv/backups/main\"", "\"r2:acct/bucket/prefix\"");
    assert!(load(&s3).is_ok());
}

#[test]
fn server_errors_name_their_key() {
    refused(
        &edit("\"127.0.0.1:8667\"", "\"0.0.0.0:8667\""),
        3,
        &["server.listen", "insecure_listen"],
    );
    let open = edit("\"127.0.0.1:8667\"", "\"0.0.0.0:8667\"");
    let flagged = parse(Path::new("/c.toml"), &open, Some("TLS ends in the proxy")).unwrap();
    assert!(flagged.server.insecure_listen.is_some());
    let tls = edit("state_dir", "tls_cert = \"/etc/cairn/cert.pem\"\nstate_dir");
    refused(&tls, 4, &["server.tls_cert", "without tls_key"]);
    refused(
        &edit("\"/var/lib/cairn\"", "\"state\""),
        4,
        &["state_dir", "relative"],
    );
    let grace = edit("state_dir", "shutdown_grace = \"soon\"\nstate_dir");
    refused(&grace, 4, &["shutdown_grace"]);
}

#[test]
fn durations_combine_and_schedules_are_typed() {
    let c = load(&edit(
        "cron = \"0 3 * * *\"\n",
        "prune_every = \"1d\"\ncheck_cron = \"0 4 * * 0\"\ncheck_read_data_subset = \"1/7\"\n",
    ))
    .unwrap();
    let p = &c.plans["databases"];
    assert!(p.schedule().is_none());
    assert!(p.check_options().read_data);
    let t = chrono::Utc::now();
    assert_eq!(
        p.prune_schedule().unwrap().next_after(t),
        t + chrono::Duration::days(1)
    );
    assert!(p.check_schedule().unwrap().next_after(t) > t);
}

/// The commented example in docs/config.md: every key, valid as written.
#[test]
fn the_documented_example_loads() {
    let doc = include_str!("../../docs/config.md");
    let start = doc.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + doc[start..].find("```").expect("its end");
    let c = load(&doc[start..end]).unwrap();
    assert_eq!(c.server.grace(), Duration::from_secs(120));
    let db = &c.plans["databases"];
    let policy = db.policy().unwrap();
    assert_eq!(
        (policy.daily, policy.weekly, policy.monthly, policy.min),
        (90, 8, 12, 3)
    );
    assert!(db.check_options().audit.is_some() && db.notify.webhook.is_some());
    assert!(db.prune_schedule().is_some() && db.check_schedule().is_some());
    let home = &c.plans["home"];
    assert!(home.check_options().read_data);
    assert_eq!(c.repositories.len(), 2);
    let s3 = c.repositories["main"].storage_options("main");
    // The key files do not exist here: reading them fails, naming the file.
    let msg = s3.unwrap_err().to_string();
    assert!(msg.contains("/etc/cairn/r2.key-id"), "{msg}");
}

#[test]
fn the_readme_service_example_loads() {
    let readme = include_str!("../../README.md");
    let section = &readme[readme
        .find("## Running cairn as a service")
        .expect("the section")..];
    let start = section.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + section[start..].find("```").expect("its end");
    let c = load(&section[start..end]).unwrap();
    let db = &c.plans["databases"];
    assert!(db.schedule().is_some() && db.check_schedule().is_some());
    assert_eq!(db.policy().unwrap().min, 3);
    assert!(db.notify.healthchecks.is_some());
}
