//! A service plan whose path is a bucket: `cairn serve` backs it up with
//! the `CAIRN_SOURCE_*` keys of its environment, like the command line.

use std::process::Stdio;

use crate::bucket_util::TestBucket;
use crate::serve_util::{get, jobs, serve_cmd, wait_for, ServeConfig};
use crate::util::Env;

#[test]
fn bucket_serve_plan_backs_up_a_bucket() {
    let env = Env::new();
    let b = TestBucket::new("plan");
    b.put("docs/a.txt", b"first");
    b.put("b.bin", &[7u8; 5000]);
    let cfg = ServeConfig::new(&env, "");
    let location = b.location("");
    cfg.write(&format!(
        "[plans.bucket]\nrepository = \"main\"\npaths = [{location:?}]\nevery = \"2s\"\n"
    ));
    let mut cmd = serve_cmd(&env, &cfg);
    let log = env.path("serve.log");
    b.with_keys(&mut cmd)
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()));
    let mut child = cmd.spawn().expect("start cairn serve");
    let done = wait_for("a bucket backup job", || {
        if let Ok(Some(st)) = child.try_wait() {
            panic!(
                "cairn serve exited with {st}: {}",
                std::fs::read_to_string(&log).unwrap()
            );
        }
        let all = jobs(&cfg.state_dir);
        if let Some(failed) = all.iter().find(|j| j.status == "failed") {
            panic!("job failed: {failed:?}");
        }
        all.into_iter().find(|j| j.status == "succeeded")
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(done.files, Some(2), "{done:?}");
    let snaps = env.json(&["snapshots"]);
    let paths = &snaps.as_array().unwrap()[0]["paths"];
    assert_eq!(paths, &serde_json::json!([location]));
    assert!(get(cfg.port, "/api/v1/health").is_none(), "stopped");
}
