//! Server-side render times of the dashboard's two heaviest pages (a
//! benchmark, not a timed test: it asserts nothing about speed). The
//! overview with 50 plans over a repository of 10,000 snapshots, and a
//! snapshot directory of 10,000 entries (its tree read whole, its first
//! page of entries rendered, as the page is served). Run it in release:
//!
//! `cargo test --release --bin cairn serve::web::bench -- --ignored --nocapture`

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn::crypto::KdfParams;
use cairn::repo::{InitOptions, OpenOptions, Repository, SnapshotFilter};
use cairn::storage::local::LocalStorage;

use super::session::Viewer;
use super::{overview, snapshots};
use crate::serve::api::{snapshots as api_snapshots, Api};
use crate::serve::auth::{Identity, Scope, Tokens};
use crate::serve::jobs::Jobs;
use crate::serve::model::{JobKind, JobRequest, JobStatus, Trigger};
use crate::serve::Service;

const PLANS: usize = 50;
const SNAPSHOTS: i64 = 10_000;
const ENTRIES: usize = 10_000;

fn service(dir: &std::path::Path) -> Arc<Service> {
    let repo = dir.join("repo");
    let storage = Arc::new(LocalStorage::create(repo.clone()).unwrap());
    let init = InitOptions {
        kdf: Some(KdfParams::insecure_for_tests()),
        ..Default::default()
    };
    let open = OpenOptions {
        cache_dir: Some(dir.join("cache")),
        ..Default::default()
    };
    Repository::init(storage, b"pw", init, open).unwrap();
    std::fs::write(dir.join("pass"), "pw\n").unwrap();
    let mut text = format!(
        "[server]\nstate_dir = {state:?}\ncache_dir = {cache:?}\n\
         [repositories.main]\nlocation = {repo:?}\npassword_file = {pass:?}\n",
        state = dir.join("state"),
        cache = dir.join("cache"),
        pass = dir.join("pass"),
    );
    for i in 0..PLANS {
        text.push_str(&format!(
            "[plans.p{i}]\nrepository = \"main\"\npaths = [{:?}]\nevery = \"1h\"\n",
            dir.join("data")
        ));
    }
    let config = toml::from_str(&text).unwrap();
    let svc = Arc::new(crate::serve::process::service(&dir.join("c.toml"), config).unwrap());
    Jobs::start(&svc);
    svc
}

fn timed<T>(what: &str, runs: u32, mut f: impl FnMut() -> T) -> T {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        out = Some(f());
        best = best.min(t.elapsed());
    }
    println!("{what}: best of {runs}: {best:?}");
    out.unwrap()
}

#[test]
#[ignore = "a benchmark: run in release with --ignored --nocapture"]
fn render_times_of_the_overview_and_a_large_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let many = d.join("data/many");
    std::fs::create_dir_all(&many).unwrap();
    for i in 0..ENTRIES {
        std::fs::write(many.join(format!("file-{i:05}.txt")), i.to_string()).unwrap();
    }
    let svc = service(d);
    let req = JobRequest {
        kind: JobKind::Backup,
        plan: Some("p0".into()),
        repository: "main".into(),
        trigger: Trigger::Api,
        tags: vec![],
        restore: None,
        check: None,
    };
    let id = svc.jobs.submit(req).unwrap();
    let end = Instant::now() + Duration::from_secs(600);
    while !matches!(
        svc.history.get(id).unwrap().unwrap().status,
        JobStatus::Succeeded
    ) {
        assert!(Instant::now() < end, "the backup did not succeed");
        std::thread::sleep(Duration::from_millis(20));
    }
    let repo = svc.repository("main").unwrap();
    let newest = repo
        .find_snapshot("latest", &SnapshotFilter::default())
        .unwrap();
    for i in 1..SNAPSHOTS {
        let mut s = newest.snapshot.clone();
        s.time.secs -= i * 3600;
        s.parent = None;
        repo.save_snapshot(&s).unwrap();
    }
    svc.repos.snapshots_changed("main");
    let api = Api {
        svc: svc.clone(),
        tokens: Arc::new(Tokens::new(&d.join("state"))),
    };
    let viewer = Viewer {
        id: String::new(),
        who: Identity {
            hash: blake3::hash(b"bench"),
            name: "bench".into(),
            scopes: vec![Scope::Admin],
        },
        csrf: "0".repeat(64),
    };
    let html = timed("overview (50 plans, 10,000 snapshots)", 5, || {
        let o = overview::gather(&api).unwrap();
        overview::render(&viewer, &o).into_string()
    });
    println!("overview: {} bytes", html.len());
    assert_eq!(
        svc.snapshots("main", &SnapshotFilter::default())
            .unwrap()
            .len(),
        SNAPSHOTS as usize
    );
    let path = many.to_string_lossy().into_owned();
    let html = timed("directory of 10,000 entries", 5, || {
        let (repo, snap) = api_snapshots::find(&api, "main", "latest").unwrap();
        let (_, list) = api_snapshots::entries(&repo, &snap, Some(&path)).unwrap();
        let view = api_snapshots::view(&snap);
        let at = snapshots::Page {
            number: 1,
            entries: &list,
        };
        snapshots::listing(&viewer, "main", &view, &path, true, at).into_string()
    });
    println!("directory listing: {} bytes", html.len());
}
