//! A repository by name: the password from each kind of source, the S3 key
//! files, and opening a real (local) repository through the configuration.

use std::path::Path;
use std::sync::Arc;

use cairn::repo::{InitOptions, OpenOptions, Repository};
use cairn::storage::local::LocalStorage;

use super::load::parse;
use super::open_repository;

const PASSWORD: &str = "correct horse battery staple";

fn init_repo(dir: &Path) {
    let storage = Arc::new(LocalStorage::create(dir.to_path_buf()).unwrap());
    let init = InitOptions {
        kdf: Some(cairn::crypto::KdfParams::insecure_for_tests()),
        ..InitOptions::default()
    };
    let open = OpenOptions {
        cache_dir: Some(dir.join("../cache")),
        ..Default::default()
    };
    Repository::init(storage, PASSWORD.as_bytes(), init, open).unwrap();
}

#[test]
fn every_password_source_opens_the_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    init_repo(&repo);
    let file = tmp.path().join("pass");
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
    let var = "CAIRN_CONFIG_TEST_PASSWORD_71";
    // SAFETY: a variable only this test reads.
    unsafe { std::env::set_var(var, PASSWORD) };
    let text = format!(
        "[repositories.f]\nlocation = {repo:?}\npassword_file = {file:?}\n\
         [repositories.c]\nlocation = {repo:?}\npassword_command = \"printf '%s' '{PASSWORD}'\"\n\
         [repositories.e]\nlocation = {repo:?}\npassword_env = \"{var}\"\n\
         [repositories.wrong]\nlocation = {repo:?}\npassword_command = \"echo nope\"\n"
    );
    let config = parse(Path::new("/c.toml"), &text, None).unwrap();
    for name in ["f", "c", "e"] {
        let access = config.access(name).unwrap();
        assert_eq!(access.password.as_str(), PASSWORD, "{name}");
        let (repo, stats) = open_repository(&access, Some(tmp.path().join("cache"))).unwrap();
        let filter = cairn::repo::SnapshotFilter::default();
        assert!(repo.snapshots(&filter).unwrap().is_empty());
        assert!(
            stats.snapshot().gets > 0,
            "{name}: the handle counts requests"
        );
        // Debug output never shows the password.
        assert!(!format!("{access:?}").contains(PASSWORD));
    }
    let wrong = config.access("wrong").unwrap();
    let Err(e) = open_repository(&wrong, None) else {
        panic!("opened with a wrong password")
    };
    assert_eq!(e.kind(), cairn::ErrorKind::WrongPassword);
    let unknown = config.access("nope").unwrap_err().to_string();
    assert!(unknown.contains("known: c, e, f, wrong"), "{unknown}");
}

#[test]
fn s3_key_files_become_explicit_credentials() {
    let tmp = tempfile::tempdir().unwrap();
    let (id, secret) = (tmp.path().join("id"), tmp.path().join("secret"));
    std::fs::write(&id, "AKIDEXAMPLE\n").unwrap();
    std::fs::write(&secret, "s3cr3t-value\n").unwrap();
    let text = format!(
        "[repositories.r]\nlocation = \"s3:https://s3.example.com/bucket\"\n\
         password_env = \"X\"\ns3_region = \"eu-1\"\ns3_connections = 3\n\
         s3_access_key_id_file = {id:?}\ns3_secret_access_key_file = {secret:?}\n"
    );
    let config = parse(Path::new("/c.toml"), &text, None).unwrap();
    let opts = config.repositories["r"].storage_options("r").unwrap();
    let creds = opts.s3.credentials.as_ref().expect("credentials");
    assert_eq!(creds.access_key_id, "AKIDEXAMPLE");
    assert_eq!(creds.secret_access_key.as_str(), "s3cr3t-value");
    assert!(!format!("{opts:?}").contains("s3cr3t"));
    // A number the configuration sets is kept fixed.
    assert_eq!(
        (
            opts.s3.region.as_deref(),
            opts.s3.connections,
            opts.s3.adaptive
        ),
        (Some("eu-1"), 3, false)
    );
    let text =
        "[repositories.r]\nlocation = \"s3:https://s3.example.com/b\"\npassword_env = \"X\"\n";
    let config = parse(Path::new("/c.toml"), text, None).unwrap();
    let opts = config.repositories["r"].storage_options("r").unwrap();
    assert!(opts.s3.adaptive);
}
