//! What each kind of job does, as calls into the library the CLI makes:
//! backup (with the plan's hooks, then forget by its policy), cleanup
//! (forget, then prune), prune, check, restore (to a directory, or in
//! place in two phases with a safety snapshot) and test (the `repo ping`
//! probe).

use std::path::PathBuf;

use cairn::backup::{backup_rereadable, BackupOptions, BackupReport, DatabaseOptions};
use cairn::check::{AuditOptions, CheckOptions};
use cairn::forget::{forget, ForgetOptions};
use cairn::hooks::{self, HookContext, Phase};
use cairn::progress::NoProgress;
use cairn::restore::inplace::{restore_in_place, InPlaceOptions, NoSteps};
use cairn::restore::{restore as restore_to, RestoreOptions, Selection};
use cairn::source::bucket::{BucketSource, Selection as BucketSelection};
use cairn::source::fs::{FsOptions, FsSource};
use cairn::source::Source;
use cairn::storage::open_location_with;
use cairn::storage::s3::{is_s3_location, S3Options};
use cairn::{Error, Result};

use super::run::Ctx;
use crate::config::{Config, Plan};
use crate::serve::repos::OpenRepo;

/// The job's plan in the running configuration.
fn plan(ctx: &Ctx) -> Result<(std::sync::Arc<Config>, Plan)> {
    let config = ctx.svc.config();
    let name = ctx.req.plan.as_deref().unwrap_or_default();
    let plan = config
        .plans
        .get(name)
        .cloned()
        .ok_or_else(|| Error::Usage(format!("no plan {name:?} in the configuration")))?;
    Ok((config, plan))
}

/// Opens the job's repository and counts its requests from now on. A
/// put-only key is refused, naming the job's plan and kind.
fn open(ctx: &mut Ctx) -> Result<OpenRepo> {
    let o = match ctx.svc.repos.open(&ctx.svc.config(), &ctx.req.repository) {
        Err(Error::PutOnlyKey(_)) => {
            let kind = format!("{:?}", ctx.req.kind).to_lowercase();
            return Err(Error::PutOnlyKey(match &ctx.req.plan {
                Some(p) => format!("the {kind} job of plan {p:?}"),
                None => format!("a {kind} job"),
            }));
        }
        r => r?,
    };
    ctx.count_requests(&o.stats);
    Ok(o)
}

pub fn backup(ctx: &mut Ctx) -> Result<()> {
    let (config, plan) = plan(ctx)?;
    let o = ctx
        .svc
        .repos
        .open_for_backup(&config, &ctx.req.repository)?;
    ctx.count_requests(&o.stats);
    // Found before anything is written: the forget after it would fail.
    if o.repo.is_put_only() && plan.policy().is_some() {
        return Err(put_only_policy(ctx));
    }
    hook(
        ctx,
        "hook_before",
        plan.hook_before.as_deref(),
        Phase::Before,
        None,
    )?;
    let taken = take(ctx, &config, &plan, &o);
    let saved = taken
        .as_ref()
        .ok()
        .and_then(|r| r.snapshot_id.map(|id| id.to_string()));
    let after = hook(
        ctx,
        "hook_after",
        plan.hook_after.as_deref(),
        Phase::After { ok: taken.is_ok() },
        saved,
    );
    let report = taken?;
    after?;
    let s = &report.snapshot.summary;
    let f = &mut ctx.figures;
    f.snapshot_id = report.snapshot_id.map(|id| id.to_string());
    f.files = Some(s.files_new + s.files_changed + s.files_unchanged);
    f.bytes_read = Some(s.bytes_read);
    f.bytes_added = Some(s.bytes_added);
    f.bytes_stored = Some(s.bytes_added_stored);
    ctx.log(&format!(
        "snapshot {} saved: {} files ({} new, {} changed), {} bytes read, {} added",
        report.snapshot_id.map(|i| i.short()).unwrap_or_default(),
        s.files_new + s.files_changed + s.files_unchanged,
        s.files_new,
        s.files_changed,
        s.bytes_read,
        s.bytes_added
    ));
    if !report.is_complete() {
        return Err(Error::Usage(format!(
            "the snapshot was saved but is incomplete: {} entries could not be read, \
             {} databases failed their check or were stored raw (see the job's log)",
            report.skipped.len(),
            report.databases.failed_checks.len() + report.databases.not_snapshotted.len()
        )));
    }
    apply_retention(ctx, &plan, &o)
}

