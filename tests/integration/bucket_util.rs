//! Buckets to back up and restore into, on the test S3 server: each
//! [`TestBucket`] is a fresh bucket of its own (not the repositories'
//! shared one), filled and read through the AWS SDK directly, so the
//! tests do not check cairn's S3 code with itself.
//!
//! These tests need the S3 server whatever the backend under test: the
//! bucket *is* the source. `scripts/test` starts SeaweedFS and exports
//! `CAIRN_TEST_S3` for both passes; without it they fail, saying so.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::process::Command;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;

/// The test S3 server's endpoint (`http://127.0.0.1:PORT`).
pub fn s3_server() -> String {
    std::env::var("CAIRN_TEST_S3").expect(
        "the bucket tests need an S3 server: run scripts/test, or \
         `source scripts/seaweedfs.sh; seaweedfs_start` first (it exports CAIRN_TEST_S3)",
    )
}

/// The server's access keys (`AWS_*`, as scripts/seaweedfs.sh exports them).
pub fn server_keys() -> (String, String) {
    let var = |n: &str| std::env::var(n).unwrap_or_else(|_| panic!("{n} is not set"));
    (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
}

/// An object as the tests write and read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Obj {
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub user: BTreeMap<String, String>,
    pub etag: String,
}

/// A fresh bucket on the test server, deleted with its objects on drop.
pub struct TestBucket {
    pub name: String,
    pub endpoint: String,
    /// The server's access key id and secret.
    pub keys: (String, String),
    client: Client,
    rt: tokio::runtime::Runtime,
}

impl TestBucket {
    /// A new, empty bucket with a random name on the test server.
    pub fn new(stem: &str) -> TestBucket {
        Self::new_on(stem, &s3_server(), server_keys())
    }

