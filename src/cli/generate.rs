//! `cairn completions SHELL` and `cairn man DIR`: shell completions and
//! man pages generated from the same clap definitions the parser uses, so
//! they cannot drift from the commands.

use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use cairn::{Error, Result};

use crate::cli::args::Cli;
use crate::cli::exit;

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    pub shell: Shell,
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// Directory to write the pages into (created if missing): cairn.1 and
    /// one cairn-COMMAND.1 per command and subcommand.
    pub dir: PathBuf,
}

/// Prints the completion script for the shell on stdout.
pub fn completions(a: CompletionsArgs) -> Result<i32> {
    let mut cmd = Cli::command();
    clap_complete::generate(a.shell, &mut cmd, "cairn", &mut std::io::stdout());
    Ok(exit::OK)
}

/// Writes every man page into the directory; prints their paths.
pub fn man(a: ManArgs) -> Result<i32> {
    std::fs::create_dir_all(&a.dir).map_err(|e| Error::io(&a.dir, e))?;
    let mut cmd = Cli::command();
    cmd.build();
    let mut written = Vec::new();
    write_pages(&cmd, &a.dir, &mut written)?;
    for p in &written {
        println!("{}", p.display());
    }
    Ok(exit::OK)
}

/// The page of `cmd`, then its subcommands' pages. A built command's
/// subcommands are named for their pages (`cairn-key-add`).
fn write_pages(cmd: &clap::Command, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let name = cmd.get_display_name().unwrap_or(cmd.get_name());
    let mut bytes = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut bytes)
        .map_err(|e| Error::Internal(format!("rendering the man page of {name}: {e}")))?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))?;
    out.push(path);
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        write_pages(sub, dir, out)?;
    }
    Ok(())
}
