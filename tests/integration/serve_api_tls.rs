//! HTTPS: with `tls_cert` and `tls_key` the service speaks TLS only (a
//! self-signed certificate made for 127.0.0.1 by the test); a client that
//! trusts the certificate gets answers, a plain-HTTP client none.

use std::process::Command;

use crate::serve_api_util::Serve;

#[test]
fn serve_api_listens_with_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl makes a test certificate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut s = Serve::new("");
    // [server] is the first table: the TLS keys go right below it.
    let text = std::fs::read_to_string(&s.config).unwrap().replacen(
        "[server]\n",
        &format!("[server]\ntls_cert = {cert:?}\ntls_key = {key:?}\n"),
        1,
    );
    std::fs::write(&s.config, text).unwrap();
    let read = s.token("reader", &["read"]);
    s.scheme = "https";
    s.tls_ca = Some(std::fs::read(&cert).unwrap());
    s.start();
    let (st, v) = s.get("/api/v1/plans", Some(&read));
    assert_eq!((st, v[0]["name"].as_str()), (200, Some("files")), "{v}");

    // The dashboard's session cookie is `Secure` over TLS.
    let ca = ureq::tls::Certificate::from_pem(s.tls_ca.as_ref().unwrap()).unwrap();
    let roots = ureq::tls::RootCerts::Specific(std::sync::Arc::new(vec![ca]));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into();
    let origin = format!("https://{}", s.addr);
    let r = agent
        .post(s.url("/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Origin", &origin)
        .send(format!("token={read}"))
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let set = r.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(set.contains("Secure") && set.contains("HttpOnly"), "{set}");

    s.scheme = "http";
    let plain = s.agent().get(s.url("/api/v1/health")).call();
    assert!(
        plain.is_err() || plain.unwrap().status() != 200,
        "plain HTTP is not served"
    );
}
