//! `docs/json.md` against the real binary: every documented `--json`
//! example is run on a test repository and its real output must have the
//! documented shape (same keys and value types, recursively; values may
//! differ). A command whose output drifts from the document fails here.

use std::path::Path;

use serde_json::Value;

use crate::bucket_util::TestBucket;
use crate::util::*;

/// One documented example: the command line and its output block.
#[derive(Debug)]
struct Example {
    command: String,
    /// `json`: one document; `jsonl`: JSON Lines.
    lines: bool,
    output: String,
}

/// The examples of docs/json.md: each ```sh block holding one `cairn`
/// command, followed by the ```json or ```jsonl block of its output.
fn examples(doc: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut lines = doc.lines();
    let mut command: Option<String> = None;
    while let Some(line) = lines.next() {
        let fence = line.trim();
        let Some(lang) = fence.strip_prefix("```") else {
            continue;
        };
        let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        match lang {
            "sh" => {
                command = block
                    .iter()
                    .find(|l| l.starts_with("cairn "))
                    .map(|l| l.to_string())
            }
            "json" | "jsonl" => {
                let command = command
                    .take()
                    .expect("an output block without a command before it");
                out.push(Example {
                    command,
                    lines: lang == "jsonl",
                    output: block.join("\n"),
                });
            }
            _ => {}
        }
    }
    out
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Same shape: same type; objects with the same keys, each of the same
/// shape; every element of an array shaped like the documented first one
/// (a documented empty array must stay empty).
fn same_shape(doc: &Value, real: &Value, at: &str) -> Result<(), String> {
    if kind(doc) != kind(real) {
        return Err(format!("{at}: documented {}, got {real}", kind(doc)));
    }
    match (doc, real) {
        (Value::Object(d), Value::Object(r)) => {
            let mut dk: Vec<&String> = d.keys().collect();
            let mut rk: Vec<&String> = r.keys().collect();
            dk.sort();
            rk.sort();
            if dk != rk {
                return Err(format!("{at}: documented keys {dk:?}, got {rk:?}"));
            }
            for (k, v) in d {
                same_shape(v, &r[k], &format!("{at}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(d), Value::Array(r)) if d.is_empty() && !r.is_empty() => {
            Err(format!("{at}: documented empty, got {real}"))
        }
        (Value::Array(d), Value::Array(r)) => r
            .iter()
            .enumerate()
            .try_for_each(|(i, e)| like_one_of(d, e, &format!("{at}[{i}]"))),
        _ => Ok(()),
    }
}

/// `real` has the shape of at least one of `docs` (documented alternatives,
/// e.g. a first snapshot with `"parent": null` and a later one with an id).
fn like_one_of<'a>(
    docs: impl IntoIterator<Item = &'a Value>,
    real: &Value,
    at: &str,
) -> Result<(), String> {
    let mut first_err = None;
    for d in docs {
        match same_shape(d, real, at) {
            Ok(()) => return Ok(()),
            Err(e) => first_err = first_err.or(Some(e)),
        }
    }
    Err(first_err.unwrap_or_else(|| format!("{at}: nothing documented")))
}

fn parse(text: &str, what: &str) -> Value {
    try_parse(text).unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn try_parse(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("not JSON ({e}): {text}"))
}

/// Checks one example's real stdout against the documented output.
fn check(ex: &Example, stdout: &str) -> Result<(), String> {
    if !ex.lines {
        let doc = parse(&ex.output, &ex.command);
        return same_shape(&doc, &try_parse(stdout.trim())?, "$");
    }
    let doc: Vec<Value> = ex.output.lines().map(|l| parse(l, &ex.command)).collect();
    let real: Vec<Value> = stdout.lines().map(try_parse).collect::<Result<_, _>>()?;
    let type_of = |v: &Value| v["message_type"].as_str().unwrap_or("<none>").to_string();
    if real.last().map(type_of).as_deref() != Some("summary") {
        return Err(format!("the last line is not a summary: {stdout}"));
    }
    for d in &doc {
        let t = type_of(d);
        if !real.iter().any(|r| type_of(r) == t) {
            return Err(format!("no {t:?} line in the output: {stdout}"));
        }
    }
    for (i, r) in real.iter().enumerate() {
        let t = type_of(r);
        if !doc.iter().any(|d| type_of(d) == t) {
            return Err(format!("line {i}: undocumented message_type {t:?}: {r}"));
        }
        let documented = doc.iter().filter(|d| type_of(d) == t);
        like_one_of(documented, r, &format!("line {i} ({t})"))?;
    }
    Ok(())
}

/// The test repository: a first snapshot of `src`, then `src` changed, so
/// the documented backup has a parent and `diff` has changes to show.
struct Scene {
    env: Env,
    /// Where the documented `init` runs.
    fresh: Env,
    vars: Vec<(&'static str, String)>,
    /// `$BUCKET`: a bucket on the test S3 server (bucket_util.rs).
    bucket: TestBucket,
}

fn scene() -> Scene {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("notes.txt"), b"first version\n");
    write(&src.join("docs/report.txt"), b"kept as is\n");
    std::os::unix::fs::symlink("notes.txt", src.join("link")).unwrap();
    let first = env.backup(&[&src], &[]);
    write(&src.join("notes.txt"), b"second, longer version\n");
    write(&src.join("docs/new.txt"), b"new\n");
    let mut vars = vec![
        ("$SRC", src.to_string_lossy().into_owned()),
        (
            "$SNAP",
            first["snapshot_id"].as_str().unwrap()[..8].to_string(),
        ),
        (
            "$TARGET",
            env.path("restored").to_string_lossy().into_owned(),
        ),
        (
            "$BUNDLE",
            env.path("bundle.cairn").to_string_lossy().into_owned(),
        ),
    ];
    let bucket = TestBucket::new("doc");
    bucket.put("photos/a.jpg", b"jpeg bytes");
    bucket.put("photos/b/c.png", b"png bytes");
    vars.push(("$BUCKET", bucket.location("photos")));
    Scene {
        env,
        fresh: Env::uninit(),
        vars,
        bucket,
    }
}

impl Scene {
    /// Runs a documented command line (words split on blanks, `'…'`
    /// quoting for patterns) with the placeholders filled in.
    fn run(&self, command: &str) -> std::process::Output {
        let mut line = command.to_string();
        for (k, v) in &self.vars {
            line = line.replace(k, v);
        }
        let args: Vec<String> = line
            .split_whitespace()
            .skip(1)
            .map(|w| w.trim_matches('\'').to_string())
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cmd = if args.contains(&"init") {
            self.fresh.cmd(&args)
        } else {
            self.env.cmd(&args)
        };
        cmd.env("CAIRN_BUNDLE_PASSWORD", "bundle password");
        self.bucket.with_keys(&mut cmd);
        cmd.output().expect("run cairn")
    }
}

#[test]
fn every_documented_json_example_matches_real_output() {
    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json.md");
    let doc = std::fs::read_to_string(&doc_path).expect("docs/json.md");
    let examples = examples(&doc);
    assert!(examples.len() >= 15, "too few examples: {examples:?}");
    let scene = scene();
    let mut failures = Vec::new();
    for ex in &examples {
        assert!(ex.command.contains("--json"), "{}: no --json", ex.command);
        let out = scene.run(&ex.command);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let result = match out.status.code() {
            Some(0) => check(ex, &stdout),
            code => Err(format!(
                "exit {code:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            )),
        };
        if let Err(e) = result {
            failures.push(format!("{}\n    {e}", ex.command));
        }
    }
    assert!(
        failures.is_empty(),
        "docs/json.md drifted:\n{}",
        failures.join("\n")
    );
}

#[test]
fn shapes_differ_when_a_key_or_type_changes() {
    let doc: Value = serde_json::json!({"a": 1, "b": [{"c": "x"}], "d": null});
    let same: Value = serde_json::json!({"a": 7, "b": [], "d": null});
    assert!(same_shape(&doc, &same, "$").is_ok());
    let more_elems: Value = serde_json::json!({"a": 7, "b": [{"c": "y"}, {"c": "z"}], "d": null});
    assert!(same_shape(&doc, &more_elems, "$").is_ok());
    for drifted in [
        serde_json::json!({"a": "1", "b": [], "d": null}),
        serde_json::json!({"a": 1, "b": [{"c": 2}], "d": null}),
        serde_json::json!({"a": 1, "b": [], "d": null, "e": 0}),
        serde_json::json!({"a": 1, "b": []}),
        serde_json::json!({"a": 1, "b": [], "d": {"secs": 1}}),
    ] {
        assert!(same_shape(&doc, &drifted, "$").is_err(), "{drifted}");
    }
    let ex = Example {
        command: "cairn --json ls latest".into(),
        lines: true,
        output: "{\"message_type\":\"node\",\"path\":\"/a\"}\n{\"message_type\":\"summary\",\"nodes\":1}".into(),
    };
    let ok = "{\"message_type\":\"node\",\"path\":\"/b\"}\n{\"message_type\":\"node\",\"path\":\"/c\"}\n{\"message_type\":\"summary\",\"nodes\":2}";
    assert!(check(&ex, ok).is_ok());
    assert!(
        check(&ex, "{\"message_type\":\"summary\",\"nodes\":0}").is_err(),
        "a documented line type is missing"
    );
    assert!(check(&ex, "{\"message_type\":\"summary\",\"nodes\":0}\n{\"message_type\":\"node\",\"path\":\"/b\"}").is_err(), "summary not last");
    assert!(check(&ex, "{\"message_type\":\"status\"}\n{\"message_type\":\"node\",\"path\":\"/b\"}\n{\"message_type\":\"summary\",\"nodes\":2}").is_err(), "undocumented line");
}
