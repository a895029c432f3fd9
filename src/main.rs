//! The `cairn` command: a thin layer over the `cairn` library.

mod cli;

use clap::Parser;

fn main() {
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
