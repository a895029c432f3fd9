//! What an S3 repository location means: the URL forms, the options that
//! are not part of the URL, and where credentials come from.
//!
//! Location forms (the `s3:`/`r2:` prefix is the scheme):
//! - `s3:https://ENDPOINT/BUCKET[/PREFIX]` (and `http://` for loopback test
//!   servers): any S3-compatible store.
//! - `s3:BUCKET[/PREFIX]`: Amazon S3, region from the options or environment.
//! - `r2:ACCOUNT_ID/BUCKET[/PREFIX]`: Cloudflare R2, endpoint
//!   `https://ACCOUNT_ID.r2.cloudflarestorage.com`, region `auto`.
//!   `r2:` alone takes both from `R2_ACCOUNT_ID` and `R2_BUCKET`, and
//!   `r2:/PREFIX` does the same with a prefix.
//!
//! Credentials come from [`S3Options::credentials`] when set (the
//! configuration file's key files), else from the environment:
//! `R2_ACCESS_KEY_ID` / `R2_SECRET_ACCESS_KEY` for `r2:` locations when both
//! are set, otherwise `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` /
//! `AWS_SESSION_TOKEN`.

use std::fmt;
use std::time::Duration;

use zeroize::Zeroizing;

/// Default number of requests (and pack uploads) in flight at once.
pub const DEFAULT_CONNECTIONS: usize = 8;
/// Objects larger than this are uploaded in parts.
pub const DEFAULT_MULTIPART_THRESHOLD: usize = 32 * 1024 * 1024;
/// Size of each part of a multipart upload (S3's minimum is 5 MiB).
pub const DEFAULT_PART_SIZE: usize = 16 * 1024 * 1024;
/// S3's minimum part size (except the last part).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// Settings that are not part of the location string (flags and env).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Options {
    /// Address buckets as `ENDPOINT/BUCKET` instead of `BUCKET.ENDPOINT`.
    /// `None`: on for endpoints given as an IP address or `localhost`.
    pub path_style: Option<bool>,
    /// Overrides the region (`AWS_REGION`, `AWS_DEFAULT_REGION`, `auto` for R2,
    /// else `us-east-1`).
    pub region: Option<String>,
    /// Requests in flight at once, uploads included (at least 1): where the
    /// adaptive limit starts, or the fixed number.
    pub connections: usize,
    /// Let the number of requests in flight adapt to the store's round
    /// trips (limit.rs); off once the user sets `connections`.
    pub adaptive: bool,
    /// Total tries per request, the SDK's own retries included.
    pub attempts: u32,
    /// Longest one try of a request may take (a 32 MiB part at 1 Mbit/s
    /// needs about 4.5 minutes).
    pub attempt_timeout: Duration,
    pub multipart_threshold: usize,
    pub part_size: usize,
    /// Include the body's SHA-256 in each upload's signature. `None`: only
    /// over plain HTTP; TLS already protects the body in transit, and the
    /// hash costs a pass over every uploaded byte.
    pub sign_payload: Option<bool>,
    /// Explicit access keys (read from files named in the configuration);
    /// `None`: from the environment.
    pub credentials: Option<Secrets>,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            path_style: None,
            region: None,
            connections: DEFAULT_CONNECTIONS,
            adaptive: true,
            attempts: 5,
            attempt_timeout: Duration::from_secs(600),
            multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
            part_size: DEFAULT_PART_SIZE,
            sign_payload: None,
            credentials: None,
        }
    }
}

/// Which service a location names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Service {
    /// Amazon S3 with its default endpoints.
    Aws,
    /// Any S3-compatible server at this base URL (`http[s]://host[:port]`).
    Endpoint(String),
    /// Cloudflare R2 for this account id.
    R2 { account: String },
}

/// A parsed S3 location: where the bucket is and which key prefix inside it
/// holds the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub service: Service,
    pub bucket: String,
    /// Empty, or `/`-separated segments ending in `/`.
    pub prefix: String,
}

