//! Keeping what ingest refused, for forensics: one S3 object per refused request with a
//! non-empty body, the body exactly as received, under the key
//! [`event_contract::refused::key`] gives (`refused/year=YYYY/month=MM/day=DD/hour=HH/<request
//! id>`), with the request's content type and a few facts as user metadata.

use std::collections::HashMap;
use std::error::Error;
use std::future::Future;

use aws_sdk_s3::primitives::ByteStream;
use event_contract::refused::{
    META_EVENT_COUNT, META_MALFORMED_COUNT, META_REASON, META_REQUEST_ID, META_STATUS,
};

/// The content type of a body sent without one.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// A refused request's body and what the object's metadata says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefusedObject<'a> {
    /// The object key, from [`event_contract::refused::key`].
    pub key: &'a str,
    /// The body exactly as received (a byte-order mark included).
    pub body: &'a [u8],
    /// The request's `Content-Type`, or [`DEFAULT_CONTENT_TYPE`].
    pub content_type: &'a str,
    /// API Gateway's request id.
    pub request_id: &'a str,
    /// The HTTP status ingest answered.
    pub status: u16,
    /// Why, in a few words.
    pub reason: &'a str,
    /// How many events the body was split into (0 when it was refused before).
    pub events: usize,
    /// How many events were counted as malformed.
    pub malformed: u64,
}

impl RefusedObject<'_> {
    /// The object's user metadata (`x-amz-meta-<name>`), in printable ASCII as HTTP headers
    /// need: anything else in a value becomes `?`.
    pub fn metadata(&self) -> HashMap<String, String> {
        [
            (META_REQUEST_ID, header_safe(self.request_id)),
            (META_STATUS, self.status.to_string()),
            (META_REASON, header_safe(self.reason)),
            (META_EVENT_COUNT, self.events.to_string()),
            (META_MALFORMED_COUNT, self.malformed.to_string()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }
}

fn header_safe(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// A boxed error from a store.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// A refused body that could not be kept.
#[derive(Debug, thiserror::Error)]
#[error("keeping the refused body failed")]
pub struct RefusedStoreError {
    #[source]
    source: BoxError,
}

impl RefusedStoreError {
    /// The failure, with its cause.
    pub fn new(source: impl Into<BoxError>) -> Self {
        RefusedStoreError {
            source: source.into(),
        }
    }
}

/// Where refused bodies go: the archive bucket, or a fake in tests.
pub trait RefusedStore: Send + Sync {
    /// Stores one refused body as one object.
    fn put(
        &self,
        object: &RefusedObject<'_>,
    ) -> impl Future<Output = Result<(), RefusedStoreError>> + Send;
}

/// The archive bucket, through the AWS SDK: `PutObject` only.
#[derive(Debug, Clone)]
pub struct S3RefusedStore {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3RefusedStore {
    /// A store putting objects in `bucket`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        S3RefusedStore {
            client,
            bucket: bucket.into(),
        }
    }
}

impl RefusedStore for S3RefusedStore {
    async fn put(&self, object: &RefusedObject<'_>) -> Result<(), RefusedStoreError> {
        // The SDK retries throttling and server faults inside the call (its standard retry
        // mode); the caller bounds the whole call in time.
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(object.key)
            .content_type(object.content_type)
            .set_metadata(Some(object.metadata()))
            .body(ByteStream::from(object.body.to_vec()))
            .send()
            .await
            .map_err(RefusedStoreError::new)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_names_the_request_and_stays_printable_ascii() {
        let object = RefusedObject {
            key: "refused/year=2024/month=11/day=06/hour=12/req",
            body: b"{}",
            content_type: "application/json",
            request_id: "req-é\n1",
            status: 400,
            reason: "invalid events",
            events: 3,
            malformed: 2,
        };
        let metadata = object.metadata();
        assert_eq!(
            metadata,
            HashMap::from(
                [
                    ("request-id", "req-??1"),
                    ("status", "400"),
                    ("reason", "invalid events"),
                    ("event-count", "3"),
                    ("malformed-count", "2"),
                ]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
            )
        );
    }
}