/// The backup itself: the plan's paths through a file system source that
/// can be read again if packs vanish under it (as the CLI does).
fn take(ctx: &Ctx, config: &Config, plan: &Plan, o: &OpenRepo) -> Result<BackupReport> {
    if plan.paths.is_empty() && plan.sqlite.is_empty() {
        return Err(Error::Usage("the plan names no paths".into()));
    }
    let temp_dir = config
        .server
        .cache_dir
        .clone()
        .or_else(cairn::repo::default_cache_root)
        .filter(|d| std::fs::create_dir_all(d).is_ok())
        .unwrap_or_else(std::env::temp_dir);
    let opts = BackupOptions {
        host: plan.host.clone(),
        tags: plan.tags.iter().chain(&ctx.req.tags).cloned().collect(),
        excludes: plan.exclude.clone(),
        databases: DatabaseOptions {
            recognise: !plan.no_sqlite,
            named: DatabaseOptions::name_files("sqlite", &plan.sqlite)?,
            temp_dir,
            ..DatabaseOptions::default()
        },
        ..BackupOptions::default()
    };
    if let Some(location) = bucket_location(plan) {
        return take_bucket(ctx, plan, o, &opts, location);
    }
    let fs = FsOptions {
        paths: plan.paths.iter().chain(&plan.sqlite).cloned().collect(),
        excludes: plan.exclude.clone(),
        keep_db_companions: plan.no_sqlite,
        ..FsOptions::default()
    };
    let mut make = || -> Result<Box<dyn Source>> { Ok(Box::new(FsSource::new(fs.clone())?)) };
    let report = backup_rereadable(&o.repo, &mut make, &opts, &ctx.progress)?;
    for (path, why) in &report.skipped {
        ctx.log(&format!("skipped {}: {why}", path.display()));
    }
    Ok(report)
}

/// A plan whose one path is `s3:…`/`r2:…` backs up that bucket, with the
/// credentials of the service's `CAIRN_SOURCE_*` environment and the
/// plan's `exclude` as globs on keys (format-spec/17-bucket.md).
fn bucket_location(plan: &Plan) -> Option<&str> {
    match plan.paths.as_slice() {
        [one] if plan.sqlite.is_empty() => one.to_str().filter(|p| is_s3_location(p)),
        _ => None,
    }
}

fn take_bucket(
    ctx: &Ctx,
    plan: &Plan,
    o: &OpenRepo,
    opts: &BackupOptions,
    location: &str,
) -> Result<BackupReport> {
    let s3 = S3Options {
        connections: cairn::source::bucket::DEFAULT_CONNECTIONS,
        ..S3Options::default()
    };
    let selection = BucketSelection {
        exclude: plan.exclude.clone(),
        ..BucketSelection::default()
    };
    let mut source = BucketSource::open_location(location, &s3, &selection)?;
    let report = cairn::backup::backup(&o.repo, &mut source, opts, &ctx.progress)?;
    for (path, why) in &report.skipped {
        ctx.log(&format!("skipped {}: {why}", path.display()));
    }
    Ok(report)
}

fn hook(
    ctx: &Ctx,
    name: &str,
    cmd: Option<&str>,
    phase: Phase,
    snapshot: Option<String>,
) -> Result<()> {
    let Some(cmd) = cmd else { return Ok(()) };
    let hc = HookContext {
        operation: "backup".into(),
        phase,
        snapshot,
    };
    // The after-hook runs to its end even when the job is being stopped:
    // it may restart what the before-hook stopped.
    let run = match phase {
        Phase::Before => hooks::run(name, cmd, &hc, false, &ctx.progress),
        Phase::After { .. } => hooks::run(name, cmd, &hc, false, &NoProgress),
    }?;
    ctx.log(&format!("{name}: {}", run.status));
    Ok(())
}

/// A plan with a retention policy on a put-only key: a configuration
/// without `put_only = true` meets it only here (see config/validate.rs).
fn put_only_policy(ctx: &Ctx) -> Error {
    let name = ctx.req.plan.as_deref().unwrap_or_default();
    Error::PutOnlyKey(format!(
        "plan {name:?}'s retention (forget after the backup; remove its retention and keep_* \
         settings, and forget with a full key elsewhere)"
    ))
}

/// Forgets by the plan's policy, if it has one.
fn apply_retention(ctx: &Ctx, plan: &Plan, o: &OpenRepo) -> Result<()> {
    let Some(policy) = plan.policy() else {
        return Ok(());
    };
    let opts = ForgetOptions {
        policy,
        ..ForgetOptions::default()
    };
    let r = forget(&o.repo, &opts)?;
    ctx.log(&format!(
        "forget: {} snapshots kept, {} removed",
        r.kept(),
        r.removed.len()
    ));
    if let Some(name) = &ctx.req.plan {
        ctx.svc.metrics.snapshots_kept(name, r.kept() as u64);
    }
    Ok(())
}

pub fn cleanup(ctx: &mut Ctx) -> Result<()> {
    let (_, plan) = plan(ctx)?;
    let o = open(ctx)?;
    apply_retention(ctx, &plan, &o)?;
    prune_repo(ctx, &o)
}

