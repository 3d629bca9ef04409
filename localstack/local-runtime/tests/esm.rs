//! The event source mapping against moto's Kinesis and SQS, with scripted functions.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use local_runtime::esm::{
    EventSourceMapping, EventSourceMappingConfig, InvocationRecord, StartingPosition,
};
use local_runtime::lambda::{Invoke, InvokeError};
use serde_json::{Value, json};

use common::{Aws, eventually, moto, put, queue, receive, stream};

const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-2:123456789012:function:processor";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/processor";
const POLL: Duration = Duration::from_millis(50);
const WITHIN: Duration = Duration::from_secs(30);

/// Every event a scripted function was invoked with.
type Calls = Arc<Mutex<Vec<Value>>>;

fn calls_of(calls: &Calls) -> Vec<Value> {
    calls.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// The data of each record of an event.
fn data_of(event: &Value) -> Vec<String> {
    event["Records"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let bytes = STANDARD
                .decode(r["kinesis"]["data"].as_str().unwrap_or_default())
                .expect("base64 data");
            String::from_utf8(bytes).expect("UTF-8 data")
        })
        .collect()
}

/// A function that records each event and answers with `answer(event)`.
struct Scripted<A> {
    answer: A,
    calls: Calls,
}

impl<A> Invoke for Scripted<A>
where
    A: Fn(&Value) -> Result<Value, InvokeError> + Send + Sync,
{
    async fn invoke(&self, event: Value) -> Result<Value, InvokeError> {
        let result = (self.answer)(&event);
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event);
        result
    }
}

fn scripted<A>(answer: A) -> (Arc<Scripted<A>>, Calls)
where
    A: Fn(&Value) -> Result<Value, InvokeError> + Send + Sync + 'static,
{
    let calls: Calls = Arc::default();
    let function = Scripted {
        answer,
        calls: calls.clone(),
    };
    (Arc::new(function), calls)
}

fn template_config(stream_arn: &str, destination: Option<String>) -> EventSourceMappingConfig {
    EventSourceMappingConfig {
        batch_size: 100,
        bisect_batch_on_function_error: true,
        maximum_retry_attempts: 3,
        report_batch_item_failures: true,
        on_failure_destination: destination,
        ..EventSourceMappingConfig::new(
            stream_arn,
            FUNCTION_ARN,
            ROLE_ARN,
            StartingPosition::TrimHorizon,
        )
    }
}

