//! The malformed-events alert both functions send: one SNS message per batch the stream
//! processor read, or per request ingest refused, summarising every malformed event, kept under
//! SNS's message size limit however many there are.
//!
//! The message is JSON:
//!
//! ```json
//! {
//!   "summary": "ingest refused request c6af9ac6-…: 400 invalid events, 1 of 2 events malformed; nothing was stored",
//!   "component": "ingest",
//!   "request_id": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
//!   "status": 400,
//!   "reason": "invalid events",
//!   "events_in_request": 2,
//!   "s3_key": "refused/year=2024/month=11/day=06/hour=12/c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
//!   "malformed": 1,
//!   "by_severity": {"error": 1, "critical": 0},
//!   "worst_severity": "error",
//!   "listed": 1,
//!   "not_listed": 0,
//!   "events": [{"request_id": "c6af9ac6-…", "index": 1, "event_type": "invalid_type",
//!               "valid": false, "severity": "error", "errors": [{"path": "/event_type", "message": "…"}],
//!               "sample": "{\"event_type\": \"invalid_type\", …"}],
//!   "suppressed": {"requests": 3, "events": 7, "since": "2024-11-06T12:00:05Z"}
//! }
//! ```
//!
//! From the stream processor, `component` is `stream-processor`, `records_in_batch` replaces the
//! request's fields, and each event is located by `shard_id` and `sequence_number` instead of
//! `request_id` and `index` ([`Location`]). `suppressed` appears only in ingest's alerts, and
//! only when refusals were held back since its last alert (see ingest's alert limiter).

use std::error::Error;
use std::future::Future;

use aws_sdk_sns::types::MessageAttributeValue;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};
use tokio::time::Instant;
use tracing::warn;

use crate::backoff::Backoff;
use crate::metrics::Component;
use crate::sdk::{Chain, is_retryable};
use crate::{Severity, Verdict};

/// SNS's limit on a message, attributes included, in bytes.
pub const MAX_SNS_MESSAGE_BYTES: usize = 256 * 1024;
/// The most bytes the message body may take: the limit less room for the subject and the
/// `severity` attribute.
pub const MESSAGE_BUDGET_BYTES: usize = MAX_SNS_MESSAGE_BYTES - 2 * 1024;
/// How much of a malformed record the alert shows, in bytes.
pub const SAMPLE_BYTES: usize = 256;
/// The message attribute carrying the worst severity, for subscription filter policies.
pub const SEVERITY_ATTRIBUTE: &str = "severity";
/// SNS's limit on a subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 100;

/// Where a malformed event was found; its fields are flattened into the alert's entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Location {
    /// A Kinesis record the stream processor read.
    Stream {
        /// The shard the record came from.
        shard_id: String,
        /// The record's sequence number, to find it in the stream or the archive.
        sequence_number: String,
    },
    /// An event of a request ingest refused.
    Request {
        /// API Gateway's request id, also the last part of the refused body's S3 key.
        request_id: String,
        /// The event's position in the request's array (0 for a single event); `null` when
        /// the request was refused as a whole, before it could be split into events.
        index: Option<usize>,
    },
}

/// An event that failed validation, as the alert describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Malformed {
    /// Where it was found.
    #[serde(flatten)]
    pub location: Location,
    /// `event_type` as sent, when the record had one.
    pub event_type: Option<String>,
    /// Everything wrong with it.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// The first [`SAMPLE_BYTES`] of the record (invalid UTF-8 replaced), ending in `…` when cut.
    pub sample: String,
}

impl Malformed {
    /// The sample of a record's data.
    pub fn sample_of(data: &[u8]) -> String {
        let cut = data.len() > SAMPLE_BYTES;
        let mut sample =
            String::from_utf8_lossy(&data[..data.len().min(SAMPLE_BYTES)]).into_owned();
        if cut {
            // A multi-byte character cut in two decodes as U+FFFD; drop it rather than show it.
            if sample.ends_with(char::REPLACEMENT_CHARACTER) {
                sample.pop();
            }
            sample.push('…');
        }
        sample
    }
}

/// Refusals held back since the last alert (ingest's alert limiter), counted into the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Suppressed {
    /// Refused requests that had no alert of their own.
    pub requests: u64,
    /// The malformed events in them, as counted in `MalformedEvents`.
    pub events: u64,
    /// When the first of them was received (RFC 3339, UTC, whole seconds).
    #[serde(serialize_with = "rfc3339")]
    pub since: DateTime<Utc>,
}