pub fn prune(ctx: &mut Ctx) -> Result<()> {
    let o = open(ctx)?;
    prune_repo(ctx, &o)
}

fn prune_repo(ctx: &Ctx, o: &OpenRepo) -> Result<()> {
    let opts = cairn::prune::PruneOptions {
        now: cairn::prune::test_clock(),
        ..Default::default()
    };
    let r = cairn::prune::prune(&o.repo, &opts, &ctx.progress)?;
    ctx.log(&format!(
        "prune: {} packs deleted ({} bytes freed), {} condemned",
        r.packs_deleted, r.bytes_freed, r.packs_condemned
    ));
    Ok(())
}

pub fn check(ctx: &mut Ctx) -> Result<()> {
    // The plan's check, unless the request says otherwise.
    let mut opts = match &ctx.req.plan {
        Some(_) => plan(ctx)?.1.check_options(),
        None => CheckOptions::default(),
    };
    let req = ctx.req.check.clone().unwrap_or_default();
    if let Some(s) = req.read_data_subset {
        opts.read_data = true;
        opts.subset = Some(s.parse()?);
        opts.audit = None;
    }
    if let Some(b) = req.audit_budget {
        opts.read_data = false;
        opts.subset = None;
        opts.audit = Some(AuditOptions {
            budget: b.parse()?,
            ..AuditOptions::default()
        });
    }
    let o = open(ctx)?;
    let r = cairn::check::check(&o.repo, &opts, &ctx.progress)?;
    ctx.figures.bytes_read = Some(r.bytes_read);
    for p in &r.problems {
        ctx.log(&format!("{:?}: {}: {}", p.severity, p.object, p.message));
    }
    ctx.log(&format!(
        "check: {} snapshots, {} packs, {} packs read, {} problems",
        r.snapshots,
        r.packs,
        r.packs_read,
        r.problems.len()
    ));
    if r.is_damaged() {
        return Err(Error::Usage(
            "the repository is damaged (see the job's log)".into(),
        ));
    }
    Ok(())
}

pub fn restore(ctx: &mut Ctx) -> Result<()> {
    let req = ctx
        .req
        .restore
        .clone()
        .ok_or_else(|| Error::Usage("a restore job needs a restore request".into()))?;
    let o = open(ctx)?;
    let snap = o.repo.find_snapshot(&req.snapshot, &Default::default())?;
    ctx.figures.snapshot_id = Some(snap.id.to_string());
    let selection = Selection {
        include: req.include.clone(),
        ..Selection::default()
    };
    let (errors, damaged, files, bytes) = if req.in_place {
        let opts = InPlaceOptions {
            selection,
            ..InPlaceOptions::default()
        };
        let r = restore_in_place(
            &o.repo,
            snap.id,
            snap.snapshot.tree,
            &opts,
            &mut NoSteps,
            &ctx.progress,
        )?;
        if let Some(s) = r.safety_snapshot {
            ctx.log(&format!("safety snapshot {s} taken before replacing files"));
        }
        let bytes = r.files.iter().map(|f| f.size).sum();
        (r.errors, r.damaged, r.files_swapped, bytes)
    } else {
        let target: PathBuf = req
            .target
            .clone()
            .ok_or_else(|| Error::Usage("a restore needs a target".into()))?;
        let opts = RestoreOptions {
            selection,
            ..RestoreOptions::new(target)
        };
        let r = restore_to(&o.repo, snap.snapshot.tree, &opts, &ctx.progress)?;
        (r.errors, r.damaged, r.files_restored, r.bytes_written)
    };
    ctx.figures.files = Some(files);
    ctx.figures.bytes_read = Some(bytes);
    for (path, why) in &errors {
        ctx.log(&format!("not restored: {}: {why}", path.display()));
    }
    if !errors.is_empty() {
        return Err(Error::Usage(format!(
            "{} files could not be restored ({damaged} from damaged data; see the job's log)",
            errors.len()
        )));
    }
    Ok(())
}

/// The `repo ping` checks: list, write, read back and delete a probe object.
pub fn test(ctx: &mut Ctx) -> Result<()> {
    let access = ctx.svc.config().access(&ctx.req.repository)?;
    let opened = open_location_with(&access.location, false, &access.storage)?;
    ctx.count_requests(&opened.stats);
    let report = cairn::storage::probe::probe(&*opened.storage, cairn::format::layout::CONFIG);
    for s in &report.steps {
        match &s.error {
            None => ctx.log(&format!("{}: ok ({} ms)", s.step, s.millis)),
            Some(e) => ctx.log(&format!("{}: FAILED: {e}", s.step)),
        }
    }
    if !report.ok() {
        return Err(Error::Usage(
            "the storage does not work (see the job's log)".into(),
        ));
    }
    if !report.repository_found {
        return Err(Error::NoRepository(report.location));
    }
    Ok(())
}
