//! `cairn serve token create|list|revoke`: the token is printed once, alone
//! on the last line; only its hash is stored, in a file only its owner
//! reads; duplicate and unknown names are usage errors (exit 2).

use std::os::unix::fs::PermissionsExt;

use crate::serve_api_util::Serve;

#[test]
fn serve_api_tokens_are_printed_once_and_stored_as_hashes() {
    let s = Serve::new("");
    let token = s.token("ci", &["backup", "read"]);
    assert!(token.starts_with("cairn_") && token.len() > 60, "{token}");
    let file = s.path("state/tokens.json");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(&token), "the token itself is stored: {text}");
    assert!(text.contains(&blake3::hash(token.as_bytes()).to_hex().to_string()));
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let dup = s.run(&["token", "create", "--name", "ci", "--scope", "read"]);
    assert_eq!(dup.status.code(), Some(2), "a duplicate name");
    let bad = s.run(&["token", "create", "--name", "x", "--scope", "root"]);
    assert_eq!(bad.status.code(), Some(2), "an unknown scope");

    let list = s.run(&["token", "list"]);
    assert!(list.status.success());
    let list = String::from_utf8(list.stdout).unwrap();
    assert!(
        list.contains("ci") && list.contains("backup,read"),
        "{list}"
    );
    assert!(!list.contains(&token));

    assert_eq!(s.run(&["token", "revoke", "nobody"]).status.code(), Some(2));
    assert!(s.run(&["token", "revoke", "ci"]).status.success());
    let list = s.run(&["token", "list"]);
    assert!(!String::from_utf8(list.stdout).unwrap().contains("ci"));
}
