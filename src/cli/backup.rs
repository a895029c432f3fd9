//! `cairn backup`.

use std::sync::Arc;

use cairn::backup::{backup, backup_rereadable, BackupOptions, BackupReport, ParentChoice};
use cairn::progress::Progress;
use cairn::repo::Repository;
use cairn::source::command;
use cairn::source::fs::{FsOptions, FsSource};
use cairn::source::stdin::StdinSource;
use cairn::source::{Entry, EntryKind, Event, Source};
use cairn::Result;

use crate::cli::args::{BackupArgs, Global};
use crate::cli::output::{bytes, Output};
use crate::cli::{exit, open, print_json};

pub mod bucket;
mod databases;
mod empty;
mod hooks;

use hooks::Hooks;

pub fn run(g: &Global, a: BackupArgs) -> Result<i32> {
    let bucket_location = bucket::location(&a)?;
    let (repo, listed) = open_listing(g, &a, bucket_location.as_deref());
    let repo = repo?;
    let opts = backup_options(g, &repo, &a)?;
    let listed = listed.transpose()?;
    if let (Some(loc), true) = (&bucket_location, a.dry_run) {
        return bucket::dry_run(g, &a, loc, &repo, (&opts, listed));
    }
    let mut source = None;
    let out = Arc::new(Output::new(g).list_files(g, a.dry_run));
    // The before-hook quiesces what is backed up; nothing is written to the
    // repository before it succeeded. The after-hook runs whatever happened
    // (a service the before-hook stopped must be started again).
    let mut hooks = Hooks::new(g, &a);
    let taken = match hooks.before(&*out) {
        Ok(()) => match &bucket_location {
            Some(loc) => bucket::take((g, &a), loc, &repo, &opts, (&out, listed), &mut source),
            None => take(g, &a, &repo, &opts, &out),
        },
        Err(e) => Err(e),
    };
    let ok = matches!(taken, Ok(Some(_)));
    let saved = match &taken {
        Ok(Some(r)) => r.snapshot_id.map(|id| id.to_string()),
        _ => None,
    };
    let after = hooks.after(ok, saved);
    let report = match (taken, after) {
        (Err(e), after) => {
            if let Err(ae) = after {
                eprintln!("cairn: {ae}");
            }
            return Err(e);
        }
        (Ok(None), Ok(())) => return Ok(exit::INCOMPLETE),
        (Ok(None), Err(ae)) => return Err(ae),
        (Ok(Some(report)), Err(ae)) => {
            print_summary(g, &a, &report, &hooks, source.as_ref())?;
            return after_hook_failed(g, &report, ae);
        }
        (Ok(Some(report)), Ok(())) => report,
    };
    print_summary(g, &a, &report, &hooks, source.as_ref())?;
    if !report.is_complete() {
        if !report.skipped.is_empty() {
            eprintln!(
                "warning: {} entries could not be read; the snapshot is incomplete",
                report.skipped.len()
            );
        }
        databases::warn_incomplete(&report.databases);
        return Ok(exit::INCOMPLETE);
    }
    Ok(exit::OK)
}

/// Opens the repository and, for a bucket with no before-hook, lists the
/// bucket meanwhile. The repository's error comes first: it is what a user
/// fixes first, and a bucket listed for nothing costs only its LISTs.
fn open_listing(
    g: &Global,
    a: &BackupArgs,
    bucket: Option<&str>,
) -> (Result<Repository>, Option<Result<bucket::Listed>>) {
    let early = bucket.filter(|_| a.hook_before.is_none());
    std::thread::scope(|s| {
        let listing = early.map(|loc| s.spawn(move || bucket::list(loc, a)));
        let repo = open::open_for_backup(g);
        let listed = listing.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        (repo, listed)
    })
}

fn backup_options(g: &Global, repo: &Repository, a: &BackupArgs) -> Result<BackupOptions> {
    let time = a.time.as_deref().map(cairn::time::parse_time).transpose()?;
    let parent = match (&a.parent, a.force) {
        (_, true) => ParentChoice::None,
        (Some(p), false) => ParentChoice::Id(repo.find_snapshot(p, &Default::default())?.id),
        (None, false) => ParentChoice::Auto,
    };
    Ok(BackupOptions {
        host: a.host.clone(),
        tags: a.tag.clone(),
        time,
        excludes: a.exclude.clone(),
        parent,
        dry_run: a.dry_run,
        threads: None,
        marker: Default::default(),
        databases: databases::options(g, a)?,
        ..Default::default()
    })
}

/// Runs the backup from the source the arguments name. `None`: the
/// excludes left nothing and no snapshot was saved (already reported).
fn take(
    g: &Global,
    a: &BackupArgs,
    repo: &Repository,
    opts: &BackupOptions,
    out: &Arc<Output>,
) -> Result<Option<BackupReport>> {
    // A directory can be read again (if packs it relied on vanish while it
    // runs); standard input and a command's output cannot.
    let report = if a.stdin {
        let mut source = StdinSource::new(a.stdin_filename.clone(), Box::new(std::io::stdin()))?;
        backup(repo, &mut source, opts, &**out)?
    } else if !a.command.is_empty() && !a.stdin_from_command {
        return Err(cairn::Error::Usage(
            "a command after -- is only for --stdin-from-command".into(),
        ));
    } else if a.stdin_from_command {
        let echo = !g.json && !g.quiet;
        let progress: Arc<dyn Progress> = out.clone();
        let mut source = command::source(a.stdin_filename.clone(), &a.command, echo, progress)?;
        backup(repo, &mut source, opts, &**out)?
    } else {
        let fs_opts = fs_options(a);
        if out.shows_totals() {
            // It must not open databases (that would drop the snapshot's locks).
            let counting = FsOptions {
                keep_db_companions: true,
                ..fs_opts.clone()
            };
            spawn_scanner(counting, out.clone());
        }
        let (peeked, empty) = empty::peek(Box::new(FsSource::new(fs_opts.clone())?));
        if empty && !save_empty_anyway(g, a) {
            return Ok(None);
        }
        // The first attempt replays the peeked walk; a retry walks afresh.
        let mut first = Some(peeked);
        let mut open_source = || -> Result<Box<dyn Source>> {
            Ok(match first.take() {
                Some(peeked) => Box::new(peeked),
                None => Box::new(FsSource::new(fs_opts.clone())?),
            })
        };
        backup_rereadable(repo, &mut open_source, opts, &**out)?
    };
    out.clear();
    Ok(Some(report))
}