    /// A new, empty bucket on the server at `endpoint` with these keys.
    pub fn new_on(stem: &str, endpoint: &str, keys: (String, String)) -> TestBucket {
        let endpoint = endpoint.to_string();
        let (id, secret) = keys.clone();
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(id, secret, None, None, "test"))
            .http_client(http)
            .force_path_style(true)
            .endpoint_url(&endpoint)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let name = format!("{stem}-{:012x}", rand::random::<u64>() >> 16);
        let b = TestBucket {
            name,
            endpoint,
            keys,
            client: Client::from_conf(config),
            rt,
        };
        b.rt.block_on(b.client.create_bucket().bucket(&b.name).send())
            .unwrap_or_else(|e| panic!("create bucket {}: {e:?}", b.name));
        b
    }

    /// `s3:http://HOST:PORT/NAME[/PREFIX]`, as cairn takes it.
    pub fn location(&self, prefix: &str) -> String {
        let sep = if prefix.is_empty() { "" } else { "/" };
        format!("s3:{}/{}{sep}{prefix}", self.endpoint, self.name)
    }

    /// Gives `cmd` the bucket's server's keys as the source's and the
    /// target's (`CAIRN_SOURCE_*`, `CAIRN_TARGET_*`).
    pub fn with_keys<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        let (id, secret) = &self.keys;
        for role in ["SOURCE", "TARGET"] {
            cmd.env(format!("CAIRN_{role}_ACCESS_KEY_ID"), id)
                .env(format!("CAIRN_{role}_SECRET_ACCESS_KEY"), secret);
        }
        cmd
    }

    pub fn put(&self, key: &str, body: &[u8]) -> String {
        self.put_obj(
            key,
            &Obj {
                body: body.to_vec(),
                ..Default::default()
            },
        )
    }

    /// Stores an object with its metadata; returns its ETag.
    pub fn put_obj(&self, key: &str, o: &Obj) -> String {
        self.try_put_obj(key, o)
            .unwrap_or_else(|e| panic!("put {key:?}: {e}"))
    }

    /// [`TestBucket::put_obj`], or the server's refusal (SeaweedFS refuses
    /// keys with `.` or `..` segments, and a key that is both an object and
    /// a "directory").
    pub fn try_put_obj(&self, key: &str, o: &Obj) -> Result<String, String> {
        let mut req = self
            .client
            .put_object()
            .bucket(&self.name)
            .key(key)
            .set_content_type(o.content_type.clone())
            .set_cache_control(o.cache_control.clone())
            .body(ByteStream::from(o.body.clone()));
        for (k, v) in &o.user {
            req = req.metadata(k, v);
        }
        let out = self.rt.block_on(req.send()).map_err(|e| format!("{e:?}"))?;
        Ok(out.e_tag().unwrap_or_default().to_string())
    }

    /// Stores `parts` parts of `part_size` bytes each from `fill(part_number)`
    /// as one multipart object; returns its ETag.
    pub fn put_multipart(
        &self,
        key: &str,
        parts: usize,
        part_size: usize,
        fill: impl Fn(usize) -> Vec<u8>,
    ) -> String {
        self.rt.block_on(async {
            let up = self
                .client
                .create_multipart_upload()
                .bucket(&self.name)
                .key(key)
                .send()
                .await
                .unwrap();
            let id = up.upload_id().unwrap().to_string();
            let mut done = Vec::new();
            for n in 1..=parts {
                let body = fill(n);
                assert!(n == parts || body.len() == part_size);
                let out = self
                    .client
                    .upload_part()
                    .bucket(&self.name)
                    .key(key)
                    .upload_id(&id)
                    .part_number(n as i32)
                    .body(ByteStream::from(body))
                    .send()
                    .await
                    .unwrap();
                done.push(
                    CompletedPart::builder()
                        .part_number(n as i32)
                        .set_e_tag(out.e_tag().map(str::to_string))
                        .build(),
                );
            }
            let out = self
                .client
                .complete_multipart_upload()
                .bucket(&self.name)
                .key(key)
                .upload_id(&id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(done))
                        .build(),
                )
                .send()
                .await
                .unwrap();
            out.e_tag().unwrap_or_default().to_string()
        })
    }

    pub fn delete(&self, key: &str) {
        self.rt
            .block_on(
                self.client
                    .delete_object()
                    .bucket(&self.name)
                    .key(key)
                    .send(),
            )
            .unwrap_or_else(|e| panic!("delete {key:?}: {e:?}"));
    }

    /// The object with its metadata, `None` if there is none.
    pub fn get(&self, key: &str) -> Option<Obj> {
        self.rt.block_on(async {
            let out = match self
                .client
                .get_object()
                .bucket(&self.name)
                .key(key)
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
                    return None
                }
                Err(e) => panic!("get {key:?}: {e:?}"),
            };
            let user = out
                .metadata()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .collect();
            let (content_type, cache_control) = (
                out.content_type().map(str::to_string),
                out.cache_control().map(str::to_string),
            );
            let etag = out.e_tag().unwrap_or_default().to_string();
            let body = out.body.collect().await.unwrap().into_bytes().to_vec();
            Some(Obj {
                body,
                content_type,
                cache_control,
                user,
                etag,
            })
        })
    }

    /// Every key in the bucket, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.rt.block_on(async {
            let mut keys = Vec::new();
            let mut token = None;
            loop {
                let page = self
                    .client
                    .list_objects_v2()
                    .bucket(&self.name)
                    .set_continuation_token(token)
                    .send()
                    .await
                    .unwrap();
                keys.extend(
                    page.contents()
                        .iter()
                        .filter_map(|o| o.key().map(str::to_string)),
                );
                match page.next_continuation_token() {
                    Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                    _ => break,
                }
            }
            keys.sort();
            keys
        })
    }

    /// Stores many small objects at once (`connections` in flight).
    pub fn put_many(&self, objects: Vec<(String, Vec<u8>)>) {
        self.rt.block_on(async {
            let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(16));
            let mut tasks = Vec::new();
            for (key, body) in objects {
                let (client, bucket, sem) = (self.client.clone(), self.name.clone(), sem.clone());
                tasks.push(tokio::spawn(async move {
                    let _p = sem.acquire().await.unwrap();
                    client
                        .put_object()
                        .bucket(bucket)
                        .key(&key)
                        .body(ByteStream::from(body))
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("put {key:?}: {e:?}"));
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        })
    }
}

impl Drop for TestBucket {
    fn drop(&mut self) {
        for key in self.keys() {
            let _ = self.rt.block_on(
                self.client
                    .delete_object()
                    .bucket(&self.name)
                    .key(&key)
                    .send(),
            );
        }
        let _ = self
            .rt
            .block_on(self.client.delete_bucket().bucket(&self.name).send());
    }
}

/// A second SeaweedFS server with keys of its own (started by
/// scripts/seaweedfs.sh on free loopback ports), stopped on drop: the
/// source of a backup whose repository is on the first one.
pub struct SecondServer {
    pub endpoint: String,
    pub keys: (String, String),
    pid: i32,
    dir: String,
}

impl SecondServer {
    pub fn start() -> SecondServer {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/seaweedfs.sh");
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "export SEAWEEDFS_NO_TRAP=1; source {script}; seaweedfs_start >&2 || exit 1; \
                 echo \"$CAIRN_TEST_S3 $AWS_ACCESS_KEY_ID $AWS_SECRET_ACCESS_KEY $SEAWEEDFS_PID $SEAWEEDFS_DIR\""
            ))
            // SeaweedFS also admits the keys in its environment: the first
            // server's must not become the second one's.
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("run scripts/seaweedfs.sh");
        assert!(out.status.success(), "a second SeaweedFS did not start");
        let line = String::from_utf8(out.stdout).unwrap();
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 5, "{line}");
        SecondServer {
            endpoint: f[0].into(),
            keys: (f[1].into(), f[2].into()),
            pid: f[3].parse().unwrap(),
            dir: f[4].into(),
        }
    }
}

impl Drop for SecondServer {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the server this guard started.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `cairn --json backup LOCATION` (a bucket, with `b`'s keys as the
/// source's) into `env`'s repository; the summary.
pub fn backup_location(
    env: &crate::util::Env,
    b: &TestBucket,
    location: &str,
    extra: &[&str],
) -> serde_json::Value {
    let mut args = vec!["--json", "backup"];
    args.extend_from_slice(extra);
    args.push(location);
    let mut cmd = env.cmd(&args);
    let out = b.with_keys(&mut cmd).output().unwrap();
    assert!(
        out.status.success(),
        "backup of {location}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    crate::util::last_json(&out)
}
