//! The `rest:` backend against an in-process proxy on a loopback port: the
//! storage conformance suite with a `full` token, and the append-only
//! policy as a client sees it.

use std::sync::Arc;

use bytes::Bytes;

use cairn::storage::conformance;
use cairn::storage::local::LocalStorage;
use cairn::storage::memory::MemoryStorage;
use cairn::storage::rest::RestStorage;
use cairn::storage::{Storage, StorageErrorKind};

use super::handlers::{router, Proxy};
use super::tokens::Tokens;

pub(super) const FULL: &str = "full-secret-0123456789";
pub(super) const APPEND: &str = "append-secret-0123456789";
pub(super) const HEX: &str = "00ff0123456789abcdef00112233445566778899aabbccddeeff0011223344ab";

/// A proxy over `storage` on a loopback port, served from a thread of its
/// own for the rest of the test process; its `rest:` location.
pub(super) fn start(storage: Arc<dyn Storage>) -> String {
    let tokens = Tokens::parse(&format!("op full {FULL}\nlaptop append {APPEND}\n")).unwrap();
    let proxy = Arc::new(Proxy::new(storage, tokens));
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            axum::serve(listener, router(proxy)).await.unwrap();
        });
    });
    format!("rest:http://{addr}/")
}

pub(super) fn client(location: &str, token: &str) -> RestStorage {
    RestStorage::with_token(location, token).unwrap()
}

#[test]
fn rest_over_memory_passes_conformance_suite() {
    let loc = start(Arc::new(MemoryStorage::new()));
    conformance::run_all(&client(&loc, FULL));
}

#[test]
fn rest_over_local_passes_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalStorage::create(dir.path().join("repo")).unwrap();
    let loc = start(Arc::new(local));
    conformance::run_all(&client(&loc, FULL));
}

/// Through the proxy to the test SeaweedFS, when `CAIRN_TEST_S3` names one.
#[test]
fn rest_over_s3_passes_conformance_suite() {
    let Some(endpoint) = std::env::var("CAIRN_TEST_S3")
        .ok()
        .filter(|e| !e.is_empty())
    else {
        eprintln!("SKIPPED: no S3 server (CAIRN_TEST_S3 unset): rest_over_s3");
        return;
    };
    let prefix = format!("cairn-unit/rest-{:016x}", rand::random::<u64>());
    let s3 = cairn::storage::open_location(&format!("s3:{endpoint}/{prefix}"), true).unwrap();
    let loc = start(s3);
    conformance::run_all(&client(&loc, FULL));
}

#[test]
fn append_token_creates_but_never_destroys() {
    let backend = Arc::new(MemoryStorage::new());
    let loc = start(backend.clone());
    let c = client(&loc, APPEND);
    let pack = &format!("packs/00/{HEX}");
    let data = Bytes::from_static(b"sealed pack bytes");
    c.put(pack, data.clone()).expect("create");
    c.put(pack, data.clone())
        .expect("a retried upload of the same bytes");
    let err = c.put(pack, Bytes::from_static(b"other")).unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Permanent);
    assert!(
        err.to_string()
            .contains(&format!("the proxy refused PUT {pack}")),
        "{err}"
    );
    let err = c.delete(pack).unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Permanent);
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "the proxy refused DELETE {pack}: this token is append-only"
        )),
        "{msg}"
    );
    assert_eq!(
        backend.get(pack).unwrap(),
        data.as_ref(),
        "the pack changed"
    );
    assert_eq!(c.get_range(pack, 7, 4).unwrap(), b"pack");
    // Zero-length ranges go by the size a HEAD reports.
    assert_eq!(c.get_range(pack, data.len() as u64, 0).unwrap(), b"");
    let err = c.get_range(pack, data.len() as u64 + 1, 0).unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Permanent, "{err}");
    assert_eq!(c.list("packs/").unwrap().len(), 1);

    // Locks: create-only, exactly once.
    let lock = "locks/00000000000000000001";
    assert!(c.put_if_absent(lock, data.clone()).unwrap());
    assert!(!c.put_if_absent(lock, data.clone()).unwrap());
    assert!(c.delete(lock).is_err());

    // A backup's own marker and probe may be rewritten and deleted.
    for key in [&format!("running/{HEX}"), "cairn-probe-00ff"] {
        c.put(key, Bytes::from_static(b"1")).unwrap();
        c.put(key, Bytes::from_static(b"2")).unwrap();
        c.delete(key).unwrap();
        assert!(backend.get(key).unwrap_err().is_not_found(), "{key}");
    }
}

