//! `cairn diff` between snapshots.

use std::os::unix::fs::PermissionsExt;

use crate::find::json_lines;
use crate::util::*;

fn changes(lines: &[serde_json::Value], base: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = lines
        .iter()
        .filter(|v| v["message_type"] == "change")
        .map(|v| {
            let p = v["path"].as_str().unwrap();
            (
                v["change"].as_str().unwrap().to_string(),
                p.strip_prefix(base).unwrap_or(p).to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn added_removed_modified_type_and_metadata() {
    let env = Env::new();
    let src = env.path("src");
    let base = src.to_string_lossy().into_owned();
    write(&src.join("keep/a.txt"), b"same");
    write(&src.join("keep/deep/b.txt"), b"same too");
    write(&src.join("edit.txt"), b"before");
    write(&src.join("gone/x.txt"), b"x");
    write(&src.join("gone/y.txt"), b"yy");
    write(&src.join("chmod.txt"), b"perm");
    write(&src.join("becomes-dir"), b"file");
    set_times(&src, 1_700_000_000);
    env.backup(&[&src], &[]);
    let first = env.json(&["snapshots"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    write(&src.join("edit.txt"), b"after!!");
    std::fs::remove_dir_all(src.join("gone")).unwrap();
    write(&src.join("new/n.txt"), b"12345");
    std::fs::set_permissions(
        src.join("chmod.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::remove_file(src.join("becomes-dir")).unwrap();
    write(&src.join("becomes-dir/inner"), b"i");
    env.backup(&[&src], &[]);

    let out = env.ok(&["--json", "diff", &first, "latest"]);
    let lines = json_lines(&out);
    let got = changes(&lines, &base);
    let want: Vec<(String, String)> = [
        ("added", "/becomes-dir/inner"),
        ("added", "/new"),
        ("added", "/new/n.txt"),
        ("modified", "/edit.txt"),
        ("removed", "/gone"),
        ("removed", "/gone/x.txt"),
        ("removed", "/gone/y.txt"),
        ("type_changed", "/becomes-dir"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want);
    let sum = lines.last().unwrap();
    assert_eq!(sum["added"], 3);
    assert_eq!(sum["removed"], 3);
    assert_eq!(sum["modified"], 1);
    assert_eq!(sum["type_changed"], 1);
    assert_eq!(sum["added_bytes"], 1 + 5); // inner and n.txt; directories count 0
    assert_eq!(sum["removed_bytes"], 1 + 2 + 4); // x, y, and the file that became a dir
    assert_eq!(sum["modified_old_bytes"], 6);
    assert_eq!(sum["modified_new_bytes"], 7);
    // `keep` is unchanged: skipped by id without being read.
    assert!(sum["subtrees_skipped"].as_u64().unwrap() >= 1);

    // With --metadata: the chmod and the parent directories' mtimes show up.
    let lines = json_lines(&env.ok(&["--json", "diff", &first, "latest", "--metadata"]));
    let got = changes(&lines, &base);
    assert!(
        got.contains(&("metadata".into(), "/chmod.txt".into())),
        "{got:?}"
    );
    assert!(!got.iter().any(|(_, p)| p.starts_with("/keep")), "{got:?}");

    // A sub-path on one side applies to both; text output uses one-letter codes.
    let spec = format!("latest:{base}/gone");
    let out = env.run(&["diff", &first, &spec]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "gone/ is not in the newer snapshot"
    );
    let spec = format!("{first}:{base}");
    let out = env.ok(&["diff", &spec, "latest"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("M    {base}/edit.txt")), "{text}");
    assert!(text.contains(&format!("T    {base}/becomes-dir")), "{text}");
    assert!(text.contains("added 3"), "{text}");

    // Identical snapshots: nothing, and the root is skipped.
    env.backup(&[&src], &[]);
    let lines = json_lines(&env.ok(&["--json", "diff", "latest", "latest"]));
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["trees_read"], 0);
}
