//! The stream processor's handler against in-memory fakes: the metrics table (`MemoryTable`),
//! the alert topic and the metrics sink. Time is tokio's paused clock, so backoffs and
//! deadlines cost no real time.

use std::time::Duration;

use aws_lambda_events::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_lambda_events::streams::KinesisEventResponse;
use aws_sdk_dynamodb::types::AttributeValue;
use event_contract::Severity;
use event_contract::alert::MAX_SNS_MESSAGE_BYTES;
use event_contract::alert::memory::MemoryTopic;
use event_contract::backoff::Backoff;
use event_contract::emf::memory::MemoryMetrics;
use event_contract::store::memory::{Behaviour, MemoryTable};
use serde_json::{Value, json};
use stream_processor::Processor;
use tokio::time::Instant;

const FIXTURE: &str = include_str!("fixtures/kinesis-event.json");

type TestProcessor = Processor<MemoryTable, MemoryTopic, MemoryMetrics>;

fn processor(table: MemoryTable, topic: MemoryTopic) -> TestProcessor {
    Processor::new(table, topic, MemoryMetrics::default(), Backoff::default())
}

fn fixture() -> KinesisEvent {
    match serde_json::from_str(FIXTURE) {
        Ok(event) => event,
        Err(e) => panic!("tests/fixtures/kinesis-event.json does not parse: {e}"),
    }
}

/// A record like the fixture's first, with this data and sequence number.
fn record(data: impl Into<Vec<u8>>, sequence_number: usize) -> KinesisEventRecord {
    let mut record = fixture().records.remove(0);
    let seq = format!("4959{sequence_number:052}");
    record.event_id = Some(format!("shardId-000000000002:{seq}"));
    record.kinesis.sequence_number = seq;
    *record.kinesis.data = data.into();
    record
}

fn batch(records: Vec<KinesisEventRecord>) -> KinesisEvent {
    let mut event = fixture();
    event.records = records;
    event
}

fn valid(n: usize) -> Vec<u8> {
    json!({"event_type": "heartbeat", "timestamp": "2024-11-06T12:00:00Z", "payload": {"n": n}})
        .to_string()
        .into_bytes()
}

fn with_id(id: &str, n: usize) -> Vec<u8> {
    json!({"event_type": "heartbeat", "timestamp": "2024-11-06T12:00:00Z", "event_id": id, "payload": {"n": n}})
        .to_string()
        .into_bytes()
}

fn failures(response: &KinesisEventResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .filter_map(|f| f.item_identifier.clone())
        .collect()
}

