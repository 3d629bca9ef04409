//! The IOps Dashboard event contract shared by the functions, the stack, the tests and the CLI.
//!
//! This crate is the one place that names what crosses the boundary between the
//! infrastructure and the code: the environment variables the stack sets and the functions
//! read, the custom metrics the stream processor emits and the alarms watch, and the key
//! attributes of the metrics table. It also holds the event contract itself: the six event
//! types ([`EventType`]), the validator ([`validate`]) that gives every event a [`Verdict`],
//! and the JSON Schema of the contract (`schema/event.schema.json`, [`JSON_SCHEMA`]), which a
//! test keeps in agreement with the validator.
//!
//! The byte-level JSON minifier ingest puts every event on the stream through, so the archive
//! is JSON Lines whatever the client sent, is [`minify`].
//!
//! With the `lambda` feature it also holds what both functions share at run time: the
//! metrics-table item ([`item`]), the DynamoDB batch writer ([`store`]) and the retry policy
//! ([`backoff`]).

pub mod event;
pub mod event_type;
pub mod minify;
pub mod ndjson;
pub mod validate;
pub mod verdict;

#[cfg(feature = "lambda")]
pub mod backoff;
#[cfg(feature = "lambda")]
pub mod item;
#[cfg(feature = "lambda")]
pub mod sdk;
#[cfg(feature = "lambda")]
pub mod store;

pub use event::Event;
pub use event_type::EventType;
pub use minify::minify;
pub use validate::{Checked, validate, validate_at};
pub use verdict::{Problem, Severity, Verdict};

/// The JSON Schema (draft 2020-12) of an event: the field rules of the contract. The rules a
/// schema cannot state (sizes, nesting depth, the timestamp window) are the validator's alone.
pub const JSON_SCHEMA: &str = include_str!("../schema/event.schema.json");

/// Environment variables the stack sets on the functions.
pub mod env {
    /// The Kinesis stream the ingest function writes to.
    pub const KINESIS_STREAM_NAME: &str = "KINESIS_STREAM_NAME";
    /// `true`: ingest writes to Kinesis; `false`: the old direct-DynamoDB path.
    pub const USE_KINESIS: &str = "USE_KINESIS";
    /// The metrics table (the processor's destination, and ingest's fallback path).
    pub const DYNAMODB_TABLE_NAME: &str = "DYNAMODB_TABLE_NAME";
    /// The SNS topic both functions report malformed events to: the processor those on the
    /// stream, ingest those it refuses.
    pub const MALFORMED_TOPIC_ARN: &str = "MALFORMED_TOPIC_ARN";
    /// The bucket ingest keeps the bodies of refused requests in, under [`super::refused::PREFIX`].
    pub const REFUSED_BUCKET_NAME: &str = "REFUSED_BUCKET_NAME";
    /// The shortest time, in whole seconds, between two malformed-event alerts from one ingest
    /// execution environment; refusals in between are counted into the next alert.
    pub const ALERT_INTERVAL_SECONDS: &str = "ALERT_INTERVAL_SECONDS";
}

/// Where ingest keeps what it refused: one object per refused request, its body as sent.
pub mod refused {
    /// The key prefix in the archive bucket, with a lifecycle rule of its own.
    pub const PREFIX: &str = "refused/";
}

/// The custom CloudWatch metrics the stream processor emits (Embedded Metric Format) and the
/// malformed-rate alarm reads.
///
/// Every batch emits the totals without dimensions (the alarm's series), and one series per
/// severity with the dimension [`SEVERITY_DIMENSION`] set to [`SEVERITY_WARNING`],
/// [`SEVERITY_ERROR`] or [`SEVERITY_CRITICAL`]: `ProcessedEvents` for all three,
/// `MalformedEvents` for error and critical.
pub mod metrics {
    /// The namespace of every custom metric.
    pub const NAMESPACE: &str = "IOpsDashboard/StreamProcessor";
    /// Every record the processor decoded, valid or not (the rate's denominator).
    pub const PROCESSED_EVENTS: &str = "ProcessedEvents";
    /// Records that failed validation (`error` or `critical`).
    pub const MALFORMED_EVENTS: &str = "MalformedEvents";
    /// The dimension of the per-severity series; the totals carry no dimension.
    pub const SEVERITY_DIMENSION: &str = "Severity";
    /// The unit of every custom metric.
    pub const UNIT: &str = "Count";
    /// [`SEVERITY_DIMENSION`] value: valid but suspicious events (stored).
    pub const SEVERITY_WARNING: &str = "warning";
    /// [`SEVERITY_DIMENSION`] value: events that break a rule of the contract.
    pub const SEVERITY_ERROR: &str = "error";
    /// [`SEVERITY_DIMENSION`] value: records that are not a JSON object or too large.
    pub const SEVERITY_CRITICAL: &str = "critical";
}

/// The key schema of the metrics table, and the attributes the functions add to each event.
pub mod table {
    /// Partition key (string): the event's idempotency key (`event_id`, or the Kinesis shard
    /// and sequence number), so a replayed record overwrites itself.
    pub const PARTITION_KEY: &str = "pk";
    /// When the pipeline received the event (RFC 3339, UTC, whole seconds): the Kinesis
    /// arrival time, or the time ingest handled the request on the direct path.
    pub const RECEIVED_AT: &str = "received_at";
    /// Which path stored the event: [`INGEST_PATH_KINESIS`] or [`INGEST_PATH_DIRECT`].
    pub const INGEST_PATH: &str = "ingest_path";
    /// [`INGEST_PATH`] value of events the stream processor stored.
    pub const INGEST_PATH_KINESIS: &str = "kinesis";
    /// [`INGEST_PATH`] value of events ingest stored directly (`USE_KINESIS=false`).
    pub const INGEST_PATH_DIRECT: &str = "direct";
    /// Attribute names the functions set on every item; an event field of the same name is
    /// replaced by the function's value.
    pub const RESERVED_ATTRIBUTES: [&str; 3] = [PARTITION_KEY, RECEIVED_AT, INGEST_PATH];
}
