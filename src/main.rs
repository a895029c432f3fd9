//! The `cairn` command: a thin layer over the `cairn` library.

mod cli;
mod config;
mod serve;

use std::io::IsTerminal;

use clap::Parser;

fn main() {
    // Output piped into `head` or `less` that stops reading ends the process
    // quietly, as every Unix tool does, instead of panicking in `println!`.
    // SAFETY: called first, before any thread exists; restores the default
    // disposition, which Rust's runtime had set to "ignore".
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = cli::args::Cli::parse();
    let level = match (cli.global.quiet, cli.global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal: logs piped to a file,
        // cron's mail or the journal would otherwise carry escape codes.
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .init();
    let json = cli.global.json;
    let code = match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"message_type": "error", "message": e.to_string()})
                );
            }
            eprintln!("cairn: {e}");
            cli::exit::code(e.kind())
        }
    };
    std::process::exit(code);
}
