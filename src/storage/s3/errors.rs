//! SDK errors to storage error kinds. The kind decides what the rest of
//! cairn does (retry, "not found", give up), so the mapping is precise:
//! the SDK has already retried what it considers retryable, and what it
//! hands back is classified once more here, by HTTP status and S3 code.

use aws_sdk_s3::config::http::HttpResponse as Response;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use super::config::Secrets;
use crate::storage::{StorageError, StorageErrorKind};

/// What the mapping needs to know to explain an error.
pub(super) struct ErrorContext<'a> {
    pub bucket: &'a str,
    pub secrets: &'a Secrets,
}

/// A failed service response, reduced to what classification needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ServiceFailure {
    pub status: u16,
    pub code: Option<String>,
    pub message: Option<String>,
}

/// Classifies a service error response, with a hint for the user.
pub(super) fn classify(
    f: &ServiceFailure,
    bucket: &str,
    cred_source: &str,
) -> (StorageErrorKind, Option<String>) {
    use StorageErrorKind::*;
    let code = f.code.as_deref().unwrap_or("");
    match (f.status, code) {
        (_, "NoSuchBucket") => (
            Permanent,
            Some(format!("bucket {bucket:?} does not exist (`cairn init` creates it)")),
        ),
        (_, "NoSuchKey" | "NotFound") | (404, "") => (NotFound, None),
        (_, "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "InvalidToken" | "ExpiredToken" | "TokenRefreshRequired") | (401, _) => (
            Permanent,
            Some(format!("the credentials were rejected: check {cred_source}")),
        ),
        (403, _) | (_, "AccessDenied") => (
            Permanent,
            Some(format!("access denied to bucket {bucket:?}: check the credentials ({cred_source}) and their permissions")),
        ),
        (416, _) | (_, "InvalidRange") => (Permanent, Some("range past the end of the object".into())),
        (_, "SlowDown" | "Throttling" | "ThrottlingException" | "RequestLimitExceeded" | "RequestTimeout" | "InternalError" | "ServiceUnavailable" | "OperationAborted") => (Transient, None),
        (408 | 429, _) | (500..=599, _) => (Transient, None),
        // A conditional write racing another one: try again.
        (409, "ConditionalRequestConflict") => (Transient, None),
        (_, "RequestTimeTooSkewed") => (Permanent, Some("this machine's clock is off: fix the time".into())),
        _ => (Permanent, None),
    }
}

/// Maps any SDK error to a storage error. Secrets are scrubbed from the text.
pub(super) fn map_sdk<E>(
    err: SdkError<E, Response>,
    op: &'static str,
    key: &str,
    cx: &ErrorContext,
) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (kind, text) = match &err {
        SdkError::ServiceError(se) => {
            let failure = ServiceFailure {
                status: se.raw().status().as_u16(),
                code: se.err().code().map(str::to_string),
                message: se.err().message().map(str::to_string),
            };
            service_text(&failure, cx)
        }
        SdkError::TimeoutError(_) => (StorageErrorKind::Transient, chain(&err)),
        SdkError::DispatchFailure(d) => {
            let kind = if d.is_user() {
                StorageErrorKind::Permanent
            } else {
                StorageErrorKind::Transient
            };
            (kind, chain(&err))
        }
        // A response that could not be read whole: the connection dropped.
        SdkError::ResponseError(_) => (StorageErrorKind::Transient, chain(&err)),
        SdkError::ConstructionFailure(_) => (StorageErrorKind::Permanent, chain(&err)),
        _ => (StorageErrorKind::Permanent, chain(&err)),
    };
    StorageError::new(kind, op, key, cx.secrets.scrub(&text))
}

/// An error and its causes, `outer: inner: root`, without debug dumps.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !text.ends_with(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = e.source();
    }
    text
}

/// Kind and message for a service error response.
pub(super) fn service_text(f: &ServiceFailure, cx: &ErrorContext) -> (StorageErrorKind, String) {
    let (kind, hint) = classify(f, cx.bucket, cx.secrets.source);
    let mut text = format!("HTTP {}", f.status);
    if let Some(code) = &f.code {
        text.push_str(&format!(" {code}"));
    }
    if let Some(message) = f.message.as_ref().filter(|m| !m.is_empty()) {
        text.push_str(&format!(": {message}"));
    }
    if let Some(hint) = hint {
        text.push_str(&format!(" ({hint})"));
    }
    (kind, cx.secrets.scrub(&text))
}

/// The HTTP status of a service error, if the error is one.
pub(super) fn status_of<E>(err: &SdkError<E, Response>) -> Option<u16> {
    match err {
        SdkError::ServiceError(se) => Some(se.raw().status().as_u16()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use StorageErrorKind::*;

    fn kind(status: u16, code: &str) -> StorageErrorKind {
        let f = ServiceFailure {
            status,
            code: (!code.is_empty()).then(|| code.to_string()),
            message: None,
        };
        classify(&f, "b", "AWS_*").0
    }

    #[test]
    fn classifies_by_status_and_code() {
        assert_eq!(kind(404, "NoSuchKey"), NotFound);
        assert_eq!(kind(404, ""), NotFound);
        assert_eq!(kind(404, "NoSuchBucket"), Permanent);
        assert_eq!(kind(403, "AccessDenied"), Permanent);
        assert_eq!(kind(403, "InvalidAccessKeyId"), Permanent);
        assert_eq!(kind(403, "SignatureDoesNotMatch"), Permanent);
        assert_eq!(kind(416, "InvalidRange"), Permanent);
        assert_eq!(kind(400, "InvalidArgument"), Permanent);
        assert_eq!(kind(500, "InternalError"), Transient);
        assert_eq!(kind(503, "SlowDown"), Transient);
        assert_eq!(kind(502, ""), Transient);
        assert_eq!(kind(429, ""), Transient);
        assert_eq!(kind(408, ""), Transient);
        assert_eq!(kind(400, "RequestTimeout"), Transient);
        assert_eq!(kind(409, "ConditionalRequestConflict"), Transient);
        assert_eq!(kind(409, "BucketAlreadyExists"), Permanent);
    }

    #[test]
    fn messages_say_what_to_do_and_never_the_secret() {
        let secrets = Secrets {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: zeroize::Zeroizing::new("wJalrXUtnFEMI-very-secret".into()),
            session_token: None,
            source: "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        };
        let cx = ErrorContext {
            bucket: "bkt",
            secrets: &secrets,
        };
        let f = ServiceFailure {
            status: 403,
            code: Some("SignatureDoesNotMatch".into()),
            message: Some("echo wJalrXUtnFEMI-very-secret".into()),
        };
        let (k, text) = service_text(&f, &cx);
        assert_eq!(k, Permanent);
        assert!(text.contains("check AWS_ACCESS_KEY_ID"), "{text}");
        assert!(!text.contains("very-secret"), "{text}");
        let missing = ServiceFailure {
            status: 404,
            code: Some("NoSuchBucket".into()),
            message: None,
        };
        assert!(service_text(&missing, &cx)
            .1
            .contains("bucket \"bkt\" does not exist"));
    }
}
