//! `cairn -P NAME`: a repository named in the configuration file gives the
//! location, the password source and the S3 settings (and, on S3, the key
//! files), so a command line and the service agree; and `cairn serve
//! --check-config`. Runs on the backend under test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::{Env, PASSWORD};

/// Writes the configuration for `env`'s repository as `main`, with the
/// password (and on S3 the access keys) in files.
fn write_config(env: &Env, extra: &str) -> PathBuf {
    let pass = env.path("main.pass");
    std::fs::write(&pass, format!("{PASSWORD}\n")).unwrap();
    let mut repo = format!(
        "[repositories.main]\nlocation = {:?}\npassword_file = {:?}\n",
        env.location, pass
    );
    if env.is_s3() {
        for (var, file) in [
            ("AWS_ACCESS_KEY_ID", "s3_access_key_id_file"),
            ("AWS_SECRET_ACCESS_KEY", "s3_secret_access_key_file"),
        ] {
            let path = env.path(file);
            std::fs::write(&path, std::env::var(var).expect(var)).unwrap();
            repo.push_str(&format!("{file} = {path:?}\n"));
        }
    }
    let file = env.path("config.toml");
    std::fs::write(&file, format!("{repo}{extra}")).unwrap();
    file
}

/// cairn with `--config FILE` and nothing else telling it where the
/// repository is or what the password is (no S3 keys in the environment
/// either: they come from the files).
fn cairn(env: &Env, config: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cairn"));
    c.arg("--config")
        .arg(config)
        .args(args)
        .env("CAIRN_CACHE_DIR", &env.cache)
        .env_remove("CAIRN_REPOSITORY")
        .env_remove("CAIRN_PASSWORD")
        .env_remove("CAIRN_PASSWORD_FILE")
        .env_remove("CAIRN_PASSWORD_COMMAND")
        .env_remove("CAIRN_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    c.output().expect("run cairn")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn serve_profile_backs_up_and_lists_the_named_repository() {
    let env = Env::new();
    let config = write_config(&env, "");
    let data = env.path("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("a.txt"), b"profile").unwrap();
    let data_s = data.to_string_lossy().into_owned();
    let out = cairn(&env, &config, &["-P", "main", "--json", "backup", &data_s]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = cairn(&env, &config, &["-P", "main", "--json", "snapshots"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let listed = crate::util::last_json(&out);
    // The same repository as --repo and the password name.
    let direct = env.json(&["snapshots"]);
    assert_eq!(listed, direct);
    assert_eq!(direct.as_array().map(Vec::len), Some(1), "{direct}");
}

#[test]
fn serve_profile_conflicts_and_unknown_names_are_usage_errors() {
    let env = Env::new();
    let config = write_config(&env, "");
    let out = cairn(
        &env,
        &config,
        &["-P", "main", "--repo", "/elsewhere", "snapshots"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("-P/--profile main") && stderr(&out).contains("--repo"));

    let pass = env.path("other.pass");
    std::fs::write(&pass, PASSWORD).unwrap();
    let pass_s = pass.to_string_lossy().into_owned();
    let args = ["-P", "main", "--password-file", &pass_s, "snapshots"];
    let out = cairn(&env, &config, &args);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--password-file"), "{}", stderr(&out));

    let missing = env.path("missing.toml");
    let out = cairn(&env, &missing, &["-P", "main", "snapshots"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no such configuration file"),
        "{}",
        stderr(&out)
    );

    let out = cairn(&env, &config, &["-P", "mian", "snapshots"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let msg = stderr(&out);
    assert!(
        msg.contains(&*config.to_string_lossy()) && msg.contains("known: main"),
        "{msg}"
    );
}

#[test]
fn serve_check_config_shows_next_runs_or_names_the_bad_line() {
    let env = Env::uninit();
    let plan = "\n[plans.db]\nrepository = \"main\"\npaths = [\"/srv/data\"]\n\
                cron = \"0 3 * * *\"\ntimezone = \"Europe/Berlin\"\n";
    let config = write_config(&env, plan);
    let out = cairn(&env, &config, &["--json", "serve", "--check-config"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = crate::util::last_json(&out);
    let p = &v["plans"][0];
    assert_eq!(p["name"], "db");
    let next = p["next_run"].as_str().expect("next_run");
    assert!(chrono::DateTime::parse_from_rfc3339(next).is_ok(), "{next}");

    let broken = write_config(&env, &plan.replace("0 3 * * *", "0 3 * *"));
    let out = cairn(&env, &broken, &["serve", "--check-config"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let line = plan.lines().position(|l| l.starts_with("cron")).unwrap();
    let repo_lines =
        std::fs::read_to_string(&broken).unwrap().lines().count() - plan.lines().count();
    let want = format!(
        "{}:{}: plans.db.cron: ",
        broken.display(),
        repo_lines + line + 1
    );
    assert!(
        stderr(&out).contains(&want),
        "{} lacks {want}",
        stderr(&out)
    );
}
