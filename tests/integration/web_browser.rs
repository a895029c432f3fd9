//! The dashboard in a real browser: headless Chromium from Debian's
//! packages, driven over WebDriver (`chromedriver` on a loopback port,
//! the `fantoccini` client) against a running `cairn serve`. Sign in,
//! see the plans, press "Back up now" and watch the job end without a
//! reload (server-sent events), open its snapshot and download a file,
//! a `read` token's missing buttons and refused forged POST, and a
//! revoked token sent back to sign-in. Screenshots of the overview, a job
//! page and a snapshot browser go to `$CAIRN_SCREENSHOT_DIR` (default
//! `target/screenshots/`).
//!
//! Needs `chromium` and `chromium-driver` (scripts/test installs them when
//! it runs as root with apt); without them the test fails, saying so.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::serve_api_util::{free_port, Serve};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const DEADLINE: Duration = Duration::from_secs(120);

/// `chromedriver` on a loopback port; killed on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Driver {
        for bin in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: install Debian's chromium and chromium-driver \
                 (scripts/test does when it runs as root)"
            );
        }
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let end = Instant::now() + DEADLINE;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < end, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver { child, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn screenshot_dir() -> PathBuf {
    let dir = std::env::var_os("CAIRN_SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("../screenshots"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn browser(driver: &Driver, downloads: &Path) -> Client {
    let mut args = vec![
        "--headless=new",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ];
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } == 0 {
        args.push("--no-sandbox"); // Chromium refuses root with its sandbox
    }
    let caps = json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": args,
            "prefs": {
                "download.default_directory": downloads,
                "download.prompt_for_download": false,
            },
        }
    });
    let caps = caps.as_object().unwrap().clone();
    let conn = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(conn)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session")
}

