//! Exclude globs, exclude files and marker files.

use super::*;

fn with_excludes(base: &Path, patterns: &[&str]) -> FsOptions {
    FsOptions {
        excludes: patterns.iter().map(|s| s.to_string()).collect(),
        ..opts(&[base.to_path_buf()])
    }
}

fn sample(base: &Path) {
    for f in [
        "a.tmp",
        "keep.txt",
        "src/b.tmp",
        "src/node_modules/pkg/index.js",
        "node_modules/x",
        "cache/c1",
        "src/cache/c2",
        "logs/old.log",
        "logs/keep.log",
        "deep/logs/nested/n.log",
    ] {
        touch(&base.join(f));
    }
}

#[test]
fn name_patterns_match_at_any_depth() {
    let (_t, base) = tempdir();
    sample(&base);
    let got = walk_dir(with_excludes(&base, &["*.tmp", "node_modules"]), &base);
    assert!(!got
        .iter()
        .any(|e| e.contains("tmp") || e.contains("node_modules")));
    assert!(got.contains(&"-keep.txt".to_string()));
    assert!(!got.contains(&"-index.js".to_string()));
    assert!(got.contains(&"-c2".to_string()));
}

#[test]
fn anchored_pattern_matches_only_that_path() {
    let (_t, base) = tempdir();
    sample(&base);
    let anchored = format!("{}/cache", base.display());
    let got = walk_dir(with_excludes(&base, &[&anchored]), &base);
    assert!(!got.contains(&"-c1".to_string()), "{got:?}");
    assert!(got.contains(&"-c2".to_string()), "{got:?}");
    assert!(
        got.contains(&"+cache".to_string()),
        "src/cache stays: {got:?}"
    );
}

#[test]
fn double_star_and_negation() {
    let (_t, base) = tempdir();
    sample(&base);
    // `logs/**` empties every logs dir but keeps the dir itself.
    let got = walk_dir(with_excludes(&base, &["**/logs/**"]), &base);
    let logs: Vec<_> = got.iter().filter(|e| e.ends_with(".log")).collect();
    assert!(logs.is_empty(), "{got:?}");
    assert!(got.windows(2).any(|w| w == ["+logs", "<"]), "{got:?}");

    let got = walk_dir(with_excludes(&base, &["*.log", "!keep.log"]), &base);
    let logs: Vec<_> = got.iter().filter(|e| e.ends_with(".log")).collect();
    assert_eq!(logs, ["-keep.log"]);
}

#[test]
fn excludes_apply_to_given_paths_and_their_parents() {
    let (_t, base) = tempdir();
    sample(&base);
    let mut o = with_excludes(&base, &["src"]);
    o.paths = vec![base.join("src/cache"), base.join("keep.txt")];
    assert_eq!(render(&walk(o)), wrap(&base, &["-keep.txt"]));
}

#[test]
fn exclude_files_and_bad_patterns() {
    let (_t, base) = tempdir();
    sample(&base);
    let list = base.join("list");
    fs::write(
        &list,
        "# a comment\n\n  *.tmp  \nnode_modules\n\n/nomatch\n",
    )
    .unwrap();
    let o = FsOptions {
        exclude_files: vec![list.clone()],
        ..with_excludes(&base, &["list"])
    };
    let got = walk_dir(o, &base);
    assert!(!got
        .iter()
        .any(|e| e.contains("tmp") || e.contains("node_modules")));
    assert!(!got.contains(&"-list".to_string()));
    assert!(got.contains(&"-keep.txt".to_string()));

    let missing = FsOptions {
        exclude_files: vec![base.join("no-such-list")],
        ..opts(&[&base])
    };
    assert_eq!(FsSource::new(missing).err().unwrap().kind(), ErrorKind::Io);

    let bad = with_excludes(&base, &["{a,b"]);
    assert_eq!(FsSource::new(bad).err().unwrap().kind(), ErrorKind::Usage);
    fs::write(&list, "ok\n{a,b\n").unwrap();
    let bad_file = FsOptions {
        exclude_files: vec![list],
        ..opts(&[&base])
    };
    assert_eq!(
        FsSource::new(bad_file).err().unwrap().kind(),
        ErrorKind::Usage
    );
}

#[test]
fn exclude_if_present_drops_the_whole_directory() {
    let (_t, base) = tempdir();
    sample(&base);
    touch(&base.join("src/.nobackup"));
    touch(&base.join("deep/logs/CACHEDIR.TAG"));
    let o = FsOptions {
        exclude_if_present: vec![".nobackup".into(), "CACHEDIR.TAG".into()],
        ..opts(&[&base])
    };
    let got = walk_dir(o, &base);
    assert!(!got.contains(&"+src".to_string()), "{got:?}");
    assert!(got.windows(2).any(|w| w == ["+deep", "<"]), "{got:?}");
    assert!(got.contains(&"+node_modules".to_string()));

    let bad = FsOptions {
        exclude_if_present: vec!["a/b".into()],
        ..opts(&[&base])
    };
    assert_eq!(FsSource::new(bad).err().unwrap().kind(), ErrorKind::Usage);
}