fn seq(n: usize) -> String {
    format!("4959{n:052}")
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(300)
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

#[test]
fn the_kinesis_fixture_round_trips_through_the_event_types() {
    let event = fixture();
    assert_eq!(event.records.len(), 3);
    let first = &event.records[0];
    assert_eq!(
        first.kinesis.sequence_number,
        "49590338271490256608559692538361571095921575989136588898"
    );
    assert_eq!(
        first.kinesis.approximate_arrival_timestamp.0.timestamp(),
        1_730_894_400
    );
    assert!(
        first
            .kinesis
            .data
            .0
            .starts_with(br#"{"event_type":"session_started""#)
    );
    assert_eq!(event.records[2].kinesis.data.0, b"Hello, this is a test.");

    let json = serde_json::to_value(&event).unwrap_or_default();
    let again: KinesisEvent = serde_json::from_value(json.clone()).unwrap_or_default();
    assert_eq!(again, event);
    // What the fixture said, the serialized event says too (it may add defaults); the arrival
    // time comes back as a string, and the typed comparison above covers it.
    let original: Value = serde_json::from_str(FIXTURE).unwrap_or_default();
    for (i, record) in original["Records"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        for (field, value) in record
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(f, _)| *f != "kinesis")
        {
            assert_eq!(&json["Records"][i][field], value, "{field}");
        }
        for (field, value) in record["kinesis"].as_object().into_iter().flatten() {
            if field != "approximateArrivalTimestamp" {
                assert_eq!(&json["Records"][i]["kinesis"][field], value, "{field}");
            }
        }
    }
}

/// A canary: aws_lambda_events 1.2 reads an arrival time's fraction as milliseconds whatever
/// its length (`.5` as 5 ms; `.123456` would not deserialize at all), which is why items keep
/// `received_at` to the second. When this fails, upstream fixed it: store milliseconds again.
#[test]
fn aws_lambda_events_still_misreads_short_arrival_fractions() {
    let arrival = |text: &str| {
        let json = FIXTURE.replace("1730894400.987", text);
        let event: Result<KinesisEvent, _> = serde_json::from_str(&json);
        event.map(|e| {
            e.records[0]
                .kinesis
                .approximate_arrival_timestamp
                .0
                .timestamp_subsec_millis()
        })
    };
    assert_eq!(arrival("1730894400.5").ok(), Some(5));
    assert_eq!(
        arrival("1730894400.987").ok(),
        Some(987),
        "three digits, as Kinesis sends them, are right"
    );
}

#[test]
fn the_response_serializes_as_lambda_expects() {
    let mut response = KinesisEventResponse::default();
    response.add_failure("4959");
    assert_eq!(
        serde_json::to_value(&response).ok(),
        Some(json!({"batchItemFailures": [{"itemIdentifier": "4959"}]}))
    );
    assert_eq!(
        serde_json::to_value(KinesisEventResponse::default()).ok(),
        Some(json!({"batchItemFailures": []}))
    );
}

#[tokio::test(start_paused = true)]
async fn the_fixture_batch_stores_the_valid_event_and_reports_the_two_malformed_ones() {
    let p = processor(MemoryTable::accepting(), MemoryTopic::default());
    let response = p.process(fixture(), far()).await;
    assert!(failures(&response).is_empty());

    let (table, topic, metrics) = (p_table(&p), p_topic(&p), p_metrics(&p));
    let items = table.items();
    let key = "shardId-000000000006#49590338271490256608559692538361571095921575989136588898";
    let item = items
        .get(key)
        .unwrap_or_else(|| panic!("no item {key}: {:?}", items.keys()));
    assert_eq!(items.len(), 1);
    assert_eq!(item.get("pk"), Some(&s(key)));
    assert_eq!(item.get("event_type"), Some(&s("session_started")));
    assert_eq!(item.get("timestamp"), Some(&s("2024-11-06T12:00:00Z")));
    assert_eq!(item.get("received_at"), Some(&s("2024-11-06T12:00:00Z")));
    assert_eq!(item.get("ingest_path"), Some(&s("kinesis")));
    let payload = item
        .get("payload")
        .and_then(|p| p.as_m().ok())
        .cloned()
        .unwrap_or_default();
    assert_eq!(payload.get("session_id"), Some(&s("test-123")));
    let metrics_attr = item
        .get("metrics")
        .and_then(|m| m.as_m().ok())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        metrics_attr.get("iops"),
        Some(&AttributeValue::N("50000".to_owned()))
    );
    assert_eq!(
        metrics_attr.get("latency"),
        Some(&AttributeValue::N("5.2".to_owned()))
    );

    let attempts = topic.attempts();
    assert_eq!(attempts.len(), 1, "one message per batch");
    let alert = &attempts[0];
    assert_eq!(alert.severity, Severity::Critical);
    let message: Value = serde_json::from_str(&alert.message).unwrap_or_default();
    assert_eq!(message["by_severity"], json!({"error": 1, "critical": 1}));
    let events = message["events"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[0]["sequence_number"],
        json!("49590338271490256608559692540925702759324208523137515618")
    );
    assert_eq!(events[0]["shard_id"], json!("shardId-000000000006"));
    assert_eq!(events[0]["event_type"], json!("invalid_type"));
    assert_eq!(events[0]["severity"], json!("error"));
    let paths: Vec<_> = events[0]["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["path"].clone())
        .collect();
    assert_eq!(
        paths,
        [json!("/event_type"), json!("/timestamp"), json!("/payload")]
    );
    assert_eq!(events[1]["event_type"], Value::Null);
    assert_eq!(events[1]["severity"], json!("critical"));
    assert_eq!(events[1]["sample"], json!("Hello, this is a test."));

    let docs = metrics.documents();
    assert_eq!(docs.len(), 4);
    assert_eq!(
        (
            docs[0]["ProcessedEvents"].clone(),
            docs[0]["MalformedEvents"].clone()
        ),
        (json!(3), json!(2))
    );
    assert_eq!(
        docs[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([[]])
    );
}

#[tokio::test(start_paused = true)]
async fn the_alert_and_the_metrics_name_the_stream_processor() {
    let p = processor(MemoryTable::accepting(), MemoryTopic::default());
    p.process(fixture(), far()).await;
    let attempts = p_topic(&p).attempts();
    let message: Value = serde_json::from_str(&attempts[0].message).unwrap_or_default();
    assert_eq!(message["component"], json!("stream-processor"));
    assert_eq!(message["records_in_batch"], json!(3));
    assert!(message.get("suppressed").is_none());
    let docs = p_metrics(&p).documents();
    assert_eq!(docs[0]["Component"], json!("stream-processor"));
    assert_eq!(
        docs[0]["_aws"]["CloudWatchMetrics"][1]["Dimensions"],
        json!([["Component"]])
    );
    assert_eq!(
        docs[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        json!(event_contract::metrics::NAMESPACE)
    );
}

// The processor keeps its dependencies private; these reach them for assertions.
fn p_table(p: &TestProcessor) -> &MemoryTable {
    p.dependencies().0
}
fn p_topic(p: &TestProcessor) -> &MemoryTopic {
    p.dependencies().1
}
fn p_metrics(p: &TestProcessor) -> &MemoryMetrics {
    p.dependencies().2
}

#[tokio::test(start_paused = true)]
async fn a_batch_of_100_goes_to_the_table_in_chunks_of_25() {
    let records = (0..100).map(|i| record(valid(i), i)).collect();
    let p = processor(MemoryTable::accepting(), MemoryTopic::default());
    let response = p.process(batch(records), far()).await;
    assert!(failures(&response).is_empty());
    let sizes: Vec<_> = p_table(&p).calls().iter().map(Vec::len).collect();
    assert_eq!(sizes, [25, 25, 25, 25]);
    assert_eq!(p_table(&p).items().len(), 100);
    assert!(
        p_topic(&p).attempts().is_empty(),
        "no malformed record, no alert"
    );
    assert_eq!(p_metrics(&p).documents()[0]["ProcessedEvents"], json!(100));
}

#[tokio::test(start_paused = true)]
async fn a_replayed_batch_overwrites_its_items_and_never_duplicates() {
    let records: Vec<_> = (0..30)
        .map(|i| {
            if i % 2 == 0 {
                record(valid(i), i)
            } else {
                record(with_id(&format!("e-{i}"), i), i)
            }
        })
        .collect();
    let p = processor(MemoryTable::accepting(), MemoryTopic::default());
    p.process(batch(records.clone()), far()).await;
    let first = p_table(&p).items();
    p.process(batch(records), far()).await;
    let second = p_table(&p).items();
    assert_eq!(first.len(), 30);
    assert_eq!(
        first.keys().collect::<std::collections::BTreeSet<_>>(),
        second.keys().collect()
    );
    assert!(second.contains_key("e-1"));
    assert!(second.contains_key(&format!("shardId-000000000002#{}", seq(0))));
}

#[tokio::test(start_paused = true)]
async fn writes_that_still_fail_after_retries_fail_exactly_their_records() {
    // 5 malformed records interleaved with 10 valid ones; the table never processes the first
    // two items of a call.
    let mut records = Vec::new();
    for i in 0..15 {
        records.push(if i % 3 == 2 {
            record(b"{not json".to_vec(), i)
        } else {
            record(valid(i), i)
        });
    }
    let table = MemoryTable::new(vec![Behaviour::LeaveUnprocessed(2)]);
    let backoff = Backoff {
        max_retries: 3,
        ..Backoff::default()
    };
    let p = Processor::new(
        table,
        MemoryTopic::default(),
        MemoryMetrics::default(),
        backoff,
    );
    let response = p.process(batch(records), far()).await;
    // The first two valid records (0 and 1) stay unprocessed through every retry.
    assert_eq!(failures(&response), [seq(0), seq(1)]);
    assert_eq!(p_table(&p).items().len(), 8);
    assert_eq!(
        p_table(&p).calls().len(),
        4,
        "one attempt and three retries"
    );
    assert_eq!(
        p_topic(&p).attempts().len(),
        1,
        "the malformed records are reported, not failed"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_chunk_fails_its_records_and_no_malformed_one() {
    let mut records: Vec<_> = (0..30).map(|i| record(valid(i), i)).collect();
    records.push(record(b"[]".to_vec(), 30));
    let table = MemoryTable::new(vec![
        Behaviour::Accept,
        Behaviour::Fail { retryable: false },
    ]);
    let p = processor(table, MemoryTopic::default());
    let response = p.process(batch(records), far()).await;
    assert_eq!(failures(&response), (25..30).map(seq).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn a_throttled_table_is_retried_until_the_deadline_then_every_valid_record_fails() {
    let mut records: Vec<_> = (0..40).map(|i| record(valid(i), i)).collect();
    records.push(record(b"oops".to_vec(), 40));
    let table = MemoryTable::new(vec![Behaviour::Fail { retryable: true }]);
    let backoff = Backoff {
        max_retries: u32::MAX,
        ..Backoff::default()
    };
    let p = Processor::new(
        table,
        MemoryTopic::default(),
        MemoryMetrics::default(),
        backoff,
    );
    let start = Instant::now();
    let deadline = start + Duration::from_secs(20);
    let response = p.process(batch(records), deadline).await;
    assert!(
        Instant::now() <= deadline,
        "answered {:?} after the deadline",
        Instant::now() - deadline
    );
    assert!(
        Instant::now() - start > Duration::from_secs(10),
        "gave up early, after {:?}",
        Instant::now() - start
    );
    assert_eq!(failures(&response), (0..40).map(seq).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn records_sharing_an_event_id_are_written_once_and_fail_together() {
    let records = vec![
        record(with_id("dup", 1), 0),
        record(valid(2), 1),
        record(with_id("dup", 3), 2),
    ];
    let p = processor(MemoryTable::accepting(), MemoryTopic::default());
    let response = p.process(batch(records.clone()), far()).await;
    assert!(failures(&response).is_empty());
    let items = p_table(&p).items();
    assert_eq!(items.len(), 2);
    let payload = items
        .get("dup")
        .and_then(|i| i.get("payload"))
        .and_then(|p| p.as_m().ok())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        payload.get("n"),
        Some(&AttributeValue::N("3".to_owned())),
        "the later record wins"
    );

    let table = MemoryTable::new(vec![Behaviour::Fail { retryable: false }]);
    let p = processor(table, MemoryTopic::default());
    let response = p.process(batch(records), far()).await;
    assert_eq!(failures(&response), [seq(0), seq(1), seq(2)]);
}

#[tokio::test(start_paused = true)]
async fn warnings_are_stored_counted_and_not_alerted() {
    let old =
        json!({"event_type": "heartbeat", "timestamp": "2024-11-01T00:00:00Z", "payload": {}})
            .to_string();
    let p = processor(MemoryTable::accepting(), MemoryTopic::default());
    let response = p
        .process(batch(vec![record(old, 0), record(valid(1), 1)]), far())
        .await;
    assert!(failures(&response).is_empty());
    assert_eq!(p_table(&p).items().len(), 2);
    assert!(p_topic(&p).attempts().is_empty());
    let docs = p_metrics(&p).documents();
    assert_eq!(docs[0]["MalformedEvents"], json!(0));
    assert_eq!(
        (
            docs[1]["Severity"].clone(),
            docs[1]["ProcessedEvents"].clone()
        ),
        (json!("warning"), json!(1))
    );
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_topic_is_retried_then_fails_no_record() {
    let records = vec![record(valid(0), 0), record(b"garbage".to_vec(), 1)];
    let p = processor(
        MemoryTable::accepting(),
        MemoryTopic::failing(usize::MAX, true),
    );
    let response = p.process(batch(records), far()).await;
    assert!(
        failures(&response).is_empty(),
        "a malformed record is never a batch item failure"
    );
    assert_eq!(
        p_topic(&p).attempts().len(),
        1 + Backoff::default().max_retries as usize
    );
    assert_eq!(p_table(&p).items().len(), 1);
    assert_eq!(p_metrics(&p).documents()[0]["MalformedEvents"], json!(1));
}

#[tokio::test(start_paused = true)]
async fn a_topic_that_recovers_gets_the_alert_once() {
    let p = processor(MemoryTable::accepting(), MemoryTopic::failing(2, true));
    p.process(batch(vec![record(b"garbage".to_vec(), 0)]), far())
        .await;
    assert_eq!(p_topic(&p).attempts().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_topic_that_never_answers_does_not_keep_the_function_past_its_deadline() {
    let topic = MemoryTopic::stalling(Duration::from_secs(3600));
    let p = processor(MemoryTable::accepting(), topic);
    let deadline = Instant::now() + Duration::from_secs(5);
    let response = p
        .process(
            batch(vec![record(valid(0), 0), record(b"garbage".to_vec(), 1)]),
            deadline,
        )
        .await;
    assert!(
        Instant::now() < deadline,
        "answered {:?} after the deadline",
        Instant::now() - deadline
    );
    assert!(failures(&response).is_empty());
    assert_eq!(p_table(&p).items().len(), 1);
    assert_eq!(
        p_metrics(&p).documents().len(),
        4,
        "the metrics are still emitted"
    );
}

#[tokio::test(start_paused = true)]
async fn a_table_that_never_answers_fails_the_valid_records_in_time_and_does_not_hold_up_the_alert()
{
    let topic = MemoryTopic::stalling(Duration::from_secs(1));
    let p = processor(
        MemoryTable::new(vec![Behaviour::Stall(Duration::from_secs(3600))]),
        topic,
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let response = p
        .process(
            batch(vec![
                record(valid(0), 0),
                record(b"garbage".to_vec(), 1),
                record(valid(2), 2),
            ]),
            deadline,
        )
        .await;
    assert!(
        Instant::now() < deadline,
        "answered {:?} after the deadline",
        Instant::now() - deadline
    );
    assert_eq!(failures(&response), [seq(0), seq(2)]);
    assert_eq!(
        p_topic(&p).attempts().len(),
        1,
        "the alert went out while the writes waited"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_alert_is_not_retried() {
    let p = processor(
        MemoryTable::accepting(),
        MemoryTopic::failing(usize::MAX, false),
    );
    p.process(batch(vec![record(b"garbage".to_vec(), 0)]), far())
        .await;
    assert_eq!(p_topic(&p).attempts().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_batch_of_large_malformed_records_sends_one_alert_under_the_sns_limit() {
    // 100 records of about 1 MiB each, every one malformed in many places.
    let mut big = json!({"event_type": "nope", "payload": {}});
    for i in 0..40 {
        big["payload"][format!("field-{i:04}-{}", "k".repeat(200))] = json!(1e200);
    }
    big["padding"] = json!("x".repeat(1000 * 1000));
    let data = big.to_string();
    let records = (0..100).map(|i| record(data.clone(), i)).collect();
    let p = processor(MemoryTable::accepting(), MemoryTopic::default());
    let response = p.process(batch(records), far()).await;
    assert!(failures(&response).is_empty());
    let attempts = p_topic(&p).attempts();
    assert_eq!(attempts.len(), 1);
    let alert = &attempts[0];
    assert!(
        alert.message.len() + alert.subject.len() + 64 <= MAX_SNS_MESSAGE_BYTES,
        "{}",
        alert.message.len()
    );
    let message: Value = serde_json::from_str(&alert.message).unwrap_or_default();
    assert_eq!(message["malformed"], json!(100));
    let listed = message["listed"].as_u64().unwrap_or_default();
    assert_eq!(
        listed + message["not_listed"].as_u64().unwrap_or_default(),
        100
    );
    assert!(listed >= 1);
    assert!(
        message["events"][0]["sample"]
            .as_str()
            .is_some_and(|s| s.len() < 300)
    );
}

#[tokio::test(start_paused = true)]
async fn the_lambda_handler_takes_its_deadline_from_the_context() {
    let p = processor(
        MemoryTable::new(vec![Behaviour::Fail { retryable: true }]),
        MemoryTopic::default(),
    );
    let mut context = lambda_runtime::Context::default();
    // A deadline already past: no chunk is sent, every valid record fails at once.
    context.deadline = 0;
    let event = lambda_runtime::LambdaEvent::new(batch(vec![record(valid(0), 0)]), context);
    let response = p.handle(event).await.unwrap_or_default();
    assert_eq!(failures(&response), [seq(0)]);
    assert!(p_table(&p).calls().is_empty());
}