async fn start<F: Invoke + 'static>(
    aws: &Aws,
    config: &EventSourceMappingConfig,
    function: Arc<F>,
) -> EventSourceMapping {
    EventSourceMapping::start(config, function, aws.kinesis.clone(), aws.sqs.clone(), POLL)
        .await
        .expect("the mapping starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_reach_the_function_as_lambdas_events_in_shard_order_and_batches() {
    let aws = moto().await;
    let stream_arn = stream(&aws, "ordered", 2).await;
    let data: Vec<String> = (0..60).map(|i| format!("{{\"n\":{i}}}")).collect();
    let puts = put(&aws, "ordered", &data).await;
    let (function, calls) = scripted(|_| Ok(Value::Null));
    let config = EventSourceMappingConfig {
        batch_size: 7,
        ..EventSourceMappingConfig::new(
            &stream_arn,
            FUNCTION_ARN,
            ROLE_ARN,
            StartingPosition::TrimHorizon,
        )
    };
    let mapping = start(&aws, &config, function).await;
    eventually(WITHIN, "every record delivered", || async {
        calls_of(&calls)
            .iter()
            .map(|e| data_of(e).len())
            .sum::<usize>()
            == 60
    })
    .await;
    assert_eq!(mapping.records_processed(), 60);
    mapping.stop().await;

    let by_sequence: BTreeMap<_, _> = puts
        .iter()
        .map(|p| {
            (
                (p.shard_id.clone(), p.sequence_number.clone()),
                p.data.clone(),
            )
        })
        .collect();
    let mut seen_per_shard: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for event in calls_of(&calls) {
        let records = event["Records"].as_array().expect("records");
        assert!(
            (1..=7).contains(&records.len()),
            "batch of {}",
            records.len()
        );
        let shard = records[0]["eventID"]
            .as_str()
            .and_then(|id| id.split_once(':'))
            .map(|(shard, _)| shard.to_owned())
            .expect("an event id");
        for (record, data) in records.iter().zip(data_of(&event)) {
            let sequence_number = record["kinesis"]["sequenceNumber"]
                .as_str()
                .expect("a sequence number");
            assert_eq!(record["eventID"], format!("{shard}:{sequence_number}"));
            assert_eq!(record["eventSource"], "aws:kinesis");
            assert_eq!(record["eventName"], "aws:kinesis:record");
            assert_eq!(record["eventVersion"], "1.0");
            assert_eq!(record["awsRegion"], "us-east-2");
            assert_eq!(record["eventSourceARN"], stream_arn.as_str());
            assert_eq!(record["invokeIdentityArn"], ROLE_ARN);
            assert!(
                record["kinesis"]["approximateArrivalTimestamp"].is_f64()
                    || record["kinesis"]["approximateArrivalTimestamp"].is_u64()
            );
            assert!(
                record["kinesis"]["partitionKey"]
                    .as_str()
                    .is_some_and(|k| k.starts_with("key-"))
            );
            assert_eq!(
                by_sequence.get(&(shard.clone(), sequence_number.to_owned())),
                Some(&data)
            );
            seen_per_shard
                .entry(shard.clone())
                .or_default()
                .push(sequence_number.to_owned());
        }
    }
    assert_eq!(seen_per_shard.len(), 2, "both shards delivered");
    for (shard, sequence_numbers) in seen_per_shard {
        // Decimal numbers of up to 128 digits (AWS's have 56): by length, then digit by digit.
        let numbers: Vec<(usize, &str)> = sequence_numbers
            .iter()
            .map(|s| (s.trim_start_matches('0').len(), s.trim_start_matches('0')))
            .collect();
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "{shard} out of order: {numbers:?}"
        );
        let expected = puts.iter().filter(|p| p.shard_id == shard).count();
        assert_eq!(
            numbers.len(),
            expected,
            "{shard} delivered each record once"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_is_bisected_out_retried_and_described_to_the_queue() {
    let aws = moto().await;
    let stream_arn = stream(&aws, "poisoned", 1).await;
    let (queue_url, queue_arn) = queue(&aws, "processor-dlq").await;
    let data: Vec<String> = (0..8).map(|i| format!("event-{i}")).collect();
    let puts = put(&aws, "poisoned", &data).await;
    let (function, calls) = scripted(|event| {
        if data_of(event).iter().any(|d| d == "event-5") {
            Err(InvokeError::function("WriteFailed", "cannot write event-5"))
        } else {
            Ok(json!({"batchItemFailures": []}))
        }
    });
    let mapping = start(
        &aws,
        &template_config(&stream_arn, Some(queue_arn)),
        function,
    )
    .await;
    let messages = receive(&aws, &queue_url, 1, WITHIN).await;
    mapping.stop().await;

    let batches: Vec<Vec<String>> = calls_of(&calls).iter().map(data_of).collect();
    let names = |range: std::ops::Range<usize>| -> Vec<String> {
        range.map(|i| format!("event-{i}")).collect()
    };
    assert_eq!(
        batches,
        [
            names(0..8),
            names(0..4),
            names(4..8),
            names(4..6),
            names(4..5),
            names(5..6),
            names(5..6),
            names(5..6),
            names(5..6),
            names(6..8),
        ]
    );
    assert_eq!(messages.len(), 1);
    let record: InvocationRecord =
        serde_json::from_str(&messages[0]).expect("an invocation record");
    let poison = &puts[5];
    assert_eq!(record.version, "1.0");
    assert_eq!(record.request_context.function_arn, FUNCTION_ARN);
    assert_eq!(record.request_context.condition, "RetryAttemptsExhausted");
    assert_eq!(record.request_context.approximate_invoke_count, 4);
    assert_eq!(record.response_context.status_code, 200);
    assert_eq!(
        record.response_context.function_error.as_deref(),
        Some("Unhandled")
    );
    let info = &record.kinesis_batch_info;
    assert_eq!(info.shard_id, poison.shard_id);
    assert_eq!(info.start_sequence_number, poison.sequence_number);
    assert_eq!(info.end_sequence_number, poison.sequence_number);
    assert_eq!(info.batch_size, 1);
    assert_eq!(info.stream_arn, stream_arn);
    for instant in [
        &info.approximate_arrival_of_first_record,
        &info.approximate_arrival_of_last_record,
        &record.timestamp,
    ] {
        assert!(
            chrono::DateTime::parse_from_rfc3339(instant).is_ok() && instant.ends_with('Z'),
            "{instant}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_failures_resume_from_the_lowest_and_exhausted_ones_reach_the_queue() {
    let aws = moto().await;
    let stream_arn = stream(&aws, "partial", 1).await;
    let (queue_url, queue_arn) = queue(&aws, "partial-dlq").await;
    let data: Vec<String> = (0..6).map(|i| format!("event-{i}")).collect();
    let puts = put(&aws, "partial", &data).await;
    let stuck = puts[3].sequence_number.clone();
    let also = puts[4].sequence_number.clone();
    let (function, calls) = scripted(move |event| {
        let sequence_numbers: Vec<&str> = event["Records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["kinesis"]["sequenceNumber"].as_str())
            .collect();
        let failed: Vec<Value> = [&also, &stuck]
            .into_iter()
            .filter(|s| sequence_numbers.contains(&s.as_str()))
            .map(|s| json!({"itemIdentifier": s}))
            .collect();
        Ok(json!({ "batchItemFailures": failed }))
    });
    let mapping = start(
        &aws,
        &template_config(&stream_arn, Some(queue_arn)),
        function,
    )
    .await;
    let messages = receive(&aws, &queue_url, 1, WITHIN).await;
    mapping.stop().await;

    let batches: Vec<Vec<String>> = calls_of(&calls).iter().map(data_of).collect();
    assert_eq!(batches[0], data);
    assert!(
        batches[1..].iter().all(|b| b[..] == data[3..]),
        "{batches:?}"
    );
    assert_eq!(batches.len(), 4, "the first invocation and three retries");
    let record: InvocationRecord =
        serde_json::from_str(&messages[0]).expect("an invocation record");
    assert_eq!(record.response_context.function_error, None);
    assert_eq!(record.request_context.approximate_invoke_count, 4);
    assert_eq!(
        record.kinesis_batch_info.start_sequence_number,
        puts[3].sequence_number
    );
    assert_eq!(
        record.kinesis_batch_info.end_sequence_number,
        puts[5].sequence_number
    );
    assert_eq!(record.kinesis_batch_info.batch_size, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_delivers_only_what_is_put_after_the_start() {
    let aws = moto().await;
    let stream_arn = stream(&aws, "latest", 1).await;
    put(&aws, "latest", &["before".to_owned()]).await;
    let (function, calls) = scripted(|_| Ok(Value::Null));
    let config = EventSourceMappingConfig::new(
        &stream_arn,
        FUNCTION_ARN,
        ROLE_ARN,
        StartingPosition::Latest,
    );
    let mapping = start(&aws, &config, function).await;
    put(&aws, "latest", &["after".to_owned()]).await;
    eventually(WITHIN, "the record put after the start", || async {
        !calls_of(&calls).is_empty()
    })
    .await;
    mapping.stop().await;
    let delivered: Vec<String> = calls_of(&calls).iter().flat_map(data_of).collect();
    assert_eq!(delivered, ["after"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_queue_or_stream_stops_the_start() {
    let aws = moto().await;
    let stream_arn = stream(&aws, "present", 1).await;
    let (function, _) = scripted(|_| Ok(Value::Null));
    let missing_queue = template_config(
        &stream_arn,
        Some("arn:aws:sqs:us-east-2:123456789012:absent".to_owned()),
    );
    let error = EventSourceMapping::start(
        &missing_queue,
        function.clone(),
        aws.kinesis.clone(),
        aws.sqs.clone(),
        POLL,
    )
    .await
    .expect_err("no queue");
    assert!(
        matches!(&error, local_runtime::esm::StartError::Destination { name, .. } if name == "absent"),
        "{error}"
    );
    let missing_stream =
        template_config("arn:aws:kinesis:us-east-2:123456789012:stream/absent", None);
    let error = EventSourceMapping::start(
        &missing_stream,
        function,
        aws.kinesis.clone(),
        aws.sqs.clone(),
        POLL,
    )
    .await
    .expect_err("no stream");
    assert!(
        error.to_string().starts_with(
            "cannot list the shards of stream arn:aws:kinesis:us-east-2:123456789012:stream/absent"
        ),
        "{error}"
    );
}

/// The batch info of records `range` of `puts`, as a discard would describe them.
fn batch_info(
    stream_arn: &str,
    puts: &[common::Put],
    range: std::ops::Range<usize>,
) -> local_runtime::esm::KinesisBatchInfo {
    local_runtime::esm::KinesisBatchInfo {
        shard_id: puts[range.start].shard_id.clone(),
        start_sequence_number: puts[range.start].sequence_number.clone(),
        end_sequence_number: puts[range.end - 1].sequence_number.clone(),
        approximate_arrival_of_first_record: "2026-01-01T00:00:00.000Z".to_owned(),
        approximate_arrival_of_last_record: "2026-01-01T00:00:00.000Z".to_owned(),
        batch_size: range.len(),
        stream_arn: stream_arn.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_passes_exactly_the_named_range_through_the_function_in_batches() {
    let aws = moto().await;
    let stream_arn = stream(&aws, "redriven", 1).await;
    let data: Vec<String> = (0..10).map(|i| format!("event-{i}")).collect();
    let puts = put(&aws, "redriven", &data).await;
    let config = EventSourceMappingConfig {
        batch_size: 3,
        ..template_config(&stream_arn, None)
    };
    let (function, calls) = scripted(|_| Ok(json!({"batchItemFailures": []})));
    let redriven = local_runtime::esm::redrive(
        &config,
        function.as_ref(),
        &aws.kinesis,
        &batch_info(&stream_arn, &puts, 3..7),
    )
    .await
    .expect("the redrive goes through");
    assert_eq!(
        redriven,
        local_runtime::esm::Redriven {
            records: 4,
            invocations: 2
        }
    );
    let batches: Vec<Vec<String>> = calls_of(&calls).iter().map(data_of).collect();
    assert_eq!(batches, [data[3..6].to_vec(), data[6..7].to_vec()]);
    let first = &calls_of(&calls)[0]["Records"][0];
    assert_eq!(
        first["eventID"],
        format!("{}:{}", puts[3].shard_id, puts[3].sequence_number)
    );
    assert_eq!(first["invokeIdentityArn"], ROLE_ARN);
    assert_eq!(first["eventSourceARN"], stream_arn.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_stops_at_the_first_failure_and_names_where() {
    use local_runtime::esm::{RedriveError, redrive};
    let aws = moto().await;
    let stream_arn = stream(&aws, "redrive-failing", 1).await;
    let data: Vec<String> = (0..6).map(|i| format!("event-{i}")).collect();
    let puts = put(&aws, "redrive-failing", &data).await;
    let config = EventSourceMappingConfig {
        batch_size: 2,
        ..template_config(&stream_arn, None)
    };
    let whole = batch_info(&stream_arn, &puts, 0..6);

    let failing = puts[3].sequence_number.clone();
    let (reporting, calls) = scripted(move |event| {
        let reported: Vec<Value> = event["Records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["kinesis"]["sequenceNumber"] == failing.as_str())
            .map(|r| json!({"itemIdentifier": r["kinesis"]["sequenceNumber"]}))
            .collect();
        Ok(json!({ "batchItemFailures": reported }))
    });
    let error = redrive(&config, reporting.as_ref(), &aws.kinesis, &whole)
        .await
        .expect_err("an item failure");
    assert!(
        matches!(&error, RedriveError::ItemFailures { from_sequence_number, records_left: 3, .. }
            if *from_sequence_number == puts[3].sequence_number),
        "{error}"
    );
    assert_eq!(calls_of(&calls).len(), 2, "no batch after the failing one");

    let (failing_function, calls) =
        scripted(|_| Err(InvokeError::function("Unhandled", "cannot write")));
    let error = redrive(&config, failing_function.as_ref(), &aws.kinesis, &whole)
        .await
        .expect_err("a function error");
    assert!(
        matches!(&error, RedriveError::FunctionFailed { from_sequence_number, records_left: 6, .. }
            if *from_sequence_number == puts[0].sequence_number),
        "{error}"
    );
    assert_eq!(calls_of(&calls).len(), 1);

    let (function, calls) = scripted(|_| Ok(Value::Null));
    let mut overstated = batch_info(&stream_arn, &puts, 1..3);
    overstated.batch_size = 5;
    let error = redrive(&config, function.as_ref(), &aws.kinesis, &overstated)
        .await
        .expect_err("records missing");
    assert!(
        matches!(
            error,
            RedriveError::Incomplete {
                expected: 5,
                found: 2,
                ..
            }
        ),
        "{error}"
    );
    let mut elsewhere = batch_info(&stream_arn, &puts, 1..3);
    elsewhere.stream_arn = "arn:aws:kinesis:us-east-2:123456789012:stream/other".to_owned();
    let error = redrive(&config, function.as_ref(), &aws.kinesis, &elsewhere)
        .await
        .expect_err("another stream");
    assert!(matches!(error, RedriveError::OtherStream { .. }), "{error}");
    assert!(calls_of(&calls).is_empty(), "nothing invoked");
}
