//! The adaptive request limit (src/storage/s3/limit.rs) against a real
//! store made far away: the S3 server behind `examples/wan_delay`, which
//! delays every byte 30 ms each way on loopback. Small objects then wait
//! on round trips, not on the store: the backup of a bucket sends more
//! requests at once than it starts with, unless told a fixed number.
//! Needs the S3 server (bucket_util.rs).

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::bucket_util::TestBucket;
use crate::util::*;

/// The relay, killed on drop.
struct Far {
    child: Child,
    endpoint: String,
}

impl Drop for Far {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `examples/wan_delay` on a free loopback port in front of `upstream`.
fn far(upstream: &str, delay_ms: u32) -> Far {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(example("wan_delay"))
        .args([&listen, upstream.trim_start_matches("http://")])
        .arg(delay_ms.to_string())
        .spawn()
        .unwrap();
    let far = Far {
        child,
        endpoint: format!("http://{listen}"),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&listen).is_err() {
        assert!(Instant::now() < deadline, "wan_delay did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    far
}

/// The source's `peak_in_flight` of a backup of `location` into a fresh
/// repository.
fn peak_of_backup(b: &TestBucket, location: &str, extra: &[&str]) -> u64 {
    let summary = crate::bucket_util::backup_location(&Env::new(), b, location, extra);
    assert_eq!(summary["source"]["gets"], 600, "{summary}");
    summary["source"]["peak_in_flight"].as_u64().unwrap()
}

#[test]
fn a_far_bucket_gets_more_requests_in_flight_unless_the_number_is_fixed() {
    let b = TestBucket::new("far");
    let objects = (0..600)
        .map(|i| (format!("o/{i:04}"), vec![i as u8; 1024]))
        .collect();
    b.put_many(objects);
    let relay = far(&b.endpoint, 30);
    let location = b.location("").replacen(&b.endpoint, &relay.endpoint, 1);

    // From 16 the first step (to 24) is taken unmeasured; going past it
    // takes a measured gain.
    let adaptive = peak_of_backup(&b, &location, &[]);
    assert!(
        adaptive > 24 && adaptive <= cairn::storage::s3::ADAPTIVE_CEILING as u64,
        "{adaptive} requests in flight at most, from 16"
    );
    assert_eq!(
        peak_of_backup(&b, &location, &["--source-connections", "4"]),
        4
    );
}
