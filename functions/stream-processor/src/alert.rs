//! The malformed-events alert: one SNS message per batch summarising every malformed record,
//! kept under SNS's message size limit however many there are.

use std::error::Error;
use std::future::Future;

use aws_sdk_sns::types::MessageAttributeValue;
use event_contract::sdk::is_retryable;
use event_contract::{Severity, Verdict};
use serde::Serialize;

/// SNS's limit on a message, attributes included, in bytes.
pub const MAX_SNS_MESSAGE_BYTES: usize = 256 * 1024;
/// The most bytes the message body may take: the limit less room for the subject and the
/// `severity` attribute.
pub const MESSAGE_BUDGET_BYTES: usize = MAX_SNS_MESSAGE_BYTES - 2 * 1024;
/// How much of a malformed record the alert shows, in bytes.
pub const SAMPLE_BYTES: usize = 256;
/// The message attribute carrying the worst severity, for subscription filter policies.
pub const SEVERITY_ATTRIBUTE: &str = "severity";

/// A record that failed validation, as the alert describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Malformed {
    /// The Kinesis shard the record came from.
    pub shard_id: String,
    /// The record's sequence number, to find it in the stream or the archive.
    pub sequence_number: String,
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
    malformed: usize,
    records_in_batch: usize,
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

/// The alert for a batch of `records` records with these malformed ones; `None` when there are
/// none. Lists records in order until the message would pass [`MESSAGE_BUDGET_BYTES`], then
/// counts the rest as `not_listed`.
pub fn summarize(malformed: &[Malformed], records: usize) -> Option<Alert> {
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
    let mut summary = Summary {
        summary: format!(
            "{} of {records} records in a batch are malformed and were not stored",
            malformed.len()
        ),
        malformed: malformed.len(),
        records_in_batch: records,
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
    let noun = if malformed.len() == 1 {
        "event"
    } else {
        "events"
    };
    let subject = format!(
        "IOps Dashboard: {} malformed {noun} (worst: {worst})",
        malformed.len()
    );
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
            shard_id: "shardId-000000000000".to_owned(),
            sequence_number: format!("{seq:056}"),
            event_type: Some("heartbeat".to_owned()),
            verdict,
            sample: Malformed::sample_of(&vec![b'{'; 1000]),
        }
    }

    fn parse(alert: &Alert) -> Value {
        serde_json::from_str(&alert.message).unwrap_or_default()
    }

    #[test]
    fn no_malformed_records_no_alert() {
        assert_eq!(summarize(&[], 100), None);
    }

    #[test]
    fn the_summary_counts_by_severity_and_lists_each_record() {
        let records = [
            malformed(1, Severity::Error, 1),
            malformed(2, Severity::Critical, 1),
            malformed(3, Severity::Error, 2),
        ];
        let alert = summarize(&records, 100).unwrap_or_else(|| panic!("no alert"));
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
        let alert =
            summarize(&[malformed(1, Severity::Error, 1)], 1).unwrap_or_else(|| panic!("no alert"));
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
        let alert = summarize(&records, 10_000).unwrap_or_else(|| panic!("no alert"));
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
}
