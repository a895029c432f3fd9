//! The overview's chart shows the repository's size as the service
//! measured it after each job, so a prune's savings show (it was a running
//! sum of what backups added before); the API's job records carry the
//! same series (`repository_bytes`).

use crate::serve_api_util::Serve;
use crate::web_util::{assert_well_formed, get, sign_in};

fn repository_bytes(job: &serde_json::Value) -> u64 {
    job["repository_bytes"]
        .as_u64()
        .unwrap_or_else(|| panic!("no repository_bytes in {job}"))
}

#[test]
fn web_chart_follows_the_measured_size_through_a_prune() {
    let mut s = Serve::new("keep_last = 1");
    let admin = s.token("admin", &["admin"]);
    // Condemned packs come due in the service's prune (grace 24 h).
    s.start_with(&[("CAIRN_TEST_PRUNE_CLOCK_OFFSET", "172800")]);
    let first = repository_bytes(&s.backup(&admin));
    assert!(first > 300_000, "{first}");
    std::fs::write(
        s.data.join("sub/b.bin"),
        crate::util::random_bytes(8, 300_000),
    )
    .unwrap();
    // The second backup forgets the first snapshot (keep_last = 1).
    let second = repository_bytes(&s.backup(&admin));
    assert!(second > first + 250_000, "{first} -> {second}");
    // Condemn the first version's data now (the real clock), then let the
    // service's cleanup, two days later by its clock, delete it.
    s.env.ok(&["prune"]);
    let (st, v) = s.post("/api/v1/plans/files/cleanup", Some(&admin), "");
    assert_eq!(st, 202, "{v}");
    let cleanup = s.wait_job(v["job"].as_i64().unwrap(), &admin);
    assert_eq!(cleanup["status"], "succeeded", "{cleanup}");
    let after = repository_bytes(&cleanup);
    assert!(after + 250_000 < second, "{second} -> {after}");
    let (st, stats) = s.get("/api/v1/repositories/main/stats", Some(&admin));
    assert_eq!(st, 200, "{stats}");
    assert_eq!(stats["stored_bytes"].as_u64(), Some(after), "{stats}");

    let cookie = sign_in(&s, &admin);
    let page = get(&s, "/", Some(&cookie));
    assert_eq!(page.status, 200);
    assert_well_formed("overview", &page.body);
    let shown = format!("{} stored", indicatif::HumanBytes(after));
    assert!(page.body.contains(&shown), "{shown} not in {}", page.body);
    assert!(page.body.contains("polyline"), "{}", page.body);
}