/// Reads an environment variable; a lookup so tests need not mutate the
/// process environment.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, ignoring empty values.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Is this location string one of ours?
pub fn is_s3_location(location: &str) -> bool {
    location.starts_with("s3:") || location.starts_with("r2:")
}

impl S3Location {
    /// Parses `s3:…` or `r2:…`; errors are messages for the user.
    pub fn parse(location: &str, env: Env) -> Result<S3Location, String> {
        if let Some(rest) = location.strip_prefix("s3:") {
            Self::parse_s3(rest)
        } else if let Some(rest) = location.strip_prefix("r2:") {
            Self::parse_r2(rest, env)
        } else {
            Err(format!("{location:?} is not an s3: or r2: location"))
        }
    }

    fn parse_s3(rest: &str) -> Result<S3Location, String> {
        for scheme in ["https://", "http://"] {
            if let Some(after) = rest.strip_prefix(scheme) {
                let (host, path) = after.split_once('/').unwrap_or((after, ""));
                if host.is_empty() || host.contains(['@', '?', '#']) {
                    return Err(format!("bad endpoint host {host:?} in s3:{rest}"));
                }
                let (bucket, prefix) = split_bucket(path)?;
                return Ok(S3Location {
                    service: Service::Endpoint(format!("{scheme}{host}")),
                    bucket,
                    prefix,
                });
            }
        }
        if rest.contains("://") {
            return Err(format!(
                "unsupported endpoint scheme in s3:{rest}: use http or https"
            ));
        }
        let (bucket, prefix) = split_bucket(rest)?;
        Ok(S3Location {
            service: Service::Aws,
            bucket,
            prefix,
        })
    }

    fn parse_r2(rest: &str, env: Env) -> Result<S3Location, String> {
        let (account, bucket, prefix) = if rest.is_empty() || rest.starts_with('/') {
            let account =
                env("R2_ACCOUNT_ID").ok_or("r2: without an account id needs R2_ACCOUNT_ID set")?;
            let bucket = env("R2_BUCKET").ok_or("r2: without a bucket needs R2_BUCKET set")?;
            (
                account,
                bucket,
                normalise_prefix(rest.trim_start_matches('/'))?,
            )
        } else {
            let (account, path) = rest.split_once('/').ok_or(
                "use r2:ACCOUNT_ID/BUCKET[/PREFIX], or r2: with R2_ACCOUNT_ID and R2_BUCKET set",
            )?;
            let (bucket, prefix) = split_bucket(path)?;
            (account.to_string(), bucket, prefix)
        };
        let label_ok = |c: char| c.is_ascii_alphanumeric() || c == '-';
        if account.is_empty() || !account.chars().all(label_ok) {
            return Err(format!("bad R2 account id {account:?}"));
        }
        check_bucket(&bucket)?;
        Ok(S3Location {
            service: Service::R2 { account },
            bucket,
            prefix,
        })
    }

    /// The endpoint URL, or `None` for Amazon's defaults.
    pub fn endpoint(&self) -> Option<String> {
        match &self.service {
            Service::Aws => None,
            Service::Endpoint(url) => Some(url.clone()),
            Service::R2 { account } => Some(format!("https://{account}.r2.cloudflarestorage.com")),
        }
    }

    /// The region to sign for: options first, then R2's `auto`, then the
    /// environment, then `us-east-1`.
    pub fn region(&self, opts: &S3Options, env: Env) -> String {
        if let Some(r) = opts.region.as_ref().filter(|r| !r.is_empty()) {
            return r.clone();
        }
        if matches!(self.service, Service::R2 { .. }) {
            return "auto".into();
        }
        env("AWS_REGION")
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".into())
    }

    /// Path-style addressing: as asked, else on for endpoints whose host is
    /// an IP address or `localhost` (virtual hosts cannot work there).
    /// Whether uploads carry a signed body hash (see [`S3Options::sign_payload`]).
    pub fn sign_payload(&self, opts: &S3Options) -> bool {
        if let Some(sign) = opts.sign_payload {
            return sign;
        }
        match &self.service {
            Service::Aws | Service::R2 { .. } => false,
            Service::Endpoint(url) => !url.to_ascii_lowercase().starts_with("https://"),
        }
    }

