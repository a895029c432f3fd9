//! Rendering progress: a bar on a terminal, JSON lines with `--json`,
//! nothing with `--quiet`. Warnings always reach stderr (or JSON).

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use cairn::progress::Progress;

use crate::cli::args::Global;

enum Mode {
    Bar(ProgressBar),
    Json,
    Silent,
}

/// The CLI's progress observer.
pub struct Output {
    mode: Mode,
    quiet: bool,
    started: Instant,
    items: AtomicU64,
    bytes: AtomicU64,
    total_items: AtomicU64,
    total_bytes: AtomicU64,
    last_json: Mutex<Instant>,
}

impl Output {
    pub fn new(g: &Global) -> Self {
        let mode = if g.json {
            Mode::Json
        } else if g.quiet || !std::io::stderr().is_terminal() {
            Mode::Silent
        } else {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {msg} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(250));
            Mode::Bar(bar)
        };
        Output {
            mode,
            quiet: g.quiet,
            started: Instant::now(),
            items: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            total_items: AtomicU64::new(0),
            total_bytes: AtomicU64::new(0),
            last_json: Mutex::new(Instant::now()),
        }
    }

    fn status_json(&self) {
        let mut last = self.last_json.lock().unwrap_or_else(|p| p.into_inner());
        if last.elapsed() < Duration::from_secs(1) {
            return;
        }
        *last = Instant::now();
        let line = json!({
            "message_type": "status",
            "seconds_elapsed": self.started.elapsed().as_secs(),
            "files_done": self.items.load(Ordering::Relaxed),
            "bytes_done": self.bytes.load(Ordering::Relaxed),
            "total_files": self.total_items.load(Ordering::Relaxed),
            "total_bytes": self.total_bytes.load(Ordering::Relaxed),
        });
        println!("{line}");
    }

    /// Does anything show totals (a bar or JSON lines)? Only then is a
    /// second walk to count them worth its CPU.
    pub fn shows_totals(&self) -> bool {
        !matches!(self.mode, Mode::Silent)
    }

    /// Removes the bar before the final report is printed.
    pub fn clear(&self) {
        if let Mode::Bar(b) = &self.mode {
            b.finish_and_clear();
        }
    }
}

impl Progress for Output {
    fn start(&self, _phase: &str, total_items: Option<u64>, total_bytes: Option<u64>) {
        if let Some(n) = total_items {
            self.total_items.store(n, Ordering::Relaxed);
        }
        if let Some(n) = total_bytes {
            self.total_bytes.store(n, Ordering::Relaxed);
            if let Mode::Bar(b) = &self.mode {
                b.set_length(n);
            }
        }
    }

    fn item(&self, _path: &Path) {
        let n = self.items.fetch_add(1, Ordering::Relaxed) + 1;
        if let Mode::Bar(b) = &self.mode {
            if n.is_multiple_of(64) {
                b.set_message(format!("{n} files"));
            }
        }
    }

    fn bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
        match &self.mode {
            Mode::Bar(b) => b.inc(n),
            Mode::Json => self.status_json(),
            Mode::Silent => {}
        }
    }

    fn warn(&self, message: &str) {
        match &self.mode {
            Mode::Json => println!("{}", json!({"message_type": "warning", "message": message})),
            Mode::Bar(b) => b.suspend(|| eprintln!("warning: {message}")),
            Mode::Silent if !self.quiet => eprintln!("warning: {message}"),
            Mode::Silent => {}
        }
        let _ = std::io::stdout().flush();
    }

    fn finish(&self) {
        self.clear();
    }

    fn cancelled(&self) -> bool {
        crate::cli::interrupt::requested()
    }
}

/// Human-readable byte count.
pub fn bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}
