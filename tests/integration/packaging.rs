//! Packaging: shell completions and man pages generated from the clap
//! definitions, and the systemd units in contrib/systemd (checked with
//! `systemd-analyze verify` where the machine has it, against the built
//! binary and the generated man pages their `Documentation=` names).

use std::path::Path;
use std::process::Command;

use crate::util::*;

#[test]
fn completions_for_every_shell_name_the_commands() {
    let env = Env::new();
    for (shell, marker) in [
        ("bash", "_cairn()"),
        ("zsh", "#compdef cairn"),
        ("fish", "complete -c cairn"),
        ("elvish", "edit:completion:arg-completer[cairn]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = env.ok(&["completions", shell]);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains(marker), "{shell}: no {marker:?}");
        for sub in ["backup", "restore", "serve", "key"] {
            assert!(text.contains(sub), "{shell}: no {sub}");
        }
    }
    // The bash script is valid bash.
    let script = env.path("cairn.bash");
    std::fs::write(&script, env.ok(&["completions", "bash"]).stdout).unwrap();
    let st = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(st.success());
    let out = env.cmd(&["completions", "tcsh"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn man_pages_for_every_command_and_systemd_units_verify() {
    let env = Env::new();
    let dir = env.path("man/man1");
    let out = env.ok(&["man", dir.to_str().unwrap()]);
    let listed = String::from_utf8(out.stdout).unwrap();
    let help = String::from_utf8(env.ok(&["--help"]).stdout).unwrap();
    // Every command in `cairn --help` has its page, and so do subcommands.
    let commands: Vec<&str> = help
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("Options:")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() > 20, "{commands:?}");
    for c in commands.iter().map(|c| format!("cairn-{c}.1")).chain([
        "cairn.1".to_string(),
        "cairn-key-add.1".to_string(),
        "cairn-serve-token-create.1".to_string(),
    ]) {
        let page = std::fs::read_to_string(dir.join(&c)).unwrap_or_else(|e| panic!("{c}: {e}"));
        assert!(
            page.starts_with(".ie \\n(.g .ds Aq") || page.contains(".TH "),
            "{c}"
        );
        assert!(listed.contains(&c), "{c} not listed");
    }
    verify_units(&env, &dir);
}

/// `systemd-analyze verify` on the units, their binary path pointed at
/// the built one; skipped (said so) without systemd-analyze.
fn verify_units(env: &Env, man1: &Path) {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("note: no systemd-analyze here; the units were not verified");
        return;
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd");
    let units = env.path("units");
    std::fs::create_dir_all(&units).unwrap();
    let bin = env!("CARGO_BIN_EXE_cairn");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        // Templates are verified as an instance.
        let name = name.replace("@.", "@test.");
        std::fs::write(units.join(&name), text.replace("/usr/local/bin/cairn", bin)).unwrap();
        names.push(units.join(name));
    }
    assert_eq!(names.len(), 3, "{names:?}");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&names)
        .env("MANPATH", man1.parent().unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
