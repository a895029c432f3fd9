//! Rendering progress: a bar on a terminal, JSON lines with `--json`,
//! nothing with `--quiet`. Progress and warnings go to stderr (as JSON
//! lines with `--json`), so stdout holds only a command's result (see
//! docs/json.md); `backup -v` file lines are results and go to stdout.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use cairn::progress::{FileOutcome, Progress};

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
    /// `backup -v`: list files read (with `-vv` also those reused).
    files: Option<FileList>,
}

/// What `backup -v` lists.
#[derive(Debug, Clone, Copy)]
struct FileList {
    unmodified_too: bool,
    dry_run: bool,
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
            files: None,
        }
    }

    /// With `-v`, list the files a backup reads (`-vv`: every file) on
    /// stdout; a dry run says which it would read.
    pub fn list_files(mut self, g: &Global, dry_run: bool) -> Self {
        if g.verbose > 0 && !g.quiet {
            self.files = Some(FileList {
                unmodified_too: g.verbose > 1,
                dry_run,
            });
        }
        self
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
        eprintln!("{line}");
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

    fn file(&self, path: &Path, outcome: FileOutcome, size: u64) {
        let Some(list) = self.files else { return };
        if outcome == FileOutcome::Unmodified && !list.unmodified_too {
            return;
        }
        match &self.mode {
            Mode::Json => println!("{}", file_json(path, outcome, size, list.dry_run)),
            Mode::Bar(b) => {
                b.suspend(|| println!("{}", file_line(path, outcome, size, list.dry_run)))
            }
            Mode::Silent => println!("{}", file_line(path, outcome, size, list.dry_run)),
        }
    }

    fn warn(&self, message: &str) {
        match &self.mode {
            Mode::Json => eprintln!("{}", json!({"message_type": "warning", "message": message})),
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

/// A `backup -v` line: `new        /path (4.2 MiB)`; in a dry run
/// `would read /path (4.2 MiB, new)` or `would skip /path (…, unmodified)`.
pub fn file_line(path: &Path, outcome: FileOutcome, size: u64, dry_run: bool) -> String {
    let (path, size, what) = (path.display(), bytes(size), outcome.name());
    match (dry_run, outcome) {
        (false, _) => format!("{what:<10} {path} ({size})"),
        (true, FileOutcome::Unmodified) => format!("would skip {path} ({size}, {what})"),
        (true, _) => format!("would read {path} ({size}, {what})"),
    }
}

/// A `backup -v --json` line (see docs/json.md).
fn file_json(path: &Path, outcome: FileOutcome, size: u64, dry_run: bool) -> serde_json::Value {
    json!({
        "message_type": "file",
        "action": outcome.name(),
        "path": path.to_string_lossy(),
        "size": size,
        "read": outcome != FileOutcome::Unmodified,
        "dry_run": dry_run,
    })
}

/// Human-readable byte count in binary units with one decimal (`4.2 MiB`,
/// `512 B`), as restic and `ls -lh` print sizes.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_like_restic() {
        assert_eq!(super::bytes(0), "0 B");
        assert_eq!(super::bytes(1023), "1023 B");
        assert_eq!(super::bytes(1024), "1.0 KiB");
        assert_eq!(super::bytes(4_404_019), "4.2 MiB");
        assert_eq!(super::bytes(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn file_lines_say_what_was_or_would_be_read() {
        use super::{file_line, FileOutcome};
        let p = std::path::Path::new("/a/b");
        assert_eq!(
            file_line(p, FileOutcome::New, 5000, false),
            "new        /a/b (4.9 KiB)"
        );
        assert_eq!(
            file_line(p, FileOutcome::Modified, 1, false),
            "modified   /a/b (1 B)"
        );
        assert_eq!(
            file_line(p, FileOutcome::Unmodified, 0, false),
            "unmodified /a/b (0 B)"
        );
        assert_eq!(
            file_line(p, FileOutcome::New, 1, true),
            "would read /a/b (1 B, new)"
        );
        assert_eq!(
            file_line(p, FileOutcome::Unmodified, 1, true),
            "would skip /a/b (1 B, unmodified)"
        );
    }
}
