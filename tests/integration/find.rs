//! `cairn find` across snapshots, and its memo of already searched subtrees.

use crate::util::*;

/// All JSON lines of stdout.
pub fn json_lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

fn matches(lines: &[serde_json::Value]) -> Vec<(String, String)> {
    lines
        .iter()
        .filter(|v| v["message_type"] == "match")
        .map(|v| {
            (
                v["snapshot"].as_str().unwrap()[..8].to_string(),
                v["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn source(env: &Env) -> std::path::PathBuf {
    let src = env.path("src");
    for d in 0..6 {
        for f in 0..5 {
            write(
                &src.join(format!("d{d}/sub/f{f}.txt")),
                format!("{d}{f}").as_bytes(),
            );
            write(&src.join(format!("d{d}/g{f}.rs")), b"fn main() {}");
        }
    }
    src
}

#[test]
fn find_across_snapshots_with_json_and_memo() {
    let env = Env::new();
    let src = source(&env);
    let base = src.to_string_lossy().into_owned();
    env.backup(&[&src], &["--time", "2026-01-01 10:00"]);
    write(&src.join("d3/sub/new.txt"), b"new");
    env.backup(&[&src], &["--time", "2026-01-02 10:00"]);
    env.backup(&[&src], &["--time", "2026-01-03 10:00"]);

    // One snapshot alone: how many trees a full search reads.
    let one = json_lines(&env.ok(&["--json", "find", "f1.txt", "-s", "latest"]));
    let single = one.last().unwrap().clone();
    assert_eq!(single["matches"], 6);
    let full_read = single["trees_read"].as_u64().unwrap();

    let out = env.ok(&["--json", "find", "*.txt"]);
    let lines = json_lines(&out);
    let sum = lines.last().unwrap();
    assert_eq!(sum["message_type"], "summary");
    assert_eq!(sum["snapshots"], 3);
    // 30 + 31 + 31 matches.
    assert_eq!(sum["matches"], 92);
    let m = matches(&lines);
    assert!(m
        .iter()
        .any(|(_, p)| *p == format!("{base}/d3/sub/new.txt")));
    assert_eq!(m.iter().filter(|(_, p)| p.ends_with("/new.txt")).count(), 2);
    // The second snapshot re-reads only the changed path (root .. d3/sub),
    // the third (identical to the second) nothing new. Other processes may
    // touch /tmp between backups, which changes the root and the tree above
    // the source: allow for those two. Without the memo it would be 3 × full.
    let depth = src.components().count() as u64; // "/" plus each component
    let changed_path = depth + 2; // ... src, d3, sub
    let read = sum["trees_read"].as_u64().unwrap();
    assert!(read >= full_read + 3, "{read} vs {full_read}");
    assert!(
        read <= full_read + changed_path + 2,
        "{read} vs {full_read}"
    );
    assert!(sum["trees_reused"].as_u64().unwrap() >= 6, "{sum}");

    // Text output says how many trees were read.
    let out = env.ok(&["find", "g0.rs"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("18 matches in 3 snapshots"), "{stderr}");
    assert!(stderr.contains("trees read: "), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 18);
}

#[test]
fn path_patterns_times_and_under() {
    let env = Env::new();
    let src = source(&env);
    let base = src.to_string_lossy().into_owned();
    set_times(&src, 1_700_000_000);
    filetime::set_file_mtime(
        src.join("d2/g4.rs"),
        filetime::FileTime::from_unix_time(1_800_000_000, 0),
    )
    .unwrap();
    env.backup(&[&src], &[]);

    let lines = json_lines(&env.ok(&["--json", "find", "**/d1/sub/*.txt"]));
    let mut got: Vec<String> = matches(&lines).into_iter().map(|(_, p)| p).collect();
    got.sort();
    let want: Vec<String> = (0..5).map(|f| format!("{base}/d1/sub/f{f}.txt")).collect();
    assert_eq!(got, want);
    // `*` does not cross `/` in a path pattern.
    let lines = json_lines(&env.ok(&["--json", "find", "/*.txt"]));
    assert_eq!(lines.last().unwrap()["matches"], 0);

    // Modification time bounds.
    let lines = json_lines(&env.ok(&["--json", "find", "*.rs", "--oldest", "2026-01-01"]));
    let got: Vec<String> = matches(&lines).into_iter().map(|(_, p)| p).collect();
    assert_eq!(got, [format!("{base}/d2/g4.rs")]);
    let lines = json_lines(&env.ok(&["--json", "find", "*.rs", "--newest", "2026-01-01"]));
    assert_eq!(lines.last().unwrap()["matches"], 29);

    // Only below one directory; case-insensitive.
    let under = format!("{base}/d4");
    let lines = json_lines(&env.ok(&["--json", "find", "G*.RS", "-i", "--under", &under]));
    assert_eq!(lines.last().unwrap()["matches"], 5);
    let lines = json_lines(&env.ok(&["--json", "find", "G*.RS", "--under", &under]));
    assert_eq!(lines.last().unwrap()["matches"], 0);

    // Filters: no snapshot with that tag, nothing searched.
    let lines = json_lines(&env.ok(&["--json", "find", "*", "--tag", "nope"]));
    assert_eq!(lines.last().unwrap()["snapshots"], 0);
    // A bad pattern is a usage error.
    assert_eq!(
        env.run(&["find", "a[", "--tag", "x"]).status.code(),
        Some(2)
    );
}

/// Through the library: a memo too small to keep anything gives the same
/// matches, only with more trees read.
#[test]
fn a_tiny_memo_changes_cost_not_results() {
    use cairn::explore::find::{FindOptions, Finder};
    let env = Env::new();
    let src = source(&env);
    env.backup(&[&src], &[]);
    write(&src.join("d0/sub/f0.txt"), b"changed");
    env.backup(&[&src], &[]);
    let repo = cairn::repo::Repository::open(
        env.storage(),
        PASSWORD.as_bytes(),
        cairn::repo::OpenOptions {
            cache_dir: Some(env.cache.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let snaps = repo.snapshots(&Default::default()).unwrap();
    let run = |limit: usize| {
        let mut opts = FindOptions::new("*.rs");
        opts.memo_limit = limit;
        let mut f = Finder::new(&repo, opts).unwrap();
        let mut found = Vec::new();
        for s in &snaps {
            f.search(s, &mut |m| {
                found.push(m.path.clone());
                Ok(())
            })
            .unwrap();
        }
        (found, f.stats().clone())
    };
    let (big, big_stats) = run(64 << 20);
    let (tiny, tiny_stats) = run(0);
    assert_eq!(big, tiny);
    assert_eq!(big.len(), 60);
    assert!(
        tiny_stats.trees_read > big_stats.trees_read,
        "{tiny_stats:?} {big_stats:?}"
    );
    // d1..d5 of the second snapshot are unchanged.
    assert_eq!(big_stats.trees_reused, 5);
}