impl Suppressed {
    /// One refused request with `events` malformed events, received at `at`.
    pub fn one(events: u64, at: DateTime<Utc>) -> Self {
        Suppressed {
            requests: 1,
            events,
            since: at,
        }
    }

    /// Adds `other`'s counts; `since` becomes the earlier of the two.
    pub fn merge(&mut self, other: &Suppressed) {
        self.requests = self.requests.saturating_add(other.requests);
        self.events = self.events.saturating_add(other.events);
        self.since = self.since.min(other.since);
    }
}

fn rfc3339<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// The request ingest refused, as its alert describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedRequest {
    /// API Gateway's request id.
    pub request_id: String,
    /// The HTTP status ingest answered.
    pub status: u16,
    /// Why, in a few words (`invalid events`, `body too large`, …).
    pub reason: String,
    /// How many events the body was split into (0 when it was refused before).
    pub events_in_request: usize,
    /// Where the body was kept (see [`crate::refused::key`]); `null` for an empty body. A put
    /// that failed is logged by ingest with this key.
    pub s3_key: Option<String>,
    /// Refusals held back since the previous alert, when there were any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<Suppressed>,
}

/// What an alert is about: a batch the processor read, or a request ingest refused. Its fields
/// are flattened into the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Origin {
    /// A batch of Kinesis records.
    Batch {
        /// How many records the batch held.
        records_in_batch: usize,
    },
    /// A request ingest refused.
    Request(RefusedRequest),
}

impl Origin {
    /// The component that found the malformed events.
    pub fn component(&self) -> Component {
        match self {
            Origin::Batch { .. } => Component::StreamProcessor,
            Origin::Request(_) => Component::Ingest,
        }
    }
}

/// One SNS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// The e-mail subject: ASCII, under SNS's 100 characters.
    pub subject: String,
    /// The summary, as JSON.
    pub message: String,
    /// The worst severity among the records, sent as the `severity` attribute.
    pub severity: Severity,
}

#[derive(Debug, Serialize)]
struct Summary<'a> {
    summary: String,
    component: &'static str,
    #[serde(flatten)]
    origin: &'a Origin,
    malformed: usize,
    by_severity: BySeverity,
    worst_severity: Severity,
    listed: usize,
    not_listed: usize,
    events: &'a [Malformed],
}

#[derive(Debug, Default, Serialize)]
struct BySeverity {
    error: usize,
    critical: usize,
}

/// The alert for these malformed events found in `origin`; `None` when there are none. Lists
/// events in order until the message would pass [`MESSAGE_BUDGET_BYTES`], then counts the rest
/// as `not_listed`.
pub fn summarize(malformed: &[Malformed], origin: &Origin) -> Option<Alert> {
    let worst = malformed
        .iter()
        .filter_map(|m| m.verdict.severity())
        .max()?;
    let mut by_severity = BySeverity::default();
    for m in malformed {
        match m.verdict.severity() {
            Some(Severity::Critical) => by_severity.critical += 1,
            Some(Severity::Error) => by_severity.error += 1,
            _ => {}
        }
    }
    let noun = |n: usize| if n == 1 { "event" } else { "events" };
    let (summary, subject) = match origin {
        Origin::Batch { records_in_batch } => (
            format!(
                "{} of {records_in_batch} records in a batch are malformed and were not stored",
                malformed.len()
            ),
            format!(
                "IOps Dashboard: {} malformed {} (worst: {worst})",
                malformed.len(),
                noun(malformed.len())
            ),
        ),
        Origin::Request(request) => {
            let whole = malformed
                .iter()
                .any(|m| matches!(m.location, Location::Request { index: None, .. }));
            let summary = if whole {
                format!(
                    "ingest refused request {} as a whole: {} {}; nothing was stored",
                    request.request_id, request.status, request.reason
                )
            } else {
                format!(
                    "ingest refused request {}: {} {}, {} of {} events malformed; nothing was stored",
                    request.request_id,
                    request.status,
                    request.reason,
                    malformed.len(),
                    request.events_in_request
                )
            };
            let mut subject = format!(
                "IOps Dashboard: request refused, {} malformed {} (worst: {worst})",
                malformed.len(),
                noun(malformed.len())
            );
            if let Some(suppressed) = &request.suppressed {
                let more = format!(", {} more refused", suppressed.requests);
                if subject.len() + more.len() <= MAX_SUBJECT_CHARS {
                    subject.push_str(&more);
                }
            }
            (summary, subject)
        }
    };
    let mut summary = Summary {
        summary,
        component: origin.component().as_str(),
        origin,
        malformed: malformed.len(),
        by_severity,
        worst_severity: worst,
        listed: 0,
        not_listed: 0,
        events: &[],
    };
    // Each listed record costs its pretty-printed size, 4 more spaces of indent per line, and
    // the separator; the summary itself is measured empty. The final check below keeps the
    // bound exact even if this estimate were short.
    let mut size = to_json(&summary).len();
    let mut listed = 0;
    for m in malformed {
        let entry = to_json(m);
        let cost = entry.len() + 4 * (entry.lines().count() + 1) + 2;
        if size + cost > MESSAGE_BUDGET_BYTES {
            break;
        }
        size += cost;
        listed += 1;
    }
    let message = loop {
        summary.events = &malformed[..listed];
        summary.listed = listed;
        summary.not_listed = malformed.len() - listed;
        let message = to_json(&summary);
        if message.len() <= MESSAGE_BUDGET_BYTES || listed == 0 {
            break message;
        }
        listed -= 1;
    };
    Some(Alert {
        subject,
        message,
        severity: worst,
    })
}