fn print_summary(
    g: &Global,
    a: &BackupArgs,
    report: &BackupReport,
    hooks: &Hooks,
    source: Option<&serde_json::Value>,
) -> Result<()> {
    let s = &report.snapshot.summary;
    if g.json {
        let mut summary = serde_json::json!({
            "message_type": "summary",
            "snapshot_id": report.snapshot_id,
            "parent": report.parent,
            "dry_run": a.dry_run,
            "files_new": s.files_new,
            "files_changed": s.files_changed,
            "files_unchanged": s.files_unchanged,
            "dirs": s.dirs,
            "errors": s.errors,
            "total_bytes": s.total_bytes,
            "bytes_read": s.bytes_read,
            "blobs_added": s.blobs_added,
            "data_blobs_added": report.written.data_blobs_added,
            "tree_blobs_added": report.written.tree_blobs_added,
            "bytes_added": s.bytes_added,
            "bytes_added_stored": s.bytes_added_stored,
            "packs_added": s.packs_added,
            "duration_ms": s.duration_ms,
            "skipped": report.skipped.iter().map(|(p, e)| serde_json::json!({"path": p, "error": e})).collect::<Vec<_>>(),
            "changed_while_read": report.changed_while_read,
            "hooks": hooks.json(),
            "databases": databases::json(&report.databases),
        });
        if let Some(source) = source {
            summary["source"] = source.clone();
        }
        print_json(&summary)?;
    } else if !g.quiet {
        println!(
            "files: {} new, {} changed, {} unchanged; {} directories",
            s.files_new, s.files_changed, s.files_unchanged, s.dirs
        );
        println!(
            "read {}, added {} ({} stored) in {} packs, {:.1}s",
            bytes(s.bytes_read),
            bytes(s.bytes_added),
            bytes(s.bytes_added_stored),
            s.packs_added,
            s.duration_ms as f64 / 1000.0
        );
        databases::print(&report.databases);
        if let Some(source) = source {
            bucket::print(source);
        }
        match report.snapshot_id {
            Some(id) => println!("snapshot {} saved", id.short()),
            None => println!("dry run: nothing saved"),
        }
    }
    Ok(())
}

/// The backup succeeded but `--hook-after` failed: exit 7, saying that
/// the snapshot was saved all the same.
fn after_hook_failed(g: &Global, report: &BackupReport, e: cairn::Error) -> Result<i32> {
    let saved = match report.snapshot_id {
        Some(id) => format!("snapshot {} was saved", id.short()),
        None => "dry run: nothing was saved".to_string(),
    };
    let message = format!("{e}\n(the backup itself succeeded: {saved})");
    if g.json {
        print_json(&serde_json::json!({"message_type": "error", "message": message}))?;
    }
    eprintln!("cairn: {message}");
    Ok(exit::code(e.kind()))
}

/// Warns that the excludes left nothing to back up; returns whether to go
/// on and save an empty snapshot anyway (`--allow-empty`).
fn save_empty_anyway(g: &Global, a: &BackupArgs) -> bool {
    if a.allow_empty {
        eprintln!("warning: the excludes leave nothing to back up; saving an empty snapshot (--allow-empty)");
        return true;
    }
    eprintln!(
        "error: the excludes leave nothing to back up in {}; nothing saved \
         (use --allow-empty to save an empty snapshot)",
        a.paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );
    if g.json {
        let _ = print_json(&serde_json::json!({
            "message_type": "summary",
            "snapshot_id": null,
            "dry_run": a.dry_run,
            "empty": true,
        }));
    }
    false
}

fn fs_options(a: &BackupArgs) -> FsOptions {
    FsOptions {
        // A database named with --sqlite is one more given path.
        paths: a.paths.iter().chain(&a.sqlite).cloned().collect(),
        excludes: a.exclude.clone(),
        exclude_files: a.exclude_file.clone(),
        exclude_if_present: a.exclude_if_present.clone(),
        one_file_system: a.one_file_system,
        keep_db_companions: a.no_sqlite,
    }
}

/// Walks the same paths in the background to give the progress bar totals.
fn spawn_scanner(opts: FsOptions, out: Arc<Output>) {
    std::thread::spawn(move || {
        let Ok(src) = FsSource::new(opts) else { return };
        let (mut files, mut size) = (0u64, 0u64);
        for ev in src {
            if let Event::Leaf(Entry {
                kind: EntryKind::File { size: s },
                ..
            }) = ev
            {
                files += 1;
                size += s;
            }
        }
        out.start("scan", Some(files), Some(size));
    });
}