    pub fn path_style(&self, opts: &S3Options) -> bool {
        if let Some(p) = opts.path_style {
            return p;
        }
        let Service::Endpoint(url) = &self.service else {
            return false;
        };
        let host = url.split_once("://").map_or(url.as_str(), |(_, h)| h);
        let host = match host.rsplit_once(':') {
            Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => host,
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host == "localhost" || host.parse::<std::net::IpAddr>().is_ok()
    }
}

impl fmt::Display for S3Location {
    /// The location as the user would write it (no secrets are part of it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = self.prefix.trim_end_matches('/');
        let sep = if prefix.is_empty() { "" } else { "/" };
        match &self.service {
            Service::Aws => write!(f, "s3:{}{sep}{prefix}", self.bucket),
            Service::Endpoint(url) => write!(f, "s3:{url}/{}{sep}{prefix}", self.bucket),
            Service::R2 { account } => write!(f, "r2:{account}/{}{sep}{prefix}", self.bucket),
        }
    }
}

fn split_bucket(path: &str) -> Result<(String, String), String> {
    let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
    check_bucket(bucket)?;
    Ok((bucket.to_string(), normalise_prefix(prefix)?))
}

/// Loose bucket-name check: what any S3 flavour accepts in a URL path.
fn check_bucket(bucket: &str) -> Result<(), String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    if bucket.is_empty() {
        return Err("the location names no bucket".into());
    }
    if !bucket.chars().all(ok) {
        return Err(format!("bad bucket name {bucket:?}"));
    }
    Ok(())
}

/// `a/b` or `a/b/` -> `a/b/`; rejects empty, `.` and `..` segments so a
/// prefix names one place.
fn normalise_prefix(prefix: &str) -> Result<String, String> {
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    if trimmed
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(format!("bad key prefix {prefix:?}"));
    }
    Ok(format!("{trimmed}/"))
}

/// Access keys, kept out of `Debug` output and wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secrets {
    pub access_key_id: String,
    pub secret_access_key: Zeroizing<String>,
    pub session_token: Option<Zeroizing<String>>,
    /// Which variables they came from, for messages.
    pub source: &'static str,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets {{ from {}, redacted }}", self.source)
    }
}

impl Secrets {
    /// Credentials for `loc` from the environment: the R2 pair for `r2:`
    /// locations when both are set, otherwise the AWS variables.
    pub fn from_env(loc: &S3Location, env: Env) -> Result<Secrets, String> {
        if matches!(loc.service, Service::R2 { .. }) {
            if let (Some(id), Some(secret)) = (env("R2_ACCESS_KEY_ID"), env("R2_SECRET_ACCESS_KEY"))
            {
                return Ok(Secrets {
                    access_key_id: id,
                    secret_access_key: Zeroizing::new(secret),
                    session_token: None,
                    source: "R2_ACCESS_KEY_ID/R2_SECRET_ACCESS_KEY",
                });
            }
        }
        match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Ok(Secrets {
                access_key_id: id,
                secret_access_key: Zeroizing::new(secret),
                session_token: env("AWS_SESSION_TOKEN").map(Zeroizing::new),
                source: "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
            }),
            _ => Err(match loc.service {
                Service::R2 { .. } => "no credentials: set R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)".into(),
                _ => "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into(),
            }),
        }
    }

    /// Removes any secret that found its way into `text` (defence in depth:
    /// server messages are shown to the user).
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        let mut secrets = vec![self.secret_access_key.as_str()];
        if let Some(t) = &self.session_token {
            secrets.push(t.as_str());
        }
        for s in secrets.into_iter().filter(|s| s.len() >= 4) {
            out = out.replace(s, "[redacted]");
        }
        out
    }
}