#[test]
fn wrong_or_missing_tokens_are_refused_without_echoing_them() {
    let backend = Arc::new(MemoryStorage::new());
    backend.put("config", Bytes::from_static(b"c")).unwrap();
    let loc = start(backend.clone());
    for token in ["", "not-a-token-0123456789", &APPEND[1..]] {
        let c = client(&loc, token);
        let err = c.get("config").unwrap_err();
        assert_eq!(err.kind, StorageErrorKind::Permanent, "{err}");
        let msg = err.to_string();
        assert!(msg.contains("refused the token"), "{msg}");
        assert!(token.is_empty() || !msg.contains(token), "{msg}");
        assert!(c.put("packs/x", Bytes::from_static(b"x")).is_err());
        assert!(c.delete("config").is_err());
    }
    assert_eq!(backend.len(), 1);
    assert!(backend.get("packs/x").is_err());
}

#[test]
fn unsafe_keys_are_bad_requests_before_the_backend_sees_them() {
    let backend = Arc::new(MemoryStorage::new());
    let loc = start(backend.clone());
    let c = client(&loc, FULL);
    for key in ["a/../config", "./config", "a//b", "back\\slash", "nul\0"] {
        let err = c.put(key, Bytes::from_static(b"x")).unwrap_err();
        assert_eq!(err.kind, StorageErrorKind::Permanent, "{key:?}: {err}");
        assert!(err.to_string().contains("HTTP 400"), "{key:?}: {err}");
        assert!(c.get(key).unwrap_err().to_string().contains("HTTP 400"));
        assert!(c.delete(key).unwrap_err().to_string().contains("HTTP 400"));
    }
    assert!(backend.is_empty());
}

/// A PUT without a token that announces a large body and sends only a few
/// bytes of it: refused with 401 at once, not after waiting for (and
/// buffering) the body.
#[test]
fn unauthorized_put_is_refused_before_its_body_is_read() {
    use std::io::{Read, Write};
    let backend = Arc::new(MemoryStorage::new());
    let loc = start(backend.clone());
    let addr = loc.trim_start_matches("rest:http://").trim_end_matches('/');
    for auth in ["", "Authorization: Bearer not-a-token-0123456789\r\n"] {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        // Generous: the answer comes at once; without the fix it never does.
        s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        let head = format!(
            "PUT /o/packs/00/x HTTP/1.1\r\nHost: {addr}\r\n{auth}\
             Content-Length: {}\r\n\r\nonly a few bytes",
            100 << 20
        );
        s.write_all(head.as_bytes()).unwrap();
        let mut reply = [0u8; 12];
        s.read_exact(&mut reply)
            .expect("no answer while the body was incomplete");
        assert_eq!(&reply, b"HTTP/1.1 401", "{auth:?}");
    }
    assert!(backend.is_empty());
}

/// Keys outside the repository layout: a planted retention policy, a new
/// config, a file where a fan-out directory goes. Refused with 403 for an
/// append token, whether plain or create-only; a `full` token may.
#[test]
fn append_token_creates_only_layout_keys() {
    let backend = Arc::new(MemoryStorage::new());
    let loc = start(backend.clone());
    let c = client(&loc, APPEND);
    let x = Bytes::from_static(b"x");
    for key in ["policy", "config", "packs/ab", "locks/1", "notes/x"] {
        for err in [
            c.put(key, x.clone()).unwrap_err(),
            c.put_if_absent(key, x.clone()).unwrap_err(),
        ] {
            assert_eq!(err.kind, StorageErrorKind::Permanent, "{key}: {err}");
            let msg = err.to_string();
            assert!(
                msg.contains(&format!("the proxy refused PUT {key}")),
                "{msg}"
            );
            assert!(
                msg.contains("not one of the repository's object names"),
                "{msg}"
            );
        }
    }
    assert!(backend.is_empty());
    client(&loc, FULL).put("policy", x).unwrap();
}

/// A range past the end is 416; a backend's permanent failure of a range
/// read stays a 500 and is not passed off as a bad range.
#[test]
fn range_errors_tell_past_the_end_from_backend_failures() {
    use cairn::storage::faulty::{FaultConfig, FaultyStorage};
    let memory = Arc::new(MemoryStorage::new());
    for key in ["ok/x", "bad/x"] {
        memory.put(key, Bytes::from_static(b"0123456789")).unwrap();
    }
    let config = FaultConfig {
        permanent_prefixes: vec!["bad/".into()],
        ..FaultConfig::seeded(1)
    };
    let loc = start(Arc::new(FaultyStorage::new(memory, config)));
    let c = client(&loc, FULL);
    assert_eq!(c.get_range("ok/x", 8, 2).unwrap(), b"89");
    let err = c.get_range("ok/x", 8, 3).unwrap_err();
    assert!(err.to_string().contains("HTTP 416"), "{err}");
    let err = c.get_range("bad/x", 0, 2).unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Permanent, "{err}");
    assert!(err.to_string().contains("HTTP 500"), "{err}");
}