fn to_json<T: Serialize>(value: &T) -> String {
    // Serializing plain data to a string cannot fail: no maps with non-string keys, no I/O.
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// A boxed error from a publisher.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// A publish that failed.
#[derive(Debug, thiserror::Error)]
#[error("publishing the malformed-events alert failed")]
pub struct AlertError {
    /// Whether a later attempt may succeed.
    pub retryable: bool,
    #[source]
    source: BoxError,
}

impl AlertError {
    /// A failure worth retrying.
    pub fn retryable(source: impl Into<BoxError>) -> Self {
        AlertError {
            retryable: true,
            source: source.into(),
        }
    }

    /// A failure that will happen again.
    pub fn permanent(source: impl Into<BoxError>) -> Self {
        AlertError {
            retryable: false,
            source: source.into(),
        }
    }
}

/// Where alerts go: the malformed-events topic, or a fake in tests.
pub trait AlertPublisher: Send + Sync {
    /// Publishes one alert.
    fn publish(&self, alert: &Alert) -> impl Future<Output = Result<(), AlertError>> + Send;
}

/// The malformed-events topic, through the AWS SDK.
#[derive(Debug, Clone)]
pub struct SnsPublisher {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsPublisher {
    /// A publisher to `topic_arn`.
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        SnsPublisher {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

impl AlertPublisher for SnsPublisher {
    async fn publish(&self, alert: &Alert) -> Result<(), AlertError> {
        let severity = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(alert.severity.as_str())
            .build()
            .map_err(AlertError::permanent)?;
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&alert.subject)
            .message(&alert.message)
            .message_attributes(SEVERITY_ATTRIBUTE, severity)
            .send()
            .await
            .map_err(|e| {
                if is_retryable(&e) {
                    AlertError::retryable(e)
                } else {
                    AlertError::permanent(e)
                }
            })?;
        Ok(())
    }
}

/// An alert that could not be published: refused, or out of retries or time.
#[derive(Debug, thiserror::Error)]
#[error("the malformed-events alert was not published after {retries} retries")]
pub struct PublishError {
    /// Retries made after the first attempt.
    pub retries: u32,
    /// The last attempt's failure.
    #[source]
    pub source: AlertError,
}

/// Publishes `alert`, retrying failures worth retrying after a [`Backoff`] wait while retries
/// and time before `deadline` last; an attempt still in flight at the backoff's cutoff is
/// abandoned, so the caller answers before `deadline`.
pub async fn publish<A: AlertPublisher>(
    publisher: &A,
    alert: &Alert,
    backoff: &Backoff,
    deadline: Instant,
) -> Result<(), PublishError> {
    let mut retry = 0;
    loop {
        let attempt =
            tokio::time::timeout_at(backoff.cutoff(deadline), publisher.publish(alert)).await;
        let err = match attempt {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(err)) => err,
            Err(_) => AlertError::retryable("no answer before the deadline"),
        };
        retry += 1;
        let wait = err
            .retryable
            .then(|| backoff.delay(retry, deadline.saturating_duration_since(Instant::now())));
        match wait.flatten() {
            Some(wait) => {
                warn!(retry, error = %Chain(&err), "alert publish failed, will retry");
                tokio::time::sleep(wait).await;
            }
            None => {
                return Err(PublishError {
                    retries: retry - 1,
                    source: err,
                });
            }
        }
    }
}

/// An in-memory topic for the functions' tests and benchmarks.
#[cfg(feature = "test-util")]
pub mod memory {
    use std::sync::{Mutex, MutexGuard, PoisonError};
    use std::time::Duration;

    use super::{Alert, AlertError, AlertPublisher};

    /// The topic: records every attempt; fails the first `failures` attempts (retryable or
    /// not); answers after `stall` (on tokio's clock).
    #[derive(Debug, Default)]
    pub struct MemoryTopic {
        /// Attempts that fail before the topic accepts.
        pub failures: usize,
        /// Whether those failures are worth retrying.
        pub retryable: bool,
        /// How long each attempt takes.
        pub stall: Duration,
        attempts: Mutex<Vec<Alert>>,
    }

    impl MemoryTopic {
        /// A topic that accepts every alert at once.
        pub fn accepting() -> Self {
            MemoryTopic::default()
        }

        /// A topic that fails its first `failures` attempts.
        pub fn failing(failures: usize, retryable: bool) -> Self {
            MemoryTopic {
                failures,
                retryable,
                ..MemoryTopic::default()
            }
        }

        /// A topic that accepts every alert, each after `stall`.
        pub fn stalling(stall: Duration) -> Self {
            MemoryTopic {
                stall,
                ..MemoryTopic::default()
            }
        }

        /// Every attempt so far, failed or not, in order.
        pub fn attempts(&self) -> Vec<Alert> {
            lock(&self.attempts).clone()
        }

        /// The alerts the topic accepted, in order.
        pub fn published(&self) -> Vec<Alert> {
            lock(&self.attempts)
                .iter()
                .skip(self.failures)
                .cloned()
                .collect()
        }
    }

    fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
        mutex.lock().unwrap_or_else(PoisonError::into_inner)
    }

    impl AlertPublisher for MemoryTopic {
        async fn publish(&self, alert: &Alert) -> Result<(), AlertError> {
            tokio::time::sleep(self.stall).await;
            let mut attempts = lock(&self.attempts);
            attempts.push(alert.clone());
            if attempts.len() <= self.failures {
                let source = "topic unreachable";
                return Err(if self.retryable {
                    AlertError::retryable(source)
                } else {
                    AlertError::permanent(source)
                });
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn malformed(seq: usize, severity: Severity, problems: usize) -> Malformed {
        let mut verdict = Verdict::default();
        for i in 0..problems {
            verdict.push(
                severity,
                format!("/payload/{}", "k".repeat(200 + i)),
                "m".repeat(300),
            );
        }
        Malformed {
            location: Location::Stream {
                shard_id: "shardId-000000000000".to_owned(),
                sequence_number: format!("{seq:056}"),
            },
            event_type: Some("heartbeat".to_owned()),
            verdict,
            sample: Malformed::sample_of(&vec![b'{'; 1000]),
        }
    }

    fn batch(records_in_batch: usize) -> Origin {
        Origin::Batch { records_in_batch }
    }

    fn parse(alert: &Alert) -> Value {
        serde_json::from_str(&alert.message).unwrap_or_default()
    }

    #[test]
    fn no_malformed_records_no_alert() {
        assert_eq!(summarize(&[], &batch(100)), None);
    }

    #[test]
    fn the_summary_counts_by_severity_and_lists_each_record() {
        let records = [
            malformed(1, Severity::Error, 1),
            malformed(2, Severity::Critical, 1),
            malformed(3, Severity::Error, 2),
        ];
        let alert = summarize(&records, &batch(100)).unwrap_or_else(|| panic!("no alert"));
        assert_eq!(alert.severity, Severity::Critical);
        assert_eq!(
            alert.subject,
            "IOps Dashboard: 3 malformed events (worst: critical)"
        );
        let message = parse(&alert);
        assert_eq!(message["by_severity"], json!({"error": 2, "critical": 1}));
        assert_eq!(message["malformed"], json!(3));
        assert_eq!(message["records_in_batch"], json!(100));
        assert_eq!(message["listed"], json!(3));
        assert_eq!(message["not_listed"], json!(0));
        let first = &message["events"][0];
        assert_eq!(first["sequence_number"], json!(format!("{:056}", 1)));
        assert_eq!(first["event_type"], json!("heartbeat"));
        assert_eq!(first["severity"], json!("error"));
        assert_eq!(
            first["errors"][0]["path"]
                .as_str()
                .map(|p| p.starts_with("/payload/kkk")),
            Some(true)
        );
        assert_eq!(
            message["events"][2]["errors"].as_array().map(Vec::len),
            Some(2)
        );
    }

    #[test]
    fn the_worst_severity_is_error_when_nothing_is_critical() {
        let alert = summarize(&[malformed(1, Severity::Error, 1)], &batch(1))
            .unwrap_or_else(|| panic!("no alert"));
        assert_eq!(alert.severity, Severity::Error);
        assert_eq!(
            alert.subject,
            "IOps Dashboard: 1 malformed event (worst: error)"
        );
    }

    #[test]
    fn many_large_records_stay_under_the_sns_limit_and_the_rest_are_counted() {
        // 10 000 records with the most problems a verdict lists, each path and message long.
        let records: Vec<_> = (0..10_000)
            .map(|i| malformed(i, Severity::Error, Verdict::MAX_PROBLEMS + 3))
            .collect();
        let alert = summarize(&records, &batch(10_000)).unwrap_or_else(|| panic!("no alert"));
        let attribute_bytes =
            SEVERITY_ATTRIBUTE.len() + "String".len() + alert.severity.as_str().len();
        assert!(
            alert.message.len() + alert.subject.len() + attribute_bytes <= MAX_SNS_MESSAGE_BYTES
        );
        let message = parse(&alert);
        let listed = message["listed"].as_u64().unwrap_or_default();
        assert!(listed > 10, "only {listed} listed");
        assert_eq!(
            listed + message["not_listed"].as_u64().unwrap_or_default(),
            10_000
        );
        assert_eq!(
            message["events"].as_array().map(Vec::len),
            Some(listed as usize)
        );
        // The budget is used, not wasted: one more record would not have fitted.
        assert!(
            alert.message.len() > MESSAGE_BUDGET_BYTES - 16 * 1024,
            "{}",
            alert.message.len()
        );
    }

    #[test]
    fn samples_are_cut_on_a_character_boundary() {
        assert_eq!(Malformed::sample_of(b"short"), "short");
        let sample = Malformed::sample_of("é".repeat(200).as_bytes());
        assert!(sample.ends_with("é…"), "{sample}");
        assert!(sample.len() <= SAMPLE_BYTES + '…'.len_utf8());
        assert_eq!(Malformed::sample_of(b"\xff\xfe"), "\u{fffd}\u{fffd}");
    }

    fn refused(index: Option<usize>, severity: Severity) -> Malformed {
        Malformed {
            location: Location::Request {
                request_id: "req-1".to_owned(),
                index,
            },
            event_type: None,
            verdict: Verdict::single(severity, "", "bad"),
            sample: "[1]".to_owned(),
        }
    }

    fn request(suppressed: Option<Suppressed>) -> Origin {
        Origin::Request(RefusedRequest {
            request_id: "req-1".to_owned(),
            status: 400,
            reason: "invalid events".to_owned(),
            events_in_request: 3,
            s3_key: Some("refused/year=2024/month=11/day=06/hour=12/req-1".to_owned()),
            suppressed,
        })
    }

    #[test]
    fn a_refused_request_is_summarised_with_its_component_status_and_key() {
        let events = [
            refused(Some(1), Severity::Error),
            refused(Some(2), Severity::Critical),
        ];
        let alert = summarize(&events, &request(None)).unwrap_or_else(|| panic!("no alert"));
        assert_eq!(
            alert.subject,
            "IOps Dashboard: request refused, 2 malformed events (worst: critical)"
        );
        assert_eq!(alert.severity, Severity::Critical);
        let message = parse(&alert);
        assert_eq!(message["component"], json!("ingest"));
        assert_eq!(message["request_id"], json!("req-1"));
        assert_eq!(message["status"], json!(400));
        assert_eq!(message["reason"], json!("invalid events"));
        assert_eq!(message["events_in_request"], json!(3));
        assert_eq!(
            message["s3_key"],
            json!("refused/year=2024/month=11/day=06/hour=12/req-1")
        );
        assert_eq!(message["malformed"], json!(2));
        assert_eq!(message["by_severity"], json!({"error": 1, "critical": 1}));
        assert_eq!(message["worst_severity"], json!("critical"));
        assert_eq!(
            message["summary"],
            json!(
                "ingest refused request req-1: 400 invalid events, 2 of 3 events malformed; nothing was stored"
            )
        );
        assert!(message.get("suppressed").is_none(), "only when some were");
        assert!(message.get("records_in_batch").is_none());
        assert_eq!(
            message["events"][0],
            json!({"request_id": "req-1", "index": 1, "event_type": null, "valid": false,
                   "severity": "error", "errors": [{"path": "", "message": "bad"}], "sample": "[1]"})
        );
    }

    #[test]
    fn a_batch_is_summarised_as_the_stream_processors() {
        let alert = summarize(&[malformed(7, Severity::Error, 1)], &batch(5))
            .unwrap_or_else(|| panic!("no alert"));
        let message = parse(&alert);
        assert_eq!(message["component"], json!("stream-processor"));
        assert_eq!(message["records_in_batch"], json!(5));
        assert!(message.get("request_id").is_none());
        assert_eq!(
            message["events"][0]["shard_id"],
            json!("shardId-000000000000")
        );
        assert!(message["events"][0].get("index").is_none());
    }

    #[test]
    fn suppressed_refusals_are_carried_and_named_in_the_subject() {
        let since = DateTime::from_timestamp(1_730_894_405, 0).unwrap_or_default();
        let mut suppressed = Suppressed::one(2, since);
        suppressed.merge(&Suppressed::one(
            5,
            DateTime::from_timestamp(1_730_894_500, 0).unwrap_or_default(),
        ));
        let alert = summarize(
            &[refused(None, Severity::Critical)],
            &request(Some(suppressed)),
        )
        .unwrap_or_else(|| panic!("no alert"));
        let message = parse(&alert);
        assert_eq!(
            message["suppressed"],
            json!({"requests": 2, "events": 7, "since": "2024-11-06T12:00:05Z"})
        );
        assert_eq!(
            message["summary"],
            json!(
                "ingest refused request req-1 as a whole: 400 invalid events; nothing was stored"
            )
        );
        assert_eq!(
            alert.subject,
            "IOps Dashboard: request refused, 1 malformed event (worst: critical), 2 more refused"
        );
        let huge = Suppressed {
            requests: u64::MAX,
            ..suppressed
        };
        let alert = summarize(&[refused(None, Severity::Critical)], &request(Some(huge)))
            .unwrap_or_else(|| panic!("no alert"));
        assert!(
            alert.subject.len() <= MAX_SUBJECT_CHARS,
            "{}",
            alert.subject
        );
        assert!(alert.subject.is_ascii());
    }

    #[test]
    fn a_flood_of_refused_events_stays_under_the_sns_limit() {
        let events: Vec<_> = (0..500)
            .map(|i| {
                let mut verdict = Verdict::default();
                for p in 0..Verdict::MAX_PROBLEMS + 1 {
                    verdict.push(
                        Severity::Error,
                        format!("/{}", "p".repeat(250 + p)),
                        "m".repeat(400),
                    );
                }
                Malformed {
                    verdict,
                    sample: Malformed::sample_of(&[b'x'; 4096]),
                    ..refused(Some(i), Severity::Error)
                }
            })
            .collect();
        let alert = summarize(&events, &request(None)).unwrap_or_else(|| panic!("no alert"));
        assert!(alert.message.len() <= MESSAGE_BUDGET_BYTES);
        let message = parse(&alert);
        let listed = message["listed"].as_u64().unwrap_or_default();
        assert!(listed >= 1);
        assert_eq!(
            listed + message["not_listed"].as_u64().unwrap_or_default(),
            500
        );
    }
}
