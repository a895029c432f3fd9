//! The service process: load the configuration (refusing a bad one with
//! its file and line), open the history, start the job dispatcher, the
//! scheduler and the HTTP server, then wait for signals.
//!
//! SIGHUP reloads the configuration; a bad one is refused with its file
//! and line and the running one kept. SIGTERM or SIGINT: no new jobs
//! (queued ones are recorded as cancelled), a running job gets
//! `server.shutdown_grace` to finish, then is asked to stop at its next
//! safe point (recorded `cancelled`); then the process exits 0.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};

use cairn::{Error, Result};

use super::history::History;
use super::jobs::Jobs;
use super::{scheduler, Service};
use crate::config::Config;

/// Runs the service until SIGTERM or SIGINT; the exit code.
pub fn run(config_path: &Path, insecure_listen: Option<String>) -> Result<i32> {
    let config = crate::config::load_with(config_path, insecure_listen.as_deref())?;
    limit_arenas();
    let listen = config.server.listen;
    let mut svc = service(config_path, config)?;
    svc.insecure_listen = insecure_listen;
    let svc = Arc::new(svc);
    scheduler::prune_history(&svc);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("starting the runtime: {e}")))?;
    // The last handle on the service is dropped here, outside the runtime:
    // an S3 repository it holds owns a runtime of its own, which must not
    // be dropped inside another's async context.
    rt.block_on(serve(svc.clone(), listen))?;
    drop(svc);
    Ok(0)
}

/// Keeps glibc's malloc to its main arena. By default every thread that
/// allocates under contention gets an arena of its own (up to eight per
/// core), and `malloc_trim` cannot shrink the top of any but the main one:
/// glibc raises its trim threshold as a backup's large buffers come and
/// go (up to 64 MiB), so after a 1.6 GB backup under 50 polling clients a
/// second arena held 12 MiB of free pages that no trim returned (measured
/// with `malloc_info`: 4 MiB in use, 100 MiB free in two arenas; RSS 40
/// MiB). With one arena, [`trim_heap`] returns all of it. The service runs
/// one job at a time and small allocations come from per-thread caches,
/// so the one arena's lock is not contended.
fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator settings; called before the
    // service starts its threads.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Hands freed heap back to the system (after a job, whose repository's
/// page caches were released into it, and once the API goes quiet).
/// glibc keeps freed memory otherwise, so a service idling between jobs
/// would hold the peak of its last backup (measured: 86 MiB after a
/// 1.6 GB first backup, against 13 MiB at start).
pub fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory; it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How long the API must be quiet before [`trim_when_quiet`] trims.
const QUIET: Duration = Duration::from_secs(10);

/// Trims the heap once the API has answered no request for [`QUIET`]
/// after answering some: what clients polling through a job allocated
/// after the job's own trim goes back too. Checks an atomic counter every
/// [`QUIET`], so an idle service stays idle.
async fn trim_when_quiet(svc: Arc<Service>) {
    let count = || svc.requests.load(std::sync::atomic::Ordering::Relaxed);
    let (mut seen, mut trimmed) = (count(), count());
    loop {
        tokio::time::sleep(QUIET).await;
        let now = count();
        if now == seen && now != trimmed {
            let _ = tokio::task::spawn_blocking(trim_heap).await;
            trimmed = now;
        }
        seen = now;
    }
}

/// The shared state for `config`, its history opened.
pub fn service(config_path: &Path, config: Config) -> Result<Service> {
    let history = Arc::new(History::open(&config.server.state_dir())?);
    Ok(Service {
        config_path: config_path.to_path_buf(),
        config: RwLock::new(Arc::new(config)),
        jobs: Jobs::new(history.clone()),
        history,
        repos: Default::default(),
        reloaded: Default::default(),
        metrics: Default::default(),
        insecure_listen: None,
        requests: Default::default(),
    })
}

async fn serve(svc: Arc<Service>, listen: SocketAddr) -> Result<()> {
    // Handlers first: once the API answers, a signal is never lost.
    let signals = Signals::new()?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on {listen}: {e}")))?;
    let tls = super::api::tls::load(&svc.config().server).await?;
    tracing::info!(
        "listening on {listen}{}",
        if tls.is_some() { " (TLS)" } else { "" }
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let app = super::api::router(svc.clone())?;
    let server = tokio::spawn(async move {
        let stop = async {
            let _ = stop_rx.await;
        };
        if let Err(e) = super::api::tls::serve(app, listener, tls, stop).await {
            tracing::error!("{e}");
        }
    });
    Jobs::start(&svc);
    let sched = tokio::spawn(scheduler::run(svc.clone()));
    let trim = tokio::spawn(trim_when_quiet(svc.clone()));
    wait_for_stop(&svc, signals).await;
    sched.abort();
    trim.abort();
    let svc2 = svc.clone();
    let _ = tokio::task::spawn_blocking(move || drain(&svc2)).await;
    let _ = stop_tx.send(());
    let _ = server.await;
    tracing::info!("stopped");
    Ok(())
}

struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Signals> {
        let sig = |k| signal(k).map_err(|e| Error::Internal(format!("signal handler: {e}")));
        Ok(Signals {
            term: sig(SignalKind::terminate())?,
            int: sig(SignalKind::interrupt())?,
            hup: sig(SignalKind::hangup())?,
        })
    }
}

/// Handles SIGHUP (reload) until SIGTERM or SIGINT arrives.
async fn wait_for_stop(svc: &Arc<Service>, mut s: Signals) {
    loop {
        tokio::select! {
            _ = s.term.recv() => break,
            _ = s.int.recv() => break,
            _ = s.hup.recv() => {
                // Off the async threads: dropping the cached repositories
                // may drop an S3 client's runtime, which blocks.
                let svc = svc.clone();
                let _ = tokio::task::spawn_blocking(move || reload(&svc)).await;
            }
        }
    }
    tracing::warn!("stopping: no new jobs; a running job may finish within the grace period");
}

/// Loads the configuration again; a bad one leaves the running one.
pub fn reload(svc: &Service) {
    match crate::config::load_with(&svc.config_path, svc.insecure_listen.as_deref()) {
        Ok(config) => {
            svc.set_config(config);
            tracing::warn!("configuration reloaded from {}", svc.config_path.display());
        }
        Err(e) => tracing::error!("configuration NOT reloaded, the running one is kept: {e}"),
    }
}

/// Closes the queue, lets running jobs finish within the grace period,
/// then stops them.
fn drain(svc: &Service) {
    svc.jobs.close();
    let grace = svc.config().server.grace();
    if svc.jobs.wait_idle(grace) {
        return;
    }
    tracing::warn!("the grace period is over: stopping the running jobs");
    svc.jobs.cancel_all();
    while !svc.jobs.wait_idle(Duration::from_secs(10)) {
        tracing::warn!("waiting for the running jobs to reach a safe point");
    }
}