/// Polls `f` until it yields, failing with `what` (and the page the
/// browser shows) after [`DEADLINE`].
async fn until<T, F, Fut>(c: &Client, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > end {
            let url = c.current_url().await.map(|u| u.to_string());
            let page = c.source().await.unwrap_or_default();
            panic!("timed out waiting for {what}; at {url:?}:\n{page}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn text(c: &Client, css: &str) -> Option<String> {
    c.find(Locator::Css(css)).await.ok()?.text().await.ok()
}

async fn sign_in(c: &Client, s: &Serve, token: &str) {
    c.goto(&s.url("/login")).await.unwrap();
    c.find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(token)
        .await
        .unwrap();
    c.find(Locator::Css("main form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(c, "the overview", || async {
        (text(c, "h1").await? == "Overview").then_some(())
    })
    .await;
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    std::fs::write(screenshot_dir().join(name), png).unwrap();
}

#[test]
fn web_browser_backup_download_scopes_and_revocation() {
    let gate = tempfile::tempdir().unwrap();
    let open = gate.path().join("open");
    let hook = format!(
        "hook_before = \"while [ ! -e '{}' ]; do sleep 0.05; done\"",
        open.display()
    );
    let mut s = Serve::new(&hook);
    let admin = s.token("admin", &["admin"]);
    let read = s.token("reader", &["read"]);
    s.start();
    let driver = Driver::start();
    let downloads = s.path("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = browser(&driver, &downloads).await;
        sign_in(&c, &s, &admin).await;
        let plan = text(&c, "tr[data-plan=files] th").await;
        assert_eq!(plan.as_deref(), Some("files"));

        // "Back up now": the job's page, then its end, with no reload.
        c.find(Locator::XPath(
            "//tr[@data-plan='files']//button[text()='Back up now']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
        until(&c, "the job's page", || async {
            text(&c, "#job-status").await
        })
        .await;
        c.execute("window.cairnMarker = 42;", vec![]).await.unwrap();
        let shown = text(&c, "#job-status").await.unwrap();
        assert!(["queued", "running"].contains(&shown.as_str()), "{shown}");
        std::fs::write(&open, b"").unwrap(); // the hook lets the backup go on
        until(&c, "the job to succeed", || async {
            (text(&c, "#job-status").await? == "succeeded").then_some(())
        })
        .await;
        let marker = c
            .execute("return window.cairnMarker;", vec![])
            .await
            .unwrap();
        assert_eq!(marker, json!(42), "the page was reloaded");
        until(&c, "the job's figures", || async {
            let files = text(&c, "#f-files").await?;
            (files != "–").then_some(())
        })
        .await;
        shot(&c, "job.png").await;

        // Its snapshot, a directory, a file downloaded by the browser.
        c.goto(&s.url("/")).await.unwrap();
        shot(&c, "overview.png").await;
        // At phone width the page itself does not scroll sideways (wide
        // tables scroll in their own box), and the actions are reachable
        // by keyboard: Tab reaches "Back up now".
        c.set_window_size(390, 844).await.unwrap();
        let fits = c
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth;",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(fits, json!(true), "the overview overflows a phone's width");
        shot(&c, "overview-phone.png").await;
        c.set_window_size(1280, 1000).await.unwrap();
        let mut reached = false;
        for _ in 0..30 {
            c.active_element()
                .await
                .unwrap()
                .send_keys("\u{E004}")
                .await
                .unwrap();
            let label = c.active_element().await.unwrap().text().await.unwrap();
            if label == "Back up now" {
                reached = true;
                break;
            }
        }
        assert!(reached, "Tab never reached the Back up now button");
        let job_url = c
            .find(Locator::Css("tr[data-plan=files] td a[href^='/jobs/']"))
            .await
            .unwrap();
        job_url.click().await.unwrap();
        let snap = until(&c, "the snapshot link", || async {
            c.find(Locator::Css("#f-snapshot a")).await.ok()
        })
        .await;
        snap.click().await.unwrap();
        until(&c, "the snapshot browser", || async {
            text(&c, "h1").await?.starts_with("Snapshot").then_some(())
        })
        .await;
        let data = s.data.to_string_lossy().into_owned();
        let q = serde_urlencoded::to_string([("path", format!("{data}/sub"))]).unwrap();
        let here = c.current_url().await.unwrap();
        c.goto(&format!("{}?{q}", here.as_str().split('?').next().unwrap()))
            .await
            .unwrap();
        let file = until(&c, "b.bin", || async {
            c.find(Locator::XPath("//a[@class='file' and text()='b.bin']"))
                .await
                .ok()
        })
        .await;
        assert!(
            c.find(Locator::Css("a.restore")).await.is_ok(),
            "admin may restore"
        );
        shot(&c, "snapshot.png").await;
        file.click().await.unwrap();
        let want = std::fs::read(s.data.join("sub/b.bin")).unwrap();
        let got = downloads.join("b.bin");
        until(&c, "the download", || async {
            let bytes = std::fs::read(&got).ok()?;
            (bytes.len() == want.len()).then_some(())
        })
        .await;
        assert!(
            std::fs::read(&got).unwrap() == want,
            "downloaded bytes differ"
        );

        // A read token: no buttons it cannot use; a forged POST is refused.
        c.delete_all_cookies().await.unwrap();
        sign_in(&c, &s, &read).await;
        let buttons = c.find_all(Locator::Css("main button")).await.unwrap();
        assert!(buttons.is_empty(), "a read session sees no action buttons");
        c.goto(here.as_str()).await.unwrap();
        until(&c, "the snapshot browser", || async {
            text(&c, "h1").await
        })
        .await;
        assert!(
            c.find(Locator::Css("a.restore")).await.is_err(),
            "no restore for read"
        );
        let forged = c
            .execute(
                "return fetch('/plans/files/run', {method: 'POST', \
                 headers: {'Content-Type': 'application/x-www-form-urlencoded'}, \
                 body: 'csrf=' + document.querySelector('input[name=csrf]').value}) \
                 .then(r => r.status);",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(forged, json!(403), "a read session's POST run");

        // Revoked: sent back to sign-in.
        assert!(s.run(&["token", "revoke", "reader"]).status.success());
        c.goto(&s.url("/")).await.unwrap();
        until(&c, "the sign-in page", || async {
            let u = c.current_url().await.ok()?;
            (u.path() == "/login").then_some(())
        })
        .await;
        assert!(c.find(Locator::Id("token")).await.is_ok());
        c.close().await.unwrap();
    });
}
