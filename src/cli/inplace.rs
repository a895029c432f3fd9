//! `cairn restore --in-place`, and the `--hook-before`/`--hook-after`
//! commands of every restore.

use std::path::Path;

use cairn::hooks::{self, HookContext, Phase};
use cairn::ids::SnapshotId;
use cairn::progress::{NoProgress, Progress};
use cairn::repo::{Repository, SnapshotFilter, SnapshotRef};
use cairn::restore::inplace::{restore_in_place, InPlaceOptions, InPlaceReport, Steps, SAFETY_TAG};
use cairn::{Error, Result};

use crate::cli::args::{Global, RestoreArgs};
use crate::cli::output::{bytes, Output};
use crate::cli::{exit, interrupt, open, print_json, split_spec, summary_json};

/// The hooks of one restore. A failed after-hook is kept, not returned at
/// once, so the restore's report is printed before the error.
pub struct Hooks<'a> {
    before: Option<String>,
    after: Option<String>,
    snapshot: String,
    echo: bool,
    progress: &'a dyn Progress,
    /// The before-hook succeeded (or there is none): the after-hook is due.
    armed: bool,
    /// The before-hook ran and failed.
    before_failed: bool,
    after_error: Option<Error>,
}

impl<'a> Hooks<'a> {
    pub fn new(g: &Global, a: &RestoreArgs, snapshot: &SnapshotId, progress: &'a Output) -> Self {
        // A dry run changes nothing, so there is no service to stop.
        let live = !a.dry_run;
        Hooks {
            before: a.hook_before.clone().filter(|_| live),
            after: a.hook_after.clone().filter(|_| live),
            snapshot: snapshot.to_hex(),
            echo: !g.json,
            progress,
            armed: false,
            before_failed: false,
            after_error: None,
        }
    }

    fn context(&self, phase: Phase) -> HookContext {
        HookContext {
            operation: "restore".into(),
            phase,
            snapshot: Some(self.snapshot.clone()),
        }
    }

    /// Runs the before-hook; its failure stops the restore.
    pub fn before(&mut self) -> Result<()> {
        if let Some(cmd) = &self.before {
            let ctx = self.context(Phase::Before);
            hooks::run("--hook-before", cmd, &ctx, self.echo, self.progress)
                .inspect_err(|_| self.before_failed = true)?;
        }
        self.armed = true;
        Ok(())
    }

    /// Runs the after-hook if the before-hook ran (or there was none).
    /// It runs even after a stop request (the service must be started
    /// again), so it is not tied to the stop signal: a second Ctrl-C ends
    /// cairn at once.
    pub fn after(&mut self, ok: bool) {
        if let (Some(cmd), true) = (&self.after, self.armed) {
            let ctx = self.context(Phase::After { ok });
            let run = hooks::run("--hook-after", cmd, &ctx, self.echo, &NoProgress);
            if let Err(e) = run {
                self.after_error = Some(e);
            }
        }
        self.armed = false;
    }

    /// The after-hook's failure, once the report is out.
    pub fn into_result(self) -> Result<()> {
        self.after_error.map_or(Ok(()), Err)
    }
}

impl Steps for Hooks<'_> {
    fn before_swap(&mut self) -> Result<()> {
        self.before()
    }

    fn after_swap(&mut self, complete: bool) -> Result<()> {
        self.after(complete);
        Ok(())
    }

    fn reached(&mut self, step: &str) {
        test_pause(step);
    }
}

