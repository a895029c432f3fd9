//! S3 Object Lock requests: is it enabled on the bucket, and get or set one
//! object's retention date. cairn sets retention per object
//! (PutObjectRetention) and never a bucket default, so mutable objects
//! (locks, backup markers, probes) stay deletable.

use aws_sdk_s3::primitives::DateTime;
use aws_sdk_s3::types::{ObjectLockEnabled, ObjectLockRetention, ObjectLockRetentionMode};

use super::client::Bucket;
use super::errors::map_sdk;
use crate::storage::{RetentionMode, StorageResult};

/// Error codes that mean "no Object Lock here", not a failure.
const NOT_CONFIGURED: [&str; 3] = [
    "ObjectLockConfigurationNotFoundError",
    "NoSuchObjectLockConfiguration",
    "InvalidRequest",
];

impl Bucket {
    /// Is Object Lock enabled on the bucket (GetObjectLockConfiguration)?
    pub async fn lock_supported(&self) -> StorageResult<bool> {
        let _p = self.permit().await;
        let out = self
            .client
            .get_object_lock_configuration()
            .bucket(&self.loc.bucket)
            .send()
            .await;
        match out {
            Ok(o) => Ok(o
                .object_lock_configuration()
                .and_then(|c| c.object_lock_enabled())
                == Some(&ObjectLockEnabled::Enabled)),
            Err(e)
                if e.as_service_error()
                    .and_then(|s| s.meta().code())
                    .is_some_and(|c| NOT_CONFIGURED.contains(&c)) =>
            {
                Ok(false)
            }
            Err(e) => Err(map_sdk(e, "get_object_lock_configuration", "", &self.cx())),
        }
    }

    /// Sets the retention of the current version of `key`.
    pub async fn set_retention(
        &self,
        key: &str,
        until: i64,
        mode: RetentionMode,
    ) -> StorageResult<()> {
        let mode = match mode {
            RetentionMode::Compliance => ObjectLockRetentionMode::Compliance,
            RetentionMode::Governance => ObjectLockRetentionMode::Governance,
        };
        let retention = ObjectLockRetention::builder()
            .mode(mode)
            .retain_until_date(DateTime::from_secs(until))
            .build();
        let _p = self.permit().await;
        self.client
            .put_object_retention()
            .bucket(&self.loc.bucket)
            .key(self.key(key))
            .retention(retention)
            .send()
            .await
            .map_err(|e| map_sdk(e, "set_retention", key, &self.cx()))?;
        Ok(())
    }

    /// The retention date of the current version of `key`, if any.
    pub async fn retention(&self, key: &str) -> StorageResult<Option<i64>> {
        let _p = self.permit().await;
        let out = self
            .client
            .get_object_retention()
            .bucket(&self.loc.bucket)
            .key(self.key(key))
            .send()
            .await;
        match out {
            Ok(o) => Ok(o
                .retention()
                .and_then(|r| r.retain_until_date())
                .map(|d| d.secs())),
            Err(e)
                if e.as_service_error()
                    .and_then(|s| s.meta().code())
                    .is_some_and(|c| {
                        NOT_CONFIGURED.contains(&c) || c == "NoSuchObjectLockConfiguration"
                    }) =>
            {
                Ok(None)
            }
            Err(e) => Err(map_sdk(e, "retention", key, &self.cx())),
        }
    }
}
