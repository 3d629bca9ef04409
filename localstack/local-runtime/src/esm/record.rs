//! The invocation record Lambda sends to the on-failure destination when it discards a batch:
//! metadata about the failed invocation and where the records are in the stream, not the
//! records themselves.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::stream::StreamRecord;

/// An on-failure invocation record for a Kinesis batch, in AWS's shape:
///
/// ```json
/// {"requestContext": {"requestId": "..", "functionArn": "..", "condition": "RetryAttemptsExhausted",
///    "approximateInvokeCount": 4},
///  "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
///  "version": "1.0", "timestamp": "2019-11-14T00:38:06.021Z",
///  "KinesisBatchInfo": {"shardId": "shardId-000000000001", "startSequenceNumber": "..",
///    "endSequenceNumber": "..", "approximateArrivalOfFirstRecord": "2019-11-14T00:38:04.835Z",
///    "approximateArrivalOfLastRecord": "2019-11-14T00:38:05.580Z", "batchSize": 500,
///    "streamArn": ".."}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvocationRecord {
    /// The last invocation of the batch.
    pub request_context: RequestContext,
    /// Its response.
    pub response_context: ResponseContext,
    /// `1.0`.
    pub version: String,
    /// When the batch was discarded, in UTC with milliseconds.
    pub timestamp: String,
    /// Where the discarded records are.
    #[serde(rename = "KinesisBatchInfo")]
    pub kinesis_batch_info: KinesisBatchInfo,
}

/// `requestContext` of an [`InvocationRecord`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext {
    /// The request id of the last invocation.
    pub request_id: String,
    /// The function.
    pub function_arn: String,
    /// Why the batch was discarded: `RetryAttemptsExhausted`.
    pub condition: String,
    /// How many times the batch was invoked.
    pub approximate_invoke_count: u32,
}

/// `responseContext` of an [`InvocationRecord`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseContext {
    /// 200: the function was invoked.
    pub status_code: u16,
    /// `$LATEST`.
    pub executed_version: String,
    /// `Unhandled` when the function failed; null when it answered with a partial batch
    /// response.
    pub function_error: Option<String>,
}

/// `KinesisBatchInfo` of an [`InvocationRecord`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KinesisBatchInfo {
    /// The shard, e.g. `shardId-000000000000`.
    pub shard_id: String,
    /// The first discarded record.
    pub start_sequence_number: String,
    /// The last discarded record.
    pub end_sequence_number: String,
    /// When the first record arrived, in UTC with milliseconds.
    pub approximate_arrival_of_first_record: String,
    /// When the last record arrived.
    pub approximate_arrival_of_last_record: String,
    /// How many records were discarded.
    pub batch_size: usize,
    /// The stream.
    pub stream_arn: String,
}

/// What the batch processing knows of a discarded batch.
#[derive(Debug)]
pub(super) struct Discarded<'a> {
    pub(super) records: &'a [StreamRecord],
    pub(super) invoke_count: u32,
    /// Whether the last invocation failed (as opposed to reporting item failures).
    pub(super) function_error: bool,
}

impl InvocationRecord {
    /// The record of `discarded` from `shard_id`, discarded at `now`.
    pub(super) fn new(
        discarded: &Discarded<'_>,
        shard_id: &str,
        stream_arn: &str,
        function_arn: &str,
        now: DateTime<Utc>,
    ) -> Option<InvocationRecord> {
        let (first, last) = (discarded.records.first()?, discarded.records.last()?);
        Some(InvocationRecord {
            request_context: RequestContext {
                request_id: uuid::Uuid::new_v4().to_string(),
                function_arn: function_arn.to_owned(),
                condition: "RetryAttemptsExhausted".to_owned(),
                approximate_invoke_count: discarded.invoke_count,
            },
            response_context: ResponseContext {
                status_code: 200,
                executed_version: "$LATEST".to_owned(),
                function_error: discarded.function_error.then(|| "Unhandled".to_owned()),
            },
            version: "1.0".to_owned(),
            timestamp: iso_millis(now),
            kinesis_batch_info: KinesisBatchInfo {
                shard_id: shard_id.to_owned(),
                start_sequence_number: first.sequence_number.clone(),
                end_sequence_number: last.sequence_number.clone(),
                approximate_arrival_of_first_record: iso_millis(first.approximate_arrival),
                approximate_arrival_of_last_record: iso_millis(last.approximate_arrival),
                batch_size: discarded.records.len(),
                stream_arn: stream_arn.to_owned(),
            },
        })
    }
}

fn iso_millis(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn record(sequence_number: &str, millis: i64) -> StreamRecord {
        StreamRecord {
            sequence_number: sequence_number.to_owned(),
            partition_key: "k".to_owned(),
            data: Vec::new(),
            approximate_arrival: DateTime::from_timestamp_millis(millis).expect("an instant"),
            kms_encrypted: false,
        }
    }

    #[test]
    fn the_record_has_the_shape_lambda_documents() {
        let records = [
            record("11", 1_573_691_884_835),
            record("12", 1_573_691_885_580),
        ];
        let discarded = Discarded {
            records: &records,
            invoke_count: 4,
            function_error: true,
        };
        let now = DateTime::from_timestamp_millis(1_573_691_886_021).expect("an instant");
        let built = InvocationRecord::new(
            &discarded,
            "shardId-000000000001",
            "arn:aws:kinesis:us-east-2:123456789012:stream/mystream",
            "arn:aws:lambda:us-east-2:123456789012:function:myfunction",
            now,
        )
        .expect("records to describe");
        let mut value = serde_json::to_value(&built).expect("serializable");
        value["requestContext"]["requestId"] = Value::Null;
        assert_eq!(
            value,
            json!({
                "requestContext": {
                    "requestId": null,
                    "functionArn": "arn:aws:lambda:us-east-2:123456789012:function:myfunction",
                    "condition": "RetryAttemptsExhausted",
                    "approximateInvokeCount": 4
                },
                "responseContext": {
                    "statusCode": 200,
                    "executedVersion": "$LATEST",
                    "functionError": "Unhandled"
                },
                "version": "1.0",
                "timestamp": "2019-11-14T00:38:06.021Z",
                "KinesisBatchInfo": {
                    "shardId": "shardId-000000000001",
                    "startSequenceNumber": "11",
                    "endSequenceNumber": "12",
                    "approximateArrivalOfFirstRecord": "2019-11-14T00:38:04.835Z",
                    "approximateArrivalOfLastRecord": "2019-11-14T00:38:05.580Z",
                    "batchSize": 2,
                    "streamArn": "arn:aws:kinesis:us-east-2:123456789012:stream/mystream"
                }
            })
        );
    }

    #[test]
    fn a_batch_with_item_failures_has_no_function_error() {
        let records = [record("1", 0)];
        let discarded = Discarded {
            records: &records,
            invoke_count: 1,
            function_error: false,
        };
        let built = InvocationRecord::new(&discarded, "s", "a", "f", Utc::now()).expect("built");
        assert_eq!(built.response_context.function_error, None);
        let json = serde_json::to_value(&built).expect("serializable");
        assert_eq!(json["responseContext"]["functionError"], Value::Null);
    }
}
