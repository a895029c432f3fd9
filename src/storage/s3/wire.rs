//! Counting the HTTP requests the SDK really sends (retries and multipart
//! parts included), classed the way object stores bill them, and telling
//! the adaptive request limit (limit.rs) when the store throttles.

use std::sync::Arc;

use aws_sdk_s3::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;

use super::limit::Limiter;
use crate::storage::stats::{RequestClass, WireCounter};

/// An SDK interceptor that records each attempt just before it is sent,
/// and each throttling answer (429, 503 "slow down") when it comes.
pub(super) struct CountRequests(pub WireCounter, pub Arc<Limiter>);

impl std::fmt::Debug for CountRequests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CountRequests").field(&self.0).finish()
    }
}

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "cairn::CountRequests"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        // `CAIRN_LOG=cairn::http=debug` lists every request sent, for
        // counting round trips per command (URIs carry no credentials).
        tracing::debug!(target: "cairn::http", "{} {}", request.method(), request.uri());
        self.0.record(class_of(request.method(), request.uri()));
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if matches!(context.response().status().as_u16(), 429 | 503) {
            self.1.throttled();
        }
        Ok(())
    }
}

/// Class A: anything that writes or lists; class B: reads; deletes are free.
pub(super) fn class_of(method: &str, uri: &str) -> RequestClass {
    let query = uri.split_once('?').map_or("", |(_, q)| q);
    let lists = query
        .split('&')
        .any(|p| p.starts_with("list-type") || p == "uploads" || p.starts_with("uploads="));
    match method {
        "DELETE" => RequestClass::Free,
        "GET" if lists => RequestClass::A,
        "GET" | "HEAD" => RequestClass::B,
        _ => RequestClass::A,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_the_billing_of_object_stores() {
        assert_eq!(class_of("PUT", "http://h/b/k"), RequestClass::A);
        assert_eq!(class_of("POST", "http://h/b/k?uploadId=1"), RequestClass::A);
        assert_eq!(
            class_of("GET", "http://h/b?list-type=2&prefix=p"),
            RequestClass::A
        );
        assert_eq!(class_of("GET", "http://h/b/k"), RequestClass::B);
        assert_eq!(class_of("HEAD", "http://h/b"), RequestClass::B);
        assert_eq!(class_of("DELETE", "http://h/b/k"), RequestClass::Free);
    }
}
