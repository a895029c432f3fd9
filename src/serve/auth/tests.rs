use super::*;

#[test]
fn scopes_imply_read_and_admin_implies_all() {
    for need in Scope::ALL {
        assert!(Scope::Admin.grants(need));
    }
    assert!(Scope::Backup.grants(Scope::Read));
    assert!(Scope::Restore.grants(Scope::Read));
    assert!(!Scope::Read.grants(Scope::Backup));
    assert!(!Scope::Backup.grants(Scope::Restore));
    assert!(!Scope::Restore.grants(Scope::Backup));
    assert!(!Scope::Backup.grants(Scope::Admin));
}

#[test]
fn tokens_are_checked_by_hash_and_reloaded_when_the_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = Tokens::new(dir.path());
    let read = generate();
    assert_eq!(tokens.check(Some(&read), Scope::Read), Verdict::Unknown);
    let mut file = TokenFile::default();
    file.tokens.push(StoredToken {
        name: "r".into(),
        scopes: vec![Scope::Read],
        created: String::new(),
        hash: hash(&read).to_hex().to_string(),
    });
    file.save(&tokens_path(dir.path())).unwrap();
    let text = std::fs::read_to_string(tokens_path(dir.path())).unwrap();
    assert!(!text.contains(&read), "the token itself is never stored");
    assert_eq!(tokens.check(Some(&read), Scope::Read), Verdict::Allowed);
    assert_eq!(tokens.check(Some(&read), Scope::Backup), Verdict::Forbidden);
    assert_eq!(
        tokens.check(Some("cairn_00"), Scope::Read),
        Verdict::Unknown
    );
    assert_eq!(tokens.check(None, Scope::Read), Verdict::Unknown);
    // An empty presented token never matches, even against an empty hash list entry.
    file.tokens.clear();
    file.save(&tokens_path(dir.path())).unwrap();
    assert_eq!(tokens.check(Some(&read), Scope::Read), Verdict::Unknown);
}

#[test]
fn the_token_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = tokens_path(&dir.path().join("state"));
    TokenFile::default().save(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}