/// For the crash tests: with `CAIRN_TEST_INPLACE_PAUSE` set to a step name
/// (`staged`, `snapshot`, `swap:N`), create the file
/// `CAIRN_TEST_INPLACE_PAUSE_FILE` there and wait until it is removed or a
/// stop signal arrives, so a test can `kill -9` the process at that step.
fn test_pause(step: &str) {
    if std::env::var("CAIRN_TEST_INPLACE_PAUSE").ok().as_deref() != Some(step) {
        return;
    }
    let Some(file) = std::env::var_os("CAIRN_TEST_INPLACE_PAUSE_FILE") else {
        return;
    };
    let file = Path::new(&file);
    if std::fs::write(file, step).is_err() {
        return;
    }
    while file.exists() && !interrupt::requested() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

pub fn run(g: &Global, a: RestoreArgs) -> Result<i32> {
    let (spec, sub) = split_spec(&a.snapshot);
    let repo = open::open(g, false)?;
    let mut filter = a.filter.to_filter();
    if let Some(t) = &a.as_of {
        if spec != "latest" {
            return Err(Error::Usage(
                "--as-of selects from `latest`: use `restore latest --as-of TIME`".into(),
            ));
        }
        filter.as_of = Some(cairn::time::parse_time(t)?.0);
    }
    let snap = find(&repo, spec, &filter)?;
    let opts = InPlaceOptions {
        selection: crate::cli::restore::selection(&a, sub, &snap.snapshot)?,
        dry_run: a.dry_run,
        threads: None,
    };
    let out = Output::new(g);
    let mut hooks = Hooks::new(g, &a, &snap.id, &out);
    let report = restore_in_place(&repo, snap.id, snap.snapshot.tree, &opts, &mut hooks, &out);
    out.clear();
    if report.is_err() && hooks.before_failed {
        eprintln!("cairn: the --hook-before command failed: this run replaced no file");
    }
    let report = report?;
    if g.json {
        let mut v = summary_json(&report)?;
        v["snapshot_id"] = snap.id.to_hex().into();
        print_json(&v)?;
    } else {
        print_text(g, &snap.id, &report);
    }
    hooks.into_result()?;
    Ok(match (report.damaged, report.errors.len()) {
        (0, 0) => exit::OK,
        (0, _) => exit::INCOMPLETE,
        _ => exit::DAMAGED,
    })
}

/// The snapshot to restore. `latest` skips the `pre-restore` snapshots
/// in-place restores take (unless `--tag pre-restore` asks for them), so
/// rerunning `restore latest --in-place` after a crash restores the same
/// snapshot as the first run.
fn find(repo: &Repository, spec: &str, filter: &SnapshotFilter) -> Result<SnapshotRef> {
    if spec != "latest" || filter.tags.iter().any(|t| t == SAFETY_TAG) {
        return repo.find_snapshot(spec, filter);
    }
    repo.snapshots(filter)?
        .into_iter()
        .rev()
        .find(|s| !s.snapshot.tags.iter().any(|t| t == SAFETY_TAG))
        .ok_or_else(|| Error::Usage("no snapshot matches (pre-restore snapshots aside)".into()))
}

fn print_text(g: &Global, id: &SnapshotId, r: &InPlaceReport) {
    for (p, why) in &r.left_out {
        eprintln!("not restored in place: {}: {why}", p.display());
    }
    for (p, e) in &r.errors {
        eprintln!("error: {}: {e}", p.display());
    }
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    if !r.errors.is_empty() {
        eprintln!(
            "nothing was replaced: {} of {} files could not be staged and verified; the staging is removed",
            r.errors.len(),
            r.files.len()
        );
        return;
    }
    if let Some(state) = &r.resumed {
        eprintln!("continuing an interrupted in-place restore (it had reached: {state})");
    }
    if r.dry_run {
        print_plan(id, r);
        return;
    }
    if let Some(s) = &r.safety_snapshot {
        println!(
            "safety snapshot {} (tag {SAFETY_TAG}) holds the replaced files: undo with `cairn restore {} --in-place`",
            s.short(),
            s.short()
        );
    }
    if !g.quiet {
        println!(
            "restored snapshot {} in place: {} files, {} databases checked, {} stale -wal/-shm removed",
            id.short(),
            r.files_swapped,
            r.databases_checked,
            r.companions_removed.len()
        );
    }
}

fn print_plan(id: &SnapshotId, r: &InPlaceReport) {
    let total: u64 = r.files.iter().map(|f| f.size).sum();
    let replace = r.files.iter().filter(|f| f.action == "replace").count();
    println!(
        "would restore snapshot {} in place: {} files ({}), {replace} to replace, {} to create",
        id.short(),
        r.files.len(),
        bytes(total),
        r.files.len() - replace
    );
    for f in &r.files {
        println!("{:<8} {} ({})", f.action, f.path.display(), bytes(f.size));
    }
    for d in &r.dirs_created {
        println!("mkdir    {}", d.display());
    }
    for d in &r.staging_dirs {
        println!("staging  {}", d.display());
    }
    match (&r.safety_snapshot, replace) {
        (Some(s), _) => println!(
            "safety snapshot {} (taken by the interrupted run)",
            s.short()
        ),
        (None, 0) => println!("no safety snapshot: no file is replaced"),
        (None, n) => println!("safety snapshot: the {n} files to replace, tagged {SAFETY_TAG}"),
    }
}
