//! `backup --hook-before CMD --hook-after CMD`: runs them around the backup
//! and remembers how they went for the summary (`hooks` in `--json`).
//! One of each: a sequence of steps belongs in one script.

use cairn::hooks::{self, HookContext, Phase};
use cairn::progress::{NoProgress, Progress};
use cairn::{Error, Result};
use serde_json::{json, Value};

use crate::cli::args::{BackupArgs, Global};

pub struct Hooks {
    before: Option<String>,
    after: Option<String>,
    /// Copy the hooks' output to stderr (text mode, not `--quiet`).
    echo: bool,
    /// One JSON object per hook that ran, in order.
    runs: Vec<Value>,
}

impl Hooks {
    pub fn new(g: &Global, a: &BackupArgs) -> Hooks {
        Hooks {
            before: a.hook_before.clone(),
            after: a.hook_after.clone(),
            echo: !g.json && !g.quiet,
            runs: Vec::new(),
        }
    }

    /// Runs `--hook-before`; its failure must stop the backup before it
    /// writes anything.
    pub fn before(&mut self, progress: &dyn Progress) -> Result<()> {
        let Some(cmd) = self.before.clone() else {
            return Ok(());
        };
        self.run("--hook-before", &cmd, Phase::Before, None, progress)
    }

    /// Runs `--hook-after`, told whether the backup succeeded and which
    /// snapshot it saved. A first Ctrl-C does not stop it (it may be what
    /// restarts a service the backup stopped, and an interrupted backup
    /// needs that most); a second one exits at once, as always.
    pub fn after(&mut self, ok: bool, snapshot: Option<String>) -> Result<()> {
        let Some(cmd) = self.after.clone() else {
            return Ok(());
        };
        self.run(
            "--hook-after",
            &cmd,
            Phase::After { ok },
            snapshot,
            &NoProgress,
        )
    }

    fn run(
        &mut self,
        flag: &str,
        cmd: &str,
        phase: Phase,
        snapshot: Option<String>,
        progress: &dyn Progress,
    ) -> Result<()> {
        let ctx = HookContext {
            operation: "backup".into(),
            phase,
            snapshot,
        };
        match hooks::run(flag, cmd, &ctx, self.echo, progress) {
            Ok(r) => {
                self.runs
                    .push(json!({"hook": r.hook, "command": r.command, "ok": true,
                    "status": r.status, "stderr_tail": r.stderr_tail}));
                Ok(())
            }
            Err(e) => {
                if let Error::Hook {
                    hook,
                    command,
                    status,
                    stderr_tail,
                } = &e
                {
                    self.runs
                        .push(json!({"hook": hook, "command": command, "ok": false,
                        "status": status, "stderr_tail": stderr_tail}));
                }
                Err(e)
            }
        }
    }

    /// The `hooks` array of the JSON summary.
    pub fn json(&self) -> Value {
        Value::Array(self.runs.clone())
    }
}
