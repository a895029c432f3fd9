//! `cairn stats` on a crafted tree with exact expected numbers: two
//! snapshots sharing files, a file duplicated inside one snapshot, and a
//! third snapshot equal to the first (so nothing of it is unique).

use serde_json::Value;

use crate::util::*;

/// Sealing a chunk of incompressible data adds a nonce (24), the stored
/// flag (1) and the tag (16): format-spec/03-envelope.md.
const SEAL: u64 = 41;

fn id(v: &Value) -> String {
    v["snapshot_id"].as_str().unwrap().to_string()
}

fn one(env: &Env, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["stats"];
    all.extend_from_slice(args);
    env.json(&all).as_array().unwrap().clone()
}

fn assert_stats(s: &Value, want: [u64; 7]) {
    let [files, logical, chunks, distinct, unique_chunks, unique, dirs] = want;
    assert_eq!(s["files"], files, "{s}");
    assert_eq!(s["dirs"], dirs, "{s}");
    assert_eq!(s["logical_bytes"], logical, "{s}");
    assert_eq!(s["chunks"], chunks, "{s}");
    assert_eq!(s["distinct_bytes"], distinct, "{s}");
    assert_eq!(s["stored_bytes"], distinct + SEAL * chunks, "{s}");
    assert_eq!(s["unique_chunks"], unique_chunks, "{s}");
    assert_eq!(s["unique_bytes"], unique, "{s}");
    assert_eq!(
        s["unique_stored_bytes"],
        unique + SEAL * unique_chunks,
        "{s}"
    );
    let ratio = s["dedup_ratio"].as_f64().unwrap();
    assert!(
        (ratio - logical as f64 / distinct as f64).abs() < 1e-9,
        "{s}"
    );
}

#[test]
fn counts_unique_stored_bytes_and_prefixes_exactly() {
    let env = Env::new();
    let src = env.path("src");
    let base = src.to_string_lossy().into_owned();
    write(&src.join("a.bin"), &random_bytes(1, 100));
    write(&src.join("shared.bin"), &random_bytes(2, 200));
    write(&src.join("sub/dup1.bin"), &random_bytes(3, 300));
    write(&src.join("sub/dup2.bin"), &random_bytes(3, 300));
    let a = id(&env.backup(&[&src], &[]));
    // The directories above src/ are in the snapshot too.
    let dirs = std::path::Path::new(&base).components().count() as u64;

    std::fs::remove_file(src.join("a.bin")).unwrap();
    std::fs::remove_file(src.join("sub/dup2.bin")).unwrap();
    write(&src.join("b.bin"), &random_bytes(4, 50));
    let b = id(&env.backup(&[&src], &[]));

    // A: a, shared, dup, dup (one chunk twice); only `a` is its own.
    // B: shared, b, dup; only `b` is its own.
    let got = one(&env, &[&a, &b]);
    assert_eq!(got.len(), 2);
    assert_eq!(id(&got[0]), a);
    assert_stats(&got[0], [4, 900, 3, 600, 1, 100, dirs]);
    assert_stats(&got[1], [3, 550, 3, 550, 1, 50, dirs]);
    // Directories: everything sits in src/ (its parents, holding nothing
    // else, are not listed), then src/sub/.
    let prefixes = &got[0]["largest_prefixes"];
    assert_eq!(prefixes[0]["path"], format!("{base}/"), "{prefixes}");
    assert_eq!(prefixes[0]["files"], 4);
    assert_eq!(prefixes[0]["logical_bytes"], 900);
    assert_eq!(prefixes[1]["path"], format!("{base}/sub/"));
    assert_eq!(prefixes[1]["logical_bytes"], 600);
    assert_eq!(prefixes.as_array().unwrap().len(), 2);
    let top1 = one(&env, &["--top", "1", &a]);
    assert_eq!(top1[0]["largest_prefixes"].as_array().unwrap().len(), 1);

    // Asked alone, B's unique chunks are measured against every other
    // snapshot in the repository: the same numbers.
    let alone = one(&env, &[&b[..8]]);
    assert_stats(&alone[0], [3, 550, 3, 550, 1, 50, dirs]);

    // A third snapshot like A: nothing of A is unique any more, whether C
    // is asked about together with it or not.
    std::fs::remove_file(src.join("b.bin")).unwrap();
    write(&src.join("a.bin"), &random_bytes(1, 100));
    write(&src.join("sub/dup2.bin"), &random_bytes(3, 300));
    let c = id(&env.backup(&[&src], &[]));
    assert_stats(&one(&env, &[&a])[0], [4, 900, 3, 600, 0, 0, dirs]);
    let both = one(&env, &[&a, &c]);
    assert_stats(&both[0], [4, 900, 3, 600, 0, 0, dirs]);
    assert_stats(&both[1], [4, 900, 3, 600, 0, 0, dirs]);
    // Without arguments: every snapshot, oldest first.
    let every = one(&env, &[]);
    let ids: Vec<String> = every.iter().map(id).collect();
    assert_eq!(ids, vec![a, b, c]);
}

#[test]
fn text_output_names_the_numbers() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("x/one.bin"), &random_bytes(9, 1000));
    env.backup(&[&src], &[]);
    let out = env.ok(&["stats", "latest"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("files:            1 in"), "{text}");
    assert!(text.contains("logical size:     1000 B"), "{text}");
    assert!(
        text.contains("unique to it:     1000 B in 1 chunks"),
        "{text}"
    );
    assert!(text.contains("/src/x/"), "{text}");
}
