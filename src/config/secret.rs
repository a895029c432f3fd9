//! Reading secrets: a password or key from a file, or what a command
//! prints. One implementation for the CLI's flags and variables and for the
//! configuration's `password_file` / `password_command` / key files. The
//! command line and the file's contents never appear in errors.

use std::path::Path;
use std::process::{Command, Stdio};

use zeroize::Zeroizing;

use cairn::{Error, Result};

/// A file's contents minus trailing newlines; `what` names it in errors
/// (e.g. `password file (--password-file)`).
pub fn read_secret_file(what: &str, path: &Path) -> Result<Zeroizing<String>> {
    let s = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| Error::file(what, path, e))?);
    Ok(Zeroizing::new(s.trim_end_matches(['\n', '\r']).to_string()))
}

/// Runs a password command with `sh -c`; its output minus the final
/// newline is the password. The command line is not repeated in errors: it
/// may hold a secret. `name` says where the command came from.
pub fn run_password_command(name: &str, cmd: &str) -> Result<Zeroizing<String>> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::inherit())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Error::file(format!("shell for the password command ({name})"), "sh", e))?;
    let stdout = Zeroizing::new(out.stdout);
    if !out.status.success() {
        return Err(Error::Usage(format!(
            "the password command ({name}) failed with {}",
            out.status
        )));
    }
    let s = std::str::from_utf8(&stdout)
        .map_err(|_| Error::Usage(format!("the password command ({name}) printed non-UTF-8")))?;
    Ok(Zeroizing::new(s.trim_end_matches(['\n', '\r']).to_string()))
}
