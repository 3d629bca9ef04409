//! The IOps Dashboard event contract shared by the functions, the stack, the tests and the CLI.
//!
//! This crate is the one place that names what crosses the boundary between the
//! infrastructure and the code: the environment variables the stack sets and the functions
//! read, the custom metrics the functions emit and the alarms watch, where refused request
//! bodies are kept ([`refused`]), and the key attributes of the metrics table. It also holds the event contract itself: the six event
//! types ([`EventType`]), the validator ([`validate()`]) that gives every event a [`Verdict`],
//! and the JSON Schema of the contract (`schema/event.schema.json`, [`JSON_SCHEMA`]), which a
//! test keeps in agreement with the validator.
//!
//! The byte-level JSON minifier ingest puts every event on the stream through, so the archive
//! is JSON Lines whatever the client sent, is [`minify()`].
//!
//! With the `lambda` feature it also holds what both functions share at run time: the
//! metrics-table item ([`item`]), the DynamoDB batch writer ([`store`]), the retry policy
//! ([`backoff`]), the malformed-events alert and its SNS publisher ([`alert`]) and the custom
//! metrics in Embedded Metric Format ([`emf`]).

pub mod event;
pub mod event_type;
pub mod minify;
pub mod ndjson;
pub mod validate;
pub mod verdict;

#[cfg(feature = "lambda")]
pub mod alert;
#[cfg(feature = "test-util")]
pub mod aws_calls;
#[cfg(feature = "lambda")]
pub mod backoff;
#[cfg(feature = "lambda")]
pub mod emf;
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
    /// execution environment; refusals in between are counted into the next alert. Optional:
    /// [`DEFAULT_ALERT_INTERVAL_SECONDS`] when unset.
    pub const ALERT_INTERVAL_SECONDS: &str = "ALERT_INTERVAL_SECONDS";
    /// [`ALERT_INTERVAL_SECONDS`] when the variable is unset: one alert a minute at most from
    /// each ingest execution environment.
    pub const DEFAULT_ALERT_INTERVAL_SECONDS: u64 = 60;
}

pub mod refused {
    //! Where ingest keeps what it refused: one object per refused request with a non-empty
    //! body, the body exactly as received, in the bucket [`super::env::REFUSED_BUCKET_NAME`]
    //! names.
    //!
    //! The key is [`key`]: `refused/year=YYYY/month=MM/day=DD/hour=HH/<API Gateway request id>`,
    //! the UTC hour the request was received. The object's content type is the request's (or
    //! `application/octet-stream`), and its user metadata (`x-amz-meta-*`) has the keys
    //! [`META_REQUEST_ID`], [`META_STATUS`], [`META_REASON`], [`META_EVENT_COUNT`] and
    //! [`META_MALFORMED_COUNT`].

    use chrono::{DateTime, Datelike, Timelike, Utc};

    /// The key prefix in the archive bucket, with a lifecycle rule of its own.
    pub const PREFIX: &str = "refused/";
    /// Metadata key: the API Gateway request id.
    pub const META_REQUEST_ID: &str = "request-id";
    /// Metadata key: the HTTP status ingest answered (`400`, `405`, `413`, `415`).
    pub const META_STATUS: &str = "status";
    /// Metadata key: why, in a few words (`invalid events`, `body too large`, …).
    pub const META_REASON: &str = "reason";
    /// Metadata key: how many events the body was split into (`0` when it was refused before).
    pub const META_EVENT_COUNT: &str = "event-count";
    /// Metadata key: how many events were counted as malformed (`1` for a request refused as a
    /// whole).
    pub const META_MALFORMED_COUNT: &str = "malformed-count";

