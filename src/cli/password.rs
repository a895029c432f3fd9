//! Where the repository password comes from. Exactly one source may be set:
//! `--password-file`, `--password-command`, `$CAIRN_PASSWORD_FILE`,
//! `$CAIRN_PASSWORD_COMMAND` or `$CAIRN_PASSWORD`; with none, a terminal
//! prompt. Two set at once is an error naming both (never their values):
//! a silent precedence let a stale variable pick the password. With
//! `-P NAME` the configuration's source is the one: any of the above set
//! as well is refused the same way.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;

use zeroize::Zeroizing;

use cairn::{Error, Result};

use crate::cli::args::Global;
use crate::config::secret::{read_secret_file, run_password_command};

/// One way of getting the password, named as the user set it.
enum Source {
    File(&'static str, PathBuf),
    Command(&'static str, String),
    Value(Zeroizing<String>),
}

/// An environment variable that is set and not empty.
fn env(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// Every source that is set, with its name.
fn sources(g: &Global) -> Vec<(&'static str, Source)> {
    let mut set = Vec::new();
    if let Some(f) = &g.password_file {
        set.push((
            "--password-file",
            Source::File("--password-file", f.clone()),
        ));
    }
    if let Some(c) = &g.password_command {
        let src = Source::Command("--password-command", c.clone());
        set.push(("--password-command", src));
    }
    if let Some(f) = env("CAIRN_PASSWORD_FILE") {
        let src = Source::File("CAIRN_PASSWORD_FILE", f.into());
        set.push(("CAIRN_PASSWORD_FILE", src));
    }
    if let Some(c) = env("CAIRN_PASSWORD_COMMAND") {
        let src = Source::Command("CAIRN_PASSWORD_COMMAND", c.to_string_lossy().into_owned());
        set.push(("CAIRN_PASSWORD_COMMAND", src));
    }
    if let Some(p) = env("CAIRN_PASSWORD") {
        let value = Zeroizing::new(p.to_string_lossy().into_owned());
        set.push(("CAIRN_PASSWORD", Source::Value(value)));
    }
    set
}

/// The password from the one source that is set, else from a prompt
/// (asked twice when `confirm`, for a new repository).
pub fn password(g: &Global, confirm: bool) -> Result<Zeroizing<String>> {
    let mut set = sources(g);
    if let Some((name, r)) = crate::cli::open::profile(g)? {
        if !set.is_empty() {
            let names: Vec<&str> = set.iter().map(|(n, _)| *n).collect();
            return Err(Error::Usage(format!(
                "-P/--profile {name} takes the password source of the configuration, and {} \
                 is set too: use only one",
                names.join(", ")
            )));
        }
        return r.password(&name);
    }
    if set.len() > 1 {
        let names: Vec<&str> = set.iter().map(|(n, _)| *n).collect();
        return Err(Error::Usage(format!(
            "more than one password source is set ({}): use only one",
            names.join(", ")
        )));
    }
    let Some((_, source)) = set.pop() else {
        return prompt(confirm);
    };
    let pw = match source {
        Source::Value(v) => v,
        Source::File(name, path) => read_secret_file(&format!("password file ({name})"), &path)?,
        Source::Command(name, cmd) => run_password_command(name, &cmd)?,
    };
    if pw.is_empty() {
        return Err(Error::Usage("an empty password is not allowed".into()));
    }
    Ok(pw)
}

/// The new password of `key add` / `key passwd`: from `file`
/// (`--new-password-file`), `$CAIRN_NEW_PASSWORD`, or a prompt asked twice.
/// Both set is refused, as for the repository password.
pub fn new_password(file: Option<&std::path::Path>) -> Result<Zeroizing<String>> {
    let var = env("CAIRN_NEW_PASSWORD");
    let pw = match (file, var) {
        (Some(_), Some(_)) => {
            return Err(Error::Usage(
                "both --new-password-file and CAIRN_NEW_PASSWORD are set: use only one".into(),
            ))
        }
        (Some(f), None) => read_secret_file("new password file (--new-password-file)", f)?,
        (None, Some(v)) => Zeroizing::new(v.to_string_lossy().into_owned()),
        (None, None) if !std::io::stderr().is_terminal() => {
            return Err(Error::Usage(
                "no new password: use --new-password-file or set CAIRN_NEW_PASSWORD, or run on a terminal"
                    .into(),
            ))
        }
        (None, None) => ask_twice("new password: ", "enter the new password again: ")?,
    };
    if pw.is_empty() {
        return Err(Error::Usage("an empty password is not allowed".into()));
    }
    Ok(pw)
}

/// Asks on the terminal.
/// The password of a second repository (copy's target, init's chunking
/// source): `flag` (a file), then `$<PREFIX>_PASSWORD_FILE`, then
/// `$<PREFIX>_PASSWORD`; exactly one may be set. `role` names the repository
/// in messages ("target", "source").
pub fn other_password(
    flag: Option<&std::path::Path>,
    flag_name: &str,
    prefix: &str,
    role: &str,
) -> Result<Zeroizing<String>> {
    let (file_name, value_name) = (
        format!("{prefix}_PASSWORD_FILE"),
        format!("{prefix}_PASSWORD"),
    );
    let file_var = env(&file_name).map(PathBuf::from);
    let value = env(&value_name);
    let set = [flag.is_some(), file_var.is_some(), value.is_some()];
    if set.iter().filter(|s| **s).count() > 1 {
        return Err(Error::Usage(format!(
            "more than one {role} password source is set ({flag_name}, {file_name}, \
             {value_name}): use only one"
        )));
    }
    if let Some(f) = flag.or(file_var.as_deref()) {
        return read_secret_file(&format!("{role} password file"), f);
    }
    match value {
        Some(v) => Ok(Zeroizing::new(v.to_string_lossy().into_owned())),
        None => Err(Error::Usage(format!(
            "no password for the {role}: use {flag_name} or set {file_name} or {value_name}"
        ))),
    }
}

fn prompt(confirm: bool) -> Result<Zeroizing<String>> {
    let pw = if confirm {
        ask_twice("repository password: ", "enter the password again: ")?
    } else {
        ask("repository password: ")?
    };
    if pw.is_empty() {
        return Err(Error::Usage("an empty password is not allowed".into()));
    }
    Ok(pw)
}

/// Asks twice on the terminal; the answers must match.
fn ask_twice(first: &str, again: &str) -> Result<Zeroizing<String>> {
    let pw = ask(first)?;
    if *pw != *ask(again)? {
        return Err(Error::Usage("the passwords do not match".into()));
    }
    Ok(pw)
}

/// One answer from the terminal (never echoed).
fn ask(question: &str) -> Result<Zeroizing<String>> {
    if !std::io::stderr().is_terminal() {
        return Err(Error::Usage(
            "no password: use --password-file or --password-command, set CAIRN_PASSWORD_FILE, \
             CAIRN_PASSWORD_COMMAND or CAIRN_PASSWORD, or run on a terminal"
                .into(),
        ));
    }
    rpassword::prompt_password(question)
        .map(Zeroizing::new)
        .map_err(|e| match e.kind() {
            // Ctrl-C at the prompt: the handler of a long command took
            // the signal, so exit as interrupted (130), not as failed.
            std::io::ErrorKind::Interrupted => Error::Interrupted("no password was entered".into()),
            _ => Error::file("password prompt", "/dev/tty", e),
        })
}
