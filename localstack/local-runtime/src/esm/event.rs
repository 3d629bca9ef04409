//! The Kinesis event Lambda invokes a function with, record by record as AWS builds it.

use aws_lambda_events::encodings::{Base64Data, SecondTimestamp};
use aws_lambda_events::event::kinesis::{KinesisEncryptionType, KinesisEventRecord, KinesisRecord};
use serde_json::{Map, Value, json};

use crate::stream::{StreamArn, StreamRecord};

/// One record of the event's `Records`.
pub(super) fn event_record(
    record: &StreamRecord,
    shard_id: &str,
    stream: &StreamArn,
    invoke_identity_arn: &str,
) -> Value {
    let mut kinesis = KinesisRecord::default();
    kinesis.kinesis_schema_version = Some("1.0".to_owned());
    kinesis.partition_key.clone_from(&record.partition_key);
    kinesis.sequence_number.clone_from(&record.sequence_number);
    kinesis.data = Base64Data::default();
    kinesis.data.0.clone_from(&record.data);
    kinesis.approximate_arrival_timestamp = SecondTimestamp(record.approximate_arrival);
    kinesis.encryption_type = if record.kms_encrypted {
        KinesisEncryptionType::Kms
    } else {
        KinesisEncryptionType::None
    };
    let mut event = KinesisEventRecord::default();
    event.kinesis = kinesis;
    event.event_source = Some("aws:kinesis".to_owned());
    event.event_version = Some("1.0".to_owned());
    event.event_id = Some(format!("{shard_id}:{}", record.sequence_number));
    event.event_name = Some("aws:kinesis:record".to_owned());
    event.invoke_identity_arn = Some(invoke_identity_arn.to_owned());
    event.aws_region = Some(stream.region().to_owned());
    event.event_source_arn = Some(stream.as_str().to_owned());
    let mut value = serde_json::to_value(event).unwrap_or(Value::Null);
    if let Some(kinesis) = value.get_mut("kinesis").and_then(Value::as_object_mut) {
        as_aws_writes_it(kinesis, record);
    }
    value
}

/// Two differences between how `aws_lambda_events` serializes a record and what Lambda sends:
/// Lambda writes the arrival time as a number of seconds (the crate writes a string), and writes
/// `encryptionType` only for an encrypted stream (the crate always writes it).
fn as_aws_writes_it(kinesis: &mut Map<String, Value>, record: &StreamRecord) {
    let millis = record.approximate_arrival.timestamp_millis();
    // Seconds with milliseconds, e.g. 1545084650.987, as Lambda writes them.
    #[allow(clippy::cast_precision_loss)]
    let seconds = millis as f64 / 1000.0;
    kinesis.insert("approximateArrivalTimestamp".to_owned(), json!(seconds));
    if !record.kms_encrypted {
        kinesis.remove("encryptionType");
    }
}

/// The event for a batch of records built by [`event_record`].
pub(super) fn event(records: &[Value]) -> Value {
    json!({ "Records": records })
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;

    fn record(kms_encrypted: bool) -> StreamRecord {
        StreamRecord {
            sequence_number: "49568167373333333333333333333333333333333333333333333333".to_owned(),
            partition_key: "s1".to_owned(),
            data: b"Hello World".to_vec(),
            approximate_arrival: DateTime::from_timestamp_millis(1_480_641_523_477)
                .expect("a valid instant"),
            kms_encrypted,
        }
    }

    fn built(kms_encrypted: bool) -> Value {
        let stream: StreamArn = "arn:aws:kinesis:us-east-1:123456789012:stream/simple-stream"
            .parse()
            .expect("a stream ARN");
        event(&[event_record(
            &record(kms_encrypted),
            "shardId-000000000000",
            &stream,
            "arn:aws:iam::123456789012:role/LambdaRole",
        )])
    }

    #[test]
    fn the_event_is_the_one_lambda_documents() {
        let expected: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/kinesis-event.json"))
                .expect("the fixture is JSON");
        assert_eq!(built(false), expected);
    }

    #[test]
    fn an_encrypted_stream_says_kms() {
        let event = built(true);
        assert_eq!(event["Records"][0]["kinesis"]["encryptionType"], "KMS");
    }

    #[test]
    fn the_function_reads_back_what_was_put() {
        let event: aws_lambda_events::event::kinesis::KinesisEvent =
            serde_json::from_value(built(false)).expect("the crate's type reads the event");
        assert_eq!(event.records[0].kinesis.data.0, b"Hello World");
        assert_eq!(
            event.records[0]
                .kinesis
                .approximate_arrival_timestamp
                .timestamp_millis(),
            1_480_641_523_477
        );
    }
}