    /// The key of a refused request's body: [`PREFIX`], the UTC hour of `received` as Hive
    /// partitions, and the request id. Characters of the id outside `A-Z a-z 0-9 - _ .` become
    /// `_`, so the id can neither add a level nor escape the prefix.
    pub fn key(received: DateTime<Utc>, request_id: &str) -> String {
        let id: String = request_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let id = if id.is_empty() || id.chars().all(|c| c == '.') {
            format!("_{id}")
        } else {
            id
        };
        format!(
            "{PREFIX}year={:04}/month={:02}/day={:02}/hour={:02}/{id}",
            received.year(),
            received.month(),
            received.day(),
            received.hour()
        )
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn at(text: &str) -> DateTime<Utc> {
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default()
        }

        #[test]
        fn the_key_is_the_utc_hour_of_receipt_and_the_request_id() {
            assert_eq!(
                key(
                    at("2024-11-06T12:59:59+00:00"),
                    "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
                ),
                "refused/year=2024/month=11/day=06/hour=12/c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
            );
            // 01:30 in UTC+3 is the previous day in UTC.
            assert_eq!(
                key(at("2024-01-01T01:30:00+03:00"), "id"),
                "refused/year=2023/month=12/day=31/hour=22/id"
            );
        }

        #[test]
        fn an_odd_request_id_stays_one_segment_under_the_prefix() {
            let at = at("2024-11-06T12:00:00Z");
            assert_eq!(
                key(at, "../a/b é"),
                "refused/year=2024/month=11/day=06/hour=12/.._a_b__"
            );
            assert!(key(at, "").ends_with("/hour=12/_"));
            assert!(key(at, "..").ends_with("/hour=12/_.."));
        }
    }
}

pub mod metrics {
    //! The custom CloudWatch metrics the functions emit (Embedded Metric Format) and the
    //! malformed-rate alarm reads: the stream processor for each batch, ingest for the requests it
    //! refuses and, on the direct path, for the events it stores. Each event is counted once, by
    //! the component that decided its fate, so the rate means the same whichever refused it.
    //!
    //! Every emission carries the totals without dimensions (the alarm's series) and again with
    //! the dimension [`COMPONENT_DIMENSION`] ([`COMPONENT_INGEST`] or
    //! [`COMPONENT_STREAM_PROCESSOR`]), and one series per severity with the dimension
    //! [`SEVERITY_DIMENSION`] set to [`SEVERITY_WARNING`], [`SEVERITY_ERROR`] or
    //! [`SEVERITY_CRITICAL`]: `ProcessedEvents` for all three, `MalformedEvents` for error and
    //! critical.

    /// The namespace of every custom metric.
    pub const NAMESPACE: &str = "IOpsDashboard/Events";
    /// Every event seen, valid or not (the rate's denominator).
    pub const PROCESSED_EVENTS: &str = "ProcessedEvents";
    /// Events that failed validation (`error` or `critical`), and requests ingest refused
    /// before they could be split into events, one each (the rate's numerator).
    pub const MALFORMED_EVENTS: &str = "MalformedEvents";
    /// The dimension of the per-severity series; the totals carry no dimension.
    pub const SEVERITY_DIMENSION: &str = "Severity";
    /// The dimension of the per-component series: which function counted the events.
    pub const COMPONENT_DIMENSION: &str = "Component";
    /// [`COMPONENT_DIMENSION`] value: the ingest function.
    pub const COMPONENT_INGEST: &str = "ingest";
    /// [`COMPONENT_DIMENSION`] value: the stream processor.
    pub const COMPONENT_STREAM_PROCESSOR: &str = "stream-processor";
    /// The unit of every custom metric.
    pub const UNIT: &str = "Count";
    /// [`SEVERITY_DIMENSION`] value: valid but suspicious events (stored).
    pub const SEVERITY_WARNING: &str = "warning";
    /// [`SEVERITY_DIMENSION`] value: events that break a rule of the contract.
    pub const SEVERITY_ERROR: &str = "error";
    /// [`SEVERITY_DIMENSION`] value: records that are not a JSON object or too large.
    pub const SEVERITY_CRITICAL: &str = "critical";

    /// Which function counted the events, or refused them: the value of
    /// [`COMPONENT_DIMENSION`], and the `component` of an alert.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Component {
        /// [`COMPONENT_INGEST`].
        Ingest,
        /// [`COMPONENT_STREAM_PROCESSOR`].
        StreamProcessor,
    }

    impl Component {
        /// The dimension value.
        pub const fn as_str(self) -> &'static str {
            match self {
                Component::Ingest => COMPONENT_INGEST,
                Component::StreamProcessor => COMPONENT_STREAM_PROCESSOR,
            }
        }
    }
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
