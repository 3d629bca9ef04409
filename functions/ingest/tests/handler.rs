//! Ingest's handler against in-memory fakes of the stream, the table, the refused bodies'
//! bucket, the alert topic and the metrics sink, fed real API Gateway proxy events. Time is
//! tokio's paused clock, so backoffs, deadlines and the alert interval cost no real time.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use event_contract::alert::memory::MemoryTopic;
use event_contract::backoff::Backoff;
use event_contract::emf::memory::MemoryMetrics;
use event_contract::store::memory::{Behaviour, MemoryTable};
use ingest::handler::{MAX_BODY_BYTES, MAX_EVENTS, REPORT_BUDGET};
use ingest::kinesis::{KinesisSink, OutRecord, SinkError};
use ingest::refused::{RefusedObject, RefusedStore, RefusedStoreError};
use ingest::{Incoming, Ingest, Reply, Reporters, Sink};
use lambda_http::aws_lambda_events::apigw::ApiGatewayProxyRequest;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use proptest::prelude::*;
use serde_json::{Value, json};
use tokio::time::Instant;

const FIXTURE: &str = include_str!("fixtures/apigw-post-metrics.json");
const FIXTURE_BASE64: &str = include_str!("fixtures/apigw-post-metrics-base64.json");
const REQUEST_ID: &str = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef";

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the fake stream does with one `PutRecords` call.
#[derive(Debug, Clone)]
enum Put {
    /// Put every record.
    Accept,
    /// Refuse the records at these positions of the call with this error code, put the rest.
    FailRecords(Vec<usize>, &'static str),
    /// Fail the whole call.
    FailCall { retryable: bool },
    /// Answer only after this long (on tokio's clock), then put every record.
    Stall(Duration),
}

/// The events stream in memory: call `n` follows `script[n]`, the last entry repeating.
#[derive(Debug, Default)]
struct FakeStream {
    script: Vec<Put>,
    calls: Mutex<Vec<Vec<OutRecord>>>,
    stream: Mutex<Vec<OutRecord>>,
}

impl FakeStream {
    fn new(script: Vec<Put>) -> Self {
        FakeStream {
            script,
            ..FakeStream::default()
        }
    }

    fn calls(&self) -> Vec<Vec<OutRecord>> {
        lock(&self.calls).clone()
    }

    fn records(&self) -> Vec<OutRecord> {
        lock(&self.stream).clone()
    }
}

impl KinesisSink for FakeStream {
    async fn put_records(&self, records: &[OutRecord]) -> Result<Vec<Option<String>>, SinkError> {
        assert!(
            records.len() <= 500,
            "{} records in one call",
            records.len()
        );
        let behaviour = {
            let mut calls = lock(&self.calls);
            calls.push(records.to_vec());
            self.script
                .get(calls.len() - 1)
                .or(self.script.last())
                .cloned()
                .unwrap_or(Put::Accept)
        };
        let failing = match behaviour {
            Put::Accept => (Vec::new(), ""),
            Put::Stall(wait) => {
                tokio::time::sleep(wait).await;
                (Vec::new(), "")
            }
            Put::FailRecords(positions, code) => (positions, code),
            Put::FailCall { retryable: true } => return Err(SinkError::retryable("throttled")),
            Put::FailCall { retryable: false } => return Err(SinkError::permanent("refused")),
        };
        let mut stream = lock(&self.stream);
        Ok(records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                if failing.0.contains(&i) {
                    Some(failing.1.to_owned())
                } else {
                    stream.push(r.clone());
                    None
                }
            })
            .collect())
    }
}

/// One object the fake bucket holds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Object {
    key: String,
    body: Vec<u8>,
    content_type: String,
    metadata: HashMap<String, String>,
}

/// The refused bodies' bucket in memory: keeps every object put; fails every put when
/// `failing`; answers after `stall` (on tokio's clock).
#[derive(Debug, Default)]
struct FakeBucket {
    failing: bool,
    stall: Duration,
    objects: Mutex<Vec<Object>>,
}

impl FakeBucket {
    fn objects(&self) -> Vec<Object> {
        lock(&self.objects).clone()
    }
}

impl RefusedStore for FakeBucket {
    async fn put(&self, object: &RefusedObject<'_>) -> Result<(), RefusedStoreError> {
        tokio::time::sleep(self.stall).await;
        if self.failing {
            return Err(RefusedStoreError::new("access denied"));
        }
        lock(&self.objects).push(Object {
            key: object.key.to_owned(),
            body: object.body.to_vec(),
            content_type: object.content_type.to_owned(),
            metadata: object.metadata(),
        });
        Ok(())
    }
}

type KinesisIngest = Ingest<FakeStream, MemoryTable, FakeBucket, MemoryTopic, MemoryMetrics>;

const INTERVAL: Duration = Duration::from_secs(60);

fn reporters(
    bucket: FakeBucket,
    topic: MemoryTopic,
) -> Reporters<FakeBucket, MemoryTopic, MemoryMetrics> {
    Reporters {
        refused: bucket,
        alerts: topic,
        metrics: MemoryMetrics::default(),
        alert_interval: INTERVAL,
    }
}

fn to_stream(stream: FakeStream) -> KinesisIngest {
    Ingest::new(
        Sink::Kinesis(stream),
        reporters(FakeBucket::default(), MemoryTopic::accepting()),
        Backoff::default(),
    )
}

fn to_table(table: MemoryTable) -> KinesisIngest {
    Ingest::new(
        Sink::Direct(table),
        reporters(FakeBucket::default(), MemoryTopic::accepting()),
        Backoff::default(),
    )
}

fn bucket(ingest: &KinesisIngest) -> &FakeBucket {
    ingest.reporters().0
}

fn topic(ingest: &KinesisIngest) -> &MemoryTopic {
    ingest.reporters().1
}

fn metrics(ingest: &KinesisIngest) -> &MemoryMetrics {
    ingest.reporters().2
}

/// The messages the topic accepted, parsed.
fn alerts(ingest: &KinesisIngest) -> Vec<Value> {
    topic(ingest)
        .published()
        .iter()
        .map(|a| serde_json::from_str(&a.message).unwrap_or_default())
        .collect()
}

fn stream(ingest: &KinesisIngest) -> &FakeStream {
    match ingest.sink() {
        Sink::Kinesis(stream) => stream,
        Sink::Direct(_) => panic!("not the Kinesis path"),
    }
}

fn table(ingest: &KinesisIngest) -> &MemoryTable {
    match ingest.sink() {
        Sink::Direct(table) => table,
        Sink::Kinesis(_) => panic!("not the direct path"),
    }
}

/// The fixture request with another method, content type (or none) and body.
fn request(method: &str, content_type: Option<&str>, body: &str) -> Request {
    let mut event: Value = serde_json::from_str(FIXTURE).unwrap_or_default();
    event["httpMethod"] = json!(method);
    match content_type {
        Some(ct) => {
            event["headers"]["Content-Type"] = json!(ct);
            event["multiValueHeaders"]["Content-Type"] = json!([ct]);
        }
        None => {
            event["headers"]
                .as_object_mut()
                .map(|h| h.remove("Content-Type"));
            event["multiValueHeaders"]
                .as_object_mut()
                .map(|h| h.remove("Content-Type"));
        }
    }
    event["body"] = json!(body);
    match lambda_http::request::from_str(&event.to_string()) {
        Ok(request) => request,
        Err(e) => panic!("not an API Gateway event: {e}"),
    }
}

fn post(body: &str) -> Request {
    request("POST", Some("application/json"), body)
}

async fn send(ingest: &KinesisIngest, request: Request) -> (StatusCode, Value, Response<Body>) {
    let response = match ingest.handle(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    (response.status(), body, response)
}

fn event(n: usize) -> Value {
    json!({"event_type": "heartbeat", "timestamp": Utc::now().to_rfc3339(), "payload": {"n": n}})
}

fn events(n: usize) -> String {
    Value::Array((0..n).map(event).collect()).to_string()
}

#[test]
fn the_api_gateway_fixtures_round_trip_through_the_event_types() {
    for fixture in [FIXTURE, FIXTURE_BASE64] {
        let event: ApiGatewayProxyRequest = serde_json::from_str(fixture).unwrap_or_default();
        assert_eq!(event.http_method, Method::POST);
        assert_eq!(
            event.request_context.request_id.as_deref(),
            Some(REQUEST_ID)
        );
        let again: ApiGatewayProxyRequest = serde_json::to_value(&event)
            .and_then(serde_json::from_value)
            .unwrap_or_default();
        assert_eq!(again, event);
    }
    let request = post("{}");
    assert_eq!(request.method(), Method::POST);
    // lambda_http builds the URI from the request context: the stage comes first.
    assert_eq!(request.uri().path(), "/prod/metrics");
}

#[tokio::test(start_paused = true)]
async fn the_spec_example_is_accepted_and_put_minified_keyed_by_session() {
    let ingest = to_stream(FakeStream::default());
    let request = lambda_http::request::from_str(FIXTURE).unwrap_or_else(|e| panic!("{e}"));
    let (status, body, response) = send(&ingest, request).await;
    assert_eq!(
        (status, body),
        (StatusCode::ACCEPTED, json!({"accepted": 1}))
    );
    assert_eq!(
        response.headers().get("content-type").map(|v| v.as_bytes()),
        Some(&b"application/json"[..])
    );
    let records = stream(&ingest).records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].partition_key, "test-123");
    let sent: ApiGatewayProxyRequest = serde_json::from_str(FIXTURE).unwrap_or_default();
    assert_eq!(
        String::from_utf8_lossy(&records[0].data),
        r#"{"event_type":"session_started","timestamp":"2024-11-06T12:00:00Z","payload":{"session_id":"test-123","user_id":"user-456"},"metrics":{"iops":50000,"latency":5.2,"errorRate":0.1}}"#,
        "the event is put as the client wrote it, on one line"
    );
    let sent: Value = serde_json::from_str(&sent.body.unwrap_or_default()).unwrap_or_default();
    let put: Value = serde_json::from_slice(&records[0].data).unwrap_or(Value::Null);
    assert_eq!(put, sent);
    assert!(
        bucket(&ingest).objects().is_empty() && topic(&ingest).attempts().is_empty(),
        "an accepted request is not reported"
    );
    assert!(
        metrics(&ingest).documents().is_empty(),
        "events put on the stream are the processor's to count"
    );
}

#[tokio::test(start_paused = true)]
async fn a_base64_encoded_body_is_decoded() {
    let ingest = to_stream(FakeStream::default());
    let request = lambda_http::request::from_str(FIXTURE_BASE64).unwrap_or_else(|e| panic!("{e}"));
    let (status, body, _) = send(&ingest, request).await;
    assert_eq!(
        (status, body),
        (StatusCode::ACCEPTED, json!({"accepted": 1}))
    );
    assert!(
        stream(&ingest).records()[0]
            .data
            .starts_with(br#"{"event_type":"session_started","timestamp""#)
    );
}

#[tokio::test(start_paused = true)]
async fn partition_keys_come_from_the_session_then_the_user_then_chance() {
    let now = Utc::now().to_rfc3339();
    let body = json!([
        {"event_type": "heartbeat", "timestamp": now, "payload": {"session_id": "s-1", "user_id": "u-1"}},
        {"event_type": "heartbeat", "timestamp": now, "payload": {"user_id": "u-2"}},
        {"event_type": "heartbeat", "timestamp": now, "payload": {}},
    ]);
    let ingest = to_stream(FakeStream::default());
    let (status, body, _) = send(&ingest, post(&body.to_string())).await;
    assert_eq!(
        (status, body),
        (StatusCode::ACCEPTED, json!({"accepted": 3}))
    );
    let keys: Vec<_> = stream(&ingest)
        .records()
        .into_iter()
        .map(|r| r.partition_key)
        .collect();
    assert_eq!(&keys[..2], ["s-1", "u-2"]);
    assert_eq!(keys[2].len(), 32);
}

#[tokio::test(start_paused = true)]
async fn an_array_of_500_events_goes_in_one_put_records() {
    let ingest = to_stream(FakeStream::default());
    let (status, body, _) = send(&ingest, post(&events(MAX_EVENTS))).await;
    assert_eq!(
        (status, body),
        (StatusCode::ACCEPTED, json!({"accepted": 500}))
    );
    let calls: Vec<_> = stream(&ingest).calls().iter().map(Vec::len).collect();
    assert_eq!(calls, [500]);
}

#[tokio::test(start_paused = true)]
async fn an_array_of_501_events_is_too_large() {
    let ingest = to_stream(FakeStream::default());
    let (status, body, _) = send(&ingest, post(&events(MAX_EVENTS + 1))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        body,
        json!({"error": "too many events", "limit": 500, "count": 501})
    );
    assert!(stream(&ingest).calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_body_over_5_mib_is_too_large() {
    let ingest = to_stream(FakeStream::default());
    let mut body = event(0).to_string();
    body.push_str(&" ".repeat(MAX_BODY_BYTES + 1 - body.len()));
    let (status, reply, _) = send(&ingest, post(&body)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply["error"], json!("body too large"));
    // One byte less is not too large (and the event, padded past 1 MiB, is critical).
    body.pop();
    let (status, reply, _) = send(&ingest, post(&body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reply["verdicts"][0]["severity"], json!("critical"));
    assert!(stream(&ingest).calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn any_malformed_event_refuses_the_request_with_every_verdict() {
    let mut bad = event(1);
    bad["metrics"] = json!({"iops": -1});
    let body = format!("[{}, {bad}, \"x\"]", event(0));
    let ingest = to_stream(FakeStream::default());
    let (status, reply, _) = send(&ingest, post(&body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reply["error"], json!("invalid events"));
    assert_eq!(
        reply["verdicts"],
        json!([
            {"index": 0, "valid": true, "severity": null, "errors": []},
            {"index": 1, "valid": false, "severity": "error", "errors": [{"path": "/metrics/iops", "message": "must be at least 0, found -1"}]},
            {"index": 2, "valid": false, "severity": "critical", "errors": [{"path": "", "message": "expected a JSON object, found string"}]},
        ])
    );
    assert!(
        stream(&ingest).calls().is_empty(),
        "nothing is stored from a refused request"
    );
}

#[tokio::test(start_paused = true)]
async fn the_spec_malformed_example_is_refused() {
    let ingest = to_stream(FakeStream::default());
    let (status, reply, _) = send(
        &ingest,
        post(r#"{"event_type": "invalid_type", "payload": "not_an_object"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let paths: Vec<_> = reply["verdicts"][0]["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["path"].clone())
        .collect();
    assert_eq!(
        paths,
        [json!("/event_type"), json!("/timestamp"), json!("/payload")]
    );
}

#[tokio::test(start_paused = true)]
async fn a_body_that_is_not_json_is_refused_as_a_whole() {
    let ingest = to_stream(FakeStream::default());
    for body in ["not json", "", "[{\"a\": 1}", "[1,]"] {
        let (status, reply, _) = send(&ingest, post(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}");
        assert_eq!(
            reply["verdicts"][0]["severity"],
            json!("critical"),
            "{body:?}"
        );
        assert_eq!(
            reply["verdicts"].as_array().map(Vec::len),
            Some(1),
            "{body:?}"
        );
    }
    let (_, reply, _) = send(&ingest, post("[1,]")).await;
    assert_eq!(reply["verdicts"][0]["index"], Value::Null);
}

#[tokio::test(start_paused = true)]
async fn an_empty_array_is_refused() {
    let ingest = to_stream(FakeStream::default());
    let (status, reply, _) = send(&ingest, post("[]")).await;
    assert_eq!(
        (status, reply),
        (
            StatusCode::BAD_REQUEST,
            json!({"error": "no events", "verdicts": []})
        )
    );
}

#[tokio::test(start_paused = true)]
async fn only_post_is_allowed() {
    let ingest = to_stream(FakeStream::default());
    for method in ["GET", "PUT", "DELETE", "OPTIONS"] {
        let (status, _, response) = send(
            &ingest,
            request(method, Some("application/json"), &event(0).to_string()),
        )
        .await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(
            response.headers().get("allow").map(|v| v.as_bytes()),
            Some(&b"POST"[..])
        );
    }
    assert!(stream(&ingest).calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn only_json_is_accepted() {
    let ingest = to_stream(FakeStream::default());
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let (status, _, _) = send(
            &ingest,
            request("POST", content_type, &event(0).to_string()),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
    }
    let (status, _, _) = send(
        &ingest,
        request(
            "POST",
            Some("application/json; charset=utf-8"),
            &event(0).to_string(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[tokio::test(start_paused = true)]
async fn events_with_warnings_are_accepted() {
    let ingest = to_stream(FakeStream::default());
    let old =
        json!({"event_type": "heartbeat", "timestamp": "2020-01-01T00:00:00Z", "payload": {}});
    let (status, reply, _) = send(&ingest, post(&old.to_string())).await;
    assert_eq!(
        (status, reply),
        (StatusCode::ACCEPTED, json!({"accepted": 1}))
    );
}

fn incoming<'a>(body: &'a str, request_id: &'a str) -> Incoming<'a> {
    Incoming {
        method: &Method::POST,
        content_type: Some("application/json"),
        body: body.as_bytes(),
        request_id,
    }
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(25)
}

#[tokio::test(start_paused = true)]
async fn records_put_records_reports_as_failed_are_retried_alone() {
    let ingest = to_stream(FakeStream::new(vec![
        Put::FailRecords(vec![1, 3], "ProvisionedThroughputExceededException"),
        Put::Accept,
    ]));
    let body = events(5);
    let reply = ingest
        .ingest(incoming(&body, REQUEST_ID), far(), Utc::now())
        .await;
    assert_eq!(
        (reply.status, reply.body),
        (StatusCode::ACCEPTED, json!({"accepted": 5}))
    );
    let calls = stream(&ingest).calls();
    assert_eq!(calls.len(), 2);
    let sent: Vec<Value> = serde_json::from_str(&body).unwrap_or_default();
    let retried: Vec<Value> = calls[1]
        .iter()
        .map(|r| serde_json::from_slice(&r.data).unwrap_or_default())
        .collect();
    assert_eq!(retried, [sent[1].clone(), sent[3].clone()]);
    assert_eq!(stream(&ingest).records().len(), 5);
}

#[tokio::test(start_paused = true)]
async fn records_that_keep_failing_answer_503_with_their_positions_before_the_deadline() {
    let every = (0..500).collect();
    let ingest = to_stream(FakeStream::new(vec![
        Put::FailRecords(vec![0, 2], "InternalFailure"),
        Put::FailRecords(every, "InternalFailure"),
    ]));
    let body = events(4);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(25);
    let reply = ingest
        .ingest(incoming(&body, REQUEST_ID), deadline, Utc::now())
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body["accepted"], json!(2));
    assert_eq!(reply.body["failed"], json!([0, 2]));
    assert_eq!(
        stream(&ingest).calls().len(),
        1 + Backoff::default().max_retries as usize
    );
    assert!(Instant::now() <= deadline);
}

#[tokio::test(start_paused = true)]
async fn a_throttled_stream_is_retried_until_it_recovers() {
    let ingest = to_stream(FakeStream::new(vec![
        Put::FailCall { retryable: true },
        Put::FailCall { retryable: true },
        Put::Accept,
    ]));
    let reply = ingest
        .ingest(incoming(&events(3), REQUEST_ID), far(), Utc::now())
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    assert_eq!(stream(&ingest).calls().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_never_answers_gets_a_503_before_the_deadline() {
    let ingest = to_stream(FakeStream::new(vec![Put::Stall(Duration::from_secs(3600))]));
    let deadline = Instant::now() + Duration::from_secs(25);
    let reply = ingest
        .ingest(incoming(&events(2), REQUEST_ID), deadline, Utc::now())
        .await;
    assert!(
        Instant::now() < deadline,
        "answered {:?} after the deadline",
        Instant::now() - deadline
    );
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body["failed"], json!([0, 1]));
}

#[tokio::test(start_paused = true)]
async fn a_refused_put_is_not_retried() {
    let ingest = to_stream(FakeStream::new(vec![Put::FailCall { retryable: false }]));
    let reply = ingest
        .ingest(incoming(&events(3), REQUEST_ID), far(), Utc::now())
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body["failed"], json!([0, 1, 2]));
    assert_eq!(stream(&ingest).calls().len(), 1);
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

#[tokio::test(start_paused = true)]
async fn the_direct_path_writes_processor_shaped_items_25_at_a_time() {
    let ingest = to_table(MemoryTable::accepting());
    let mut batch: Vec<Value> = (0..60).map(event).collect();
    batch[7]["event_id"] = json!("client-id-7");
    let now: DateTime<Utc> = "2024-11-06T12:00:00Z".parse().unwrap_or_default();
    for e in &mut batch {
        e["timestamp"] = json!("2024-11-06T11:59:00Z");
    }
    let body = Value::Array(batch).to_string();
    let reply = ingest.ingest(incoming(&body, REQUEST_ID), far(), now).await;
    assert_eq!(
        (reply.status, reply.body),
        (StatusCode::ACCEPTED, json!({"accepted": 60}))
    );
    let sizes: Vec<_> = table(&ingest).calls().iter().map(Vec::len).collect();
    assert_eq!(sizes, [25, 25, 10]);
    let items = table(&ingest).items();
    assert_eq!(items.len(), 60);
    let first = items
        .get(&format!("{REQUEST_ID}#0"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(first.get("pk"), Some(&s(&format!("{REQUEST_ID}#0"))));
    assert_eq!(first.get("event_type"), Some(&s("heartbeat")));
    assert_eq!(first.get("timestamp"), Some(&s("2024-11-06T11:59:00Z")));
    assert_eq!(first.get("received_at"), Some(&s("2024-11-06T12:00:00Z")));
    assert_eq!(first.get("ingest_path"), Some(&s("direct")));
    let payload = AttributeValue::M(HashMap::from([(
        "n".to_owned(),
        AttributeValue::N("0".to_owned()),
    )]));
    assert_eq!(first.get("payload"), Some(&payload));
    assert!(
        items.contains_key("client-id-7"),
        "an event_id is the key when present"
    );
}

#[tokio::test(start_paused = true)]
async fn the_same_request_stored_twice_overwrites_itself() {
    let ingest = to_table(MemoryTable::accepting());
    let body = events(30);
    ingest
        .ingest(incoming(&body, REQUEST_ID), far(), Utc::now())
        .await;
    ingest
        .ingest(incoming(&body, REQUEST_ID), far(), Utc::now())
        .await;
    assert_eq!(table(&ingest).items().len(), 30);
}

#[tokio::test(start_paused = true)]
async fn direct_writes_that_keep_failing_answer_503_with_their_positions() {
    let ingest = Ingest::new(
        Sink::Direct(MemoryTable::new(vec![Behaviour::LeaveUnprocessed(1)])),
        reporters(FakeBucket::default(), MemoryTopic::accepting()),
        Backoff {
            max_retries: 2,
            ..Backoff::default()
        },
    );
    let reply: Reply = ingest
        .ingest(incoming(&events(30), REQUEST_ID), far(), Utc::now())
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    // The first item of each call stays unprocessed: 0 and 25 at first, then 0 alone twice.
    assert_eq!(reply.body["failed"], json!([0]));
    assert_eq!(reply.body["accepted"], json!(29));
    assert_eq!(table(&ingest).calls().len(), 4);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever a client sends, the answer is a 2xx or a 4xx, never a panic nor a 5xx.
    #[test]
    fn client_input_never_causes_a_5xx(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
            "\\[?\\{\"event_type\":\"(heartbeat|x)\",\"timestamp\":\"20[0-9]{2}-1[0-2]-0[1-9]T1[0-9]:00:00Z\",\"payload\":\\{\\}\\}\\]?",
            ".{0,200}",
        ],
        method in prop_oneof![Just(Method::POST), Just(Method::GET), Just(Method::PATCH)],
        content_type in prop_oneof![Just(Some("application/json")), Just(Some("text/json")), Just(None), Just(Some("application/JSON"))],
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build();
        let runtime = runtime.map_err(|e| TestCaseError::fail(e.to_string()))?;
        let ingest = to_stream(FakeStream::default());
        let incoming = Incoming { method: &method, content_type, body: body.as_bytes(), request_id: REQUEST_ID };
        let reply = runtime.block_on(ingest.ingest(incoming, Instant::now() + Duration::from_secs(25), Utc::now()));
        prop_assert!(reply.status.is_success() || reply.status.is_client_error(), "{} for {:?}", reply.status, body);
        prop_assert_eq!(reply.status.is_success(), !stream(&ingest).records().is_empty());
    }
}

// Refusals: reported on the topic, kept in the bucket, counted in the metrics.

fn received() -> DateTime<Utc> {
    "2024-11-06T12:34:56Z".parse().unwrap_or_default()
}

fn refused_key() -> String {
    format!("refused/year=2024/month=11/day=06/hour=12/{REQUEST_ID}")
}

/// The no-dimension totals the malformed-rate alarm reads: (ProcessedEvents, MalformedEvents).
fn totals(ingest: &KinesisIngest) -> (u64, u64) {
    let m = metrics(ingest);
    (m.total("ProcessedEvents"), m.total("MalformedEvents"))
}

async fn refuse(ingest: &KinesisIngest, incoming: Incoming<'_>) -> Reply {
    let reply = ingest.ingest(incoming, far(), received()).await;
    assert!(reply.status.is_client_error(), "{}", reply.status);
    reply
}

#[tokio::test(start_paused = true)]
async fn the_spec_malformed_example_is_alerted_with_its_errors_kept_and_counted() {
    let ingest = to_stream(FakeStream::default());
    let body = r#"{"event_type": "invalid_type", "payload": "not_an_object"}"#;
    let reply = refuse(&ingest, incoming(body, REQUEST_ID)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    let published = topic(&ingest).published();
    assert_eq!(published.len(), 1, "one alert per refused request");
    assert_eq!(published[0].severity, event_contract::Severity::Error);
    let alert = &alerts(&ingest)[0];
    assert_eq!(alert["component"], json!("ingest"));
    assert_eq!(alert["request_id"], json!(REQUEST_ID));
    assert_eq!(alert["status"], json!(400));
    assert_eq!(alert["reason"], json!("invalid events"));
    assert_eq!(alert["s3_key"], json!(refused_key()));
    assert_eq!(alert["events_in_request"], json!(1));
    assert_eq!(alert["malformed"], json!(1));
    assert_eq!(alert["worst_severity"], json!("error"));
    let event = &alert["events"][0];
    assert_eq!(
        (&event["request_id"], &event["index"], &event["event_type"]),
        (&json!(REQUEST_ID), &json!(0), &json!("invalid_type"))
    );
    let paths: Vec<_> = event["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["path"].clone())
        .collect();
    assert_eq!(
        paths,
        [json!("/event_type"), json!("/timestamp"), json!("/payload")]
    );
    assert_eq!(event["sample"], json!(body));

    let objects = bucket(&ingest).objects();
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0].key, refused_key());
    assert_eq!(objects[0].body, body.as_bytes());
    assert_eq!(objects[0].content_type, "application/json");
    let metadata: HashMap<&str, &str> = objects[0]
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        metadata,
        HashMap::from([
            ("request-id", REQUEST_ID),
            ("status", "400"),
            ("reason", "invalid events"),
            ("event-count", "1"),
            ("malformed-count", "1"),
        ])
    );

    assert_eq!(totals(&ingest), (1, 1));
    let docs = metrics(&ingest).documents();
    assert_eq!(docs[0]["Component"], json!("ingest"));
    assert_eq!(
        docs[0]["_aws"]["CloudWatchMetrics"][1]["Dimensions"],
        json!([["Component"]])
    );
    assert_eq!(
        (
            docs[2]["Severity"].clone(),
            docs[2]["MalformedEvents"].clone()
        ),
        (json!("error"), json!(1))
    );
}

#[tokio::test(start_paused = true)]
async fn the_lambda_handler_reports_under_the_api_gateway_request_id() {
    let ingest = to_stream(FakeStream::default());
    let (status, _, _) = send(&ingest, post("[1]")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let objects = bucket(&ingest).objects();
    assert_eq!(objects.len(), 1);
    assert!(objects[0].key.starts_with("refused/year="));
    assert!(objects[0].key.ends_with(&format!("/{REQUEST_ID}")));
    assert_eq!(alerts(&ingest)[0]["request_id"], json!(REQUEST_ID));
}

#[tokio::test(start_paused = true)]
async fn every_event_of_a_refused_request_is_counted_and_only_the_malformed_ones_listed() {
    let mut bad = event(1);
    bad["metrics"] = json!({"iops": -1});
    let old =
        json!({"event_type": "heartbeat", "timestamp": "2020-01-01T00:00:00Z", "payload": {}});
    let body = format!("[{}, {bad}, \"x\", {old}]", event(0));
    let ingest = to_stream(FakeStream::default());
    let reply = ingest
        .ingest(incoming(&body, REQUEST_ID), far(), Utc::now())
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(totals(&ingest), (4, 2));
    let docs = metrics(&ingest).documents();
    let by_severity: Vec<_> = docs[1..]
        .iter()
        .map(|d| (d["Severity"].clone(), d["ProcessedEvents"].clone()))
        .collect();
    assert_eq!(
        by_severity,
        [
            (json!("warning"), json!(1)),
            (json!("error"), json!(1)),
            (json!("critical"), json!(1))
        ]
    );
    let alert = &alerts(&ingest)[0];
    assert_eq!(alert["malformed"], json!(2));
    assert_eq!(alert["events_in_request"], json!(4));
    let indexes: Vec<_> = alert["events"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["index"].clone())
        .collect();
    assert_eq!(indexes, [json!(1), json!(2)]);
    assert_eq!(
        bucket(&ingest).objects()[0].metadata.get("event-count"),
        Some(&"4".to_owned())
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_refused_as_a_whole_counts_as_one_malformed_event() {
    let big = format!("{}{}", event(0), " ".repeat(MAX_BODY_BYTES));
    let many = events(MAX_EVENTS + 1);
    let cases: [(&Method, Option<&str>, &str, u16, &str); 6] = [
        (&Method::GET, None, "{}", 405, "method not allowed"),
        (
            &Method::POST,
            Some("text/plain"),
            "hello",
            415,
            "unsupported media type",
        ),
        (
            &Method::POST,
            Some("application/json"),
            &big,
            413,
            "body too large",
        ),
        (
            &Method::POST,
            Some("application/json"),
            &many,
            413,
            "too many events",
        ),
        (
            &Method::POST,
            Some("application/json"),
            "[1,]",
            400,
            "not a JSON array",
        ),
        (
            &Method::POST,
            Some("application/json"),
            "[]",
            400,
            "no events",
        ),
    ];
    for (method, content_type, body, status, reason) in cases {
        let ingest = to_stream(FakeStream::default());
        let incoming = Incoming {
            method,
            content_type,
            body: body.as_bytes(),
            request_id: REQUEST_ID,
        };
        let reply = refuse(&ingest, incoming).await;
        assert_eq!(reply.status.as_u16(), status, "{reason}");
        assert_eq!(totals(&ingest), (1, 1), "{reason}");
        let alert = &alerts(&ingest)[0];
        assert_eq!(alert["reason"], json!(reason));
        assert_eq!(alert["status"], json!(status));
        assert_eq!(alert["malformed"], json!(1), "{reason}");
        assert_eq!(alert["events"][0]["index"], Value::Null, "{reason}");
        assert_eq!(
            alert["events"][0]["severity"],
            json!("critical"),
            "{reason}"
        );
        assert!(
            alert["summary"]
                .as_str()
                .is_some_and(|s| s.contains("as a whole")),
            "{reason}"
        );
        let objects = bucket(&ingest).objects();
        assert_eq!(objects.len(), 1, "{reason}");
        assert!(
            objects[0].body == body.as_bytes(),
            "{reason}: the body exactly as sent"
        );
        assert_eq!(
            objects[0].content_type,
            content_type.unwrap_or("application/octet-stream")
        );
        assert_eq!(objects[0].metadata.get("reason"), Some(&reason.to_owned()));
        assert_eq!(objects[0].metadata.get("status"), Some(&status.to_string()));
        assert!(stream(&ingest).calls().is_empty());
    }
}

#[tokio::test(start_paused = true)]
async fn an_empty_body_is_reported_and_counted_but_not_kept() {
    let ingest = to_stream(FakeStream::default());
    let reply = refuse(&ingest, incoming("", REQUEST_ID)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(bucket(&ingest).objects().is_empty());
    let alert = &alerts(&ingest)[0];
    assert_eq!(alert["s3_key"], Value::Null);
    assert_eq!(totals(&ingest), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_refusals_sends_one_alert_per_interval_and_counts_the_rest() {
    let ingest = to_stream(FakeStream::default());
    let body = "[\"a\", \"b\"]";
    let start = received();
    for i in 0..10 {
        let id = format!("req-{i}");
        let at = start + chrono::TimeDelta::seconds(i);
        ingest.ingest(incoming(body, &id), far(), at).await;
        tokio::time::advance(Duration::from_secs(1)).await;
    }
    assert_eq!(
        topic(&ingest).published().len(),
        1,
        "one alert in the interval"
    );
    assert_eq!(bucket(&ingest).objects().len(), 10, "every body is kept");
    assert_eq!(totals(&ingest), (20, 20), "every event is counted");

    tokio::time::advance(INTERVAL).await;
    let at = start + chrono::TimeDelta::seconds(70);
    ingest.ingest(incoming(body, "req-last"), far(), at).await;
    let alerts = alerts(&ingest);
    assert_eq!(alerts.len(), 2);
    assert_eq!(
        alerts[1]["suppressed"],
        json!({"requests": 9, "events": 18, "since": "2024-11-06T12:34:57Z"})
    );
    assert_eq!(alerts[1]["request_id"], json!("req-last"));
    assert!(alerts[0].get("suppressed").is_none());
    // Everything counted in the metrics is in an alert, listed or suppressed.
    let alerted: u64 = alerts
        .iter()
        .map(|a| {
            a["malformed"].as_u64().unwrap_or_default()
                + a["suppressed"]["events"].as_u64().unwrap_or_default()
        })
        .sum();
    assert_eq!(alerted, totals(&ingest).1);
    assert_eq!(ingest.limiter().held(), None);
}

fn reporting_to(bucket: FakeBucket, topic: MemoryTopic) -> KinesisIngest {
    Ingest::new(
        Sink::Kinesis(FakeStream::default()),
        reporters(bucket, topic),
        Backoff::default(),
    )
}

#[tokio::test(start_paused = true)]
async fn a_failing_bucket_and_topic_change_nothing_in_the_answer() {
    let body = format!("[{}, 7]", event(0));
    let healthy = to_stream(FakeStream::default());
    let expected = refuse(&healthy, incoming(&body, REQUEST_ID)).await;

    let failing = FakeBucket {
        failing: true,
        ..FakeBucket::default()
    };
    let ingest = reporting_to(failing, MemoryTopic::failing(1, false));
    let reply = refuse(&ingest, incoming(&body, REQUEST_ID)).await;
    assert_eq!(reply, expected);
    assert_eq!(
        topic(&ingest).attempts().len(),
        1,
        "a refused publish is not retried"
    );
    assert_eq!(
        totals(&ingest),
        (2, 1),
        "the metrics do not depend on either"
    );
    // The lost alert is counted into the next one.
    tokio::time::advance(INTERVAL).await;
    refuse(&ingest, incoming(&body, "req-2")).await;
    let alerts = alerts(&ingest);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["suppressed"]["requests"], json!(1));
    assert_eq!(alerts[0]["suppressed"]["events"], json!(1));
}

#[tokio::test(start_paused = true)]
async fn a_bucket_and_topic_that_never_answer_hold_the_answer_at_most_the_report_budget() {
    let stall = Duration::from_secs(3600);
    let bucket = FakeBucket {
        stall,
        ..FakeBucket::default()
    };
    let topic = MemoryTopic::stalling(stall);
    let ingest = reporting_to(bucket, topic);
    let start = Instant::now();
    let reply = refuse(&ingest, incoming("[1]", REQUEST_ID)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        Instant::now() - start <= REPORT_BUDGET,
        "{:?}",
        Instant::now() - start
    );
    // Near the invocation's deadline, less.
    let start = Instant::now();
    let deadline = start + Duration::from_millis(1500);
    let reply = ingest
        .ingest(incoming("[1]", "req-2"), deadline, received())
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(Instant::now() < deadline, "{:?}", Instant::now() - start);
}

#[tokio::test(start_paused = true)]
async fn the_put_and_the_alert_run_side_by_side() {
    let second = Duration::from_secs(1);
    let bucket = FakeBucket {
        stall: second,
        ..FakeBucket::default()
    };
    let topic = MemoryTopic::stalling(second);
    let ingest = reporting_to(bucket, topic);
    let start = Instant::now();
    refuse(&ingest, incoming("[1]", REQUEST_ID)).await;
    assert_eq!(Instant::now() - start, second, "not one after the other");
    assert_eq!(ingest.reporters().0.objects().len(), 1);
    assert_eq!(ingest.reporters().1.published().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_direct_path_counts_the_events_it_stores() {
    let ingest = to_table(MemoryTable::accepting());
    let old =
        json!({"event_type": "heartbeat", "timestamp": "2020-01-01T00:00:00Z", "payload": {}});
    let body = json!([event(0), old, event(2)]).to_string();
    let reply = ingest
        .ingest(incoming(&body, REQUEST_ID), far(), Utc::now())
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    assert_eq!(totals(&ingest), (3, 0));
    let docs = metrics(&ingest).documents();
    assert_eq!(docs[0]["Component"], json!("ingest"));
    assert_eq!(
        (
            docs[1]["Severity"].clone(),
            docs[1]["ProcessedEvents"].clone()
        ),
        (json!("warning"), json!(1))
    );
    assert!(topic(&ingest).attempts().is_empty());

    // What the table did not take is not counted: the client sends it again.
    let ingest = Ingest::new(
        Sink::Direct(MemoryTable::new(vec![Behaviour::LeaveUnprocessed(1)])),
        reporters(FakeBucket::default(), MemoryTopic::accepting()),
        Backoff {
            max_retries: 2,
            ..Backoff::default()
        },
    );
    let reply = ingest
        .ingest(incoming(&events(30), REQUEST_ID), far(), Utc::now())
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(totals(&ingest), (29, 0));
}

#[tokio::test(start_paused = true)]
async fn pretty_printed_crlf_and_tab_indented_events_go_on_the_stream_as_one_line_each() {
    let events = json!([
        {"event_type": "heartbeat", "timestamp": Utc::now().to_rfc3339(), "payload": {"note": "two  spaces,\ta tab and a \"quote\"", "n": 5.20}},
        {"event_type": "heartbeat", "timestamp": Utc::now().to_rfc3339(), "payload": {"big": 1e3}},
    ]);
    let pretty = serde_json::to_string_pretty(&events).unwrap_or_default();
    let tabs = {
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
        serde::Serialize::serialize(&events, &mut serializer).unwrap_or_default();
        String::from_utf8(out).unwrap_or_default()
    };
    for body in [pretty.clone(), pretty.replace('\n', "\r\n"), tabs] {
        let ingest = to_stream(FakeStream::default());
        let reply = ingest
            .ingest(incoming(&body, REQUEST_ID), far(), Utc::now())
            .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{body}");
        let records = stream(&ingest).records();
        assert_eq!(records.len(), 2);
        for (record, sent) in records.iter().zip(events.as_array().into_iter().flatten()) {
            assert!(!record.data.contains(&b'\n') && !record.data.contains(&b'\r'));
            let put: Value = serde_json::from_slice(&record.data).unwrap_or(Value::Null);
            assert_eq!(&put, sent);
        }
        let first = String::from_utf8_lossy(&records[0].data).into_owned();
        assert!(
            first.contains(r#""note":"two  spaces,\ta tab and a \"quote\"""#),
            "{first}"
        );
    }
    // Numbers keep the text the client wrote.
    let body = "[\n  {\"event_type\": \"heartbeat\", \"timestamp\": \"TS\", \"payload\": {\"a\": 5.20, \"b\": 1e3}}\n]"
        .replace("TS", &Utc::now().to_rfc3339());
    let ingest = to_stream(FakeStream::default());
    ingest
        .ingest(incoming(&body, REQUEST_ID), far(), Utc::now())
        .await;
    let data = String::from_utf8_lossy(&stream(&ingest).records()[0].data).into_owned();
    assert!(data.ends_with(r#""payload":{"a":5.20,"b":1e3}}"#), "{data}");
}

#[tokio::test(start_paused = true)]
async fn a_leading_byte_order_mark_is_skipped_and_kept_in_the_refused_body() {
    let ingest = to_stream(FakeStream::default());
    let body = format!("\u{FEFF}{}", events(2));
    let reply = ingest
        .ingest(incoming(&body, REQUEST_ID), far(), Utc::now())
        .await;
    assert_eq!(
        (reply.status, reply.body),
        (StatusCode::ACCEPTED, json!({"accepted": 2}))
    );
    assert!(
        stream(&ingest)
            .records()
            .iter()
            .all(|r| r.data.starts_with(b"{"))
    );

    let body = "\u{FEFF}{\"event_type\": \"nope\"}";
    let reply = refuse(&ingest, incoming(body, REQUEST_ID)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.body["verdicts"][0]["severity"],
        json!("error"),
        "parsed, not critical"
    );
    assert_eq!(bucket(&ingest).objects()[0].body, body.as_bytes());
    // Two marks: the second is not skipped.
    let reply = refuse(&ingest, incoming("\u{FEFF}\u{FEFF}{}", "req-2")).await;
    assert_eq!(reply.body["verdicts"][0]["severity"], json!("critical"));
}

// Hostile input at the handler level.

/// Any JSON value, strings drawn to hold whitespace, quotes, backslashes and control characters.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[ \\t\\r\\n\"\\\\a-zé\\u{1}]{0,10}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(("[a-z_ ]{0,6}", inner), 0..5)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

const HOSTILE_NOW: &str = "2024-11-06T12:00:00Z";

/// Events: mostly the contract's shape, some broken, with arbitrary extra fields.
fn event_value() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec![
            "heartbeat",
            "session_started",
            "metrics_reported",
            "nope",
        ]),
        prop::sample::select(vec![
            HOSTILE_NOW,
            "2024-11-06T11:59:00.5Z",
            "2020-01-01T00:00:00Z",
            "yesterday",
        ]),
        json_value(),
        any::<bool>(),
    )
        .prop_map(|(event_type, timestamp, extra, session)| {
            let mut payload = json!({"extra": extra});
            if session {
                payload["session_id"] = json!("s-1");
            }
            json!({"event_type": event_type, "timestamp": timestamp, "payload": payload})
        })
}

fn layout(value: &Value, style: u8) -> String {
    match style % 4 {
        0 => value.to_string(),
        1 => serde_json::to_string_pretty(value).unwrap_or_default(),
        2 => serde_json::to_string_pretty(value)
            .unwrap_or_default()
            .replace('\n', "\r\n"),
        _ => {
            let mut out = Vec::new();
            let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
            let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
            serde::Serialize::serialize(value, &mut serializer).unwrap_or_default();
            String::from_utf8(out).unwrap_or_default()
        }
    }
}

fn hostile_body() -> impl Strategy<Value = Vec<u8>> {
    let small_event =
        json!({"event_type": "heartbeat", "timestamp": HOSTILE_NOW, "payload": {}}).to_string();
    let padded = small_event.clone();
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..400),
        3 => (json_value(), any::<u8>()).prop_map(|(v, style)| layout(&v, style).into_bytes()),
        3 => (prop::collection::vec(json_value(), 0..6), any::<u8>())
            .prop_map(|(v, style)| layout(&Value::Array(v), style).into_bytes()),
        4 => (prop::collection::vec(event_value(), 1..6), any::<u8>(), any::<bool>())
            .prop_map(|(v, style, single)| {
                if single { layout(&v[0], style) } else { layout(&Value::Array(v), style) }.into_bytes()
            }),
        1 => (MAX_EVENTS - 1..=MAX_EVENTS + 1).prop_map(move |n| {
            format!("[{}]", vec![small_event.as_str(); n].join(",")).into_bytes()
        }),
        1 => (MAX_BODY_BYTES - 2..=MAX_BODY_BYTES + 2).prop_map(move |n| {
            let mut body = padded.clone().into_bytes();
            body.resize(n, b' ');
            body
        }),
        1 => Just(b"{\"event_type\":\"heartbeat\",\"timestamp\":\"2024-11-06T12:00:00Z\",\"payload\":{\"x\":\"\xff\xfe\"}}".to_vec()),
    ]
}

/// The events a body holds, read independently of the handler: the JSON value of each array
/// element, or of the body.
fn events_in(body: &[u8]) -> Vec<Value> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(items)) => items,
        Ok(value) => vec![value],
        Err(_) => Vec::new(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever a client sends: no panic, no 5xx; a refusal is kept (when it has a body),
    /// alerted once and counted, and the counts agree with each other and with the answer; an
    /// accepted request puts exactly its events on the stream, each on one line.
    #[test]
    fn hostile_input_is_answered_reported_and_counted(
        body in hostile_body(),
        bom in prop::bool::weighted(0.2),
        method in prop_oneof![8 => Just(Method::POST), 1 => Just(Method::GET), 1 => Just(Method::PUT)],
        content_type in prop_oneof![
            8 => Just(Some("application/json")),
            2 => Just(Some("application/json; charset=utf-8")),
            1 => Just(Some("text/plain")),
            1 => Just(None),
            1 => Just(Some("application/json\u{7f}")),
        ],
    ) {
        let body = if bom { [b"\xEF\xBB\xBF".as_slice(), &body].concat() } else { body };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build();
        let runtime = runtime.map_err(|e| TestCaseError::fail(e.to_string()))?;
        let ingest = to_stream(FakeStream::default());
        let incoming = Incoming { method: &method, content_type, body: &body, request_id: REQUEST_ID };
        let now: DateTime<Utc> = HOSTILE_NOW.parse().unwrap_or_default();
        let reply = runtime.block_on(ingest.ingest(incoming, Instant::now() + Duration::from_secs(25), now));
        prop_assert!(reply.status.is_success() || reply.status.is_client_error(), "{}", reply.status);

        let objects = bucket(&ingest).objects();
        let alerts = alerts(&ingest);
        let (processed, malformed) = totals(&ingest);
        if reply.status.is_success() {
            prop_assert_eq!(reply.status, StatusCode::ACCEPTED);
            prop_assert!(objects.is_empty() && alerts.is_empty());
            prop_assert!(metrics(&ingest).documents().is_empty());
            let expected = events_in(&body);
            let records = stream(&ingest).records();
            prop_assert_eq!(records.len(), expected.len());
            prop_assert_eq!(reply.body["accepted"].as_u64(), Some(expected.len() as u64));
            for (record, sent) in records.iter().zip(&expected) {
                prop_assert!(!record.data.contains(&b'\n') && !record.data.contains(&b'\r'));
                let put: Value = serde_json::from_slice(&record.data).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(&put, sent);
            }
        } else {
            prop_assert!(stream(&ingest).records().is_empty(), "nothing stored from a refused request");
            if body.is_empty() {
                prop_assert!(objects.is_empty());
            } else {
                prop_assert_eq!(objects.len(), 1);
                prop_assert!(objects[0].body == body, "the body exactly as received");
                prop_assert_eq!(&objects[0].key, &format!("refused/year=2024/month=11/day=06/hour=12/{REQUEST_ID}"));
                prop_assert_eq!(objects[0].metadata.get("malformed-count"), Some(&malformed.to_string()));
            }
            // The answer's verdicts, the metrics and the alert agree.
            let indexed: Vec<&Value> = reply.body["verdicts"].as_array().into_iter().flatten()
                .filter(|v| v["index"].is_u64()).collect();
            if indexed.is_empty() {
                prop_assert_eq!((processed, malformed), (1, 1));
            } else {
                prop_assert_eq!(processed, indexed.len() as u64);
                let invalid = indexed.iter().filter(|v| v["valid"] == json!(false)).count();
                prop_assert_eq!(malformed, invalid as u64);
            }
            prop_assert_eq!(alerts.len(), 1);
            let alert = &alerts[0];
            prop_assert_eq!(alert["malformed"].as_u64(), Some(malformed));
            prop_assert_eq!(
                alert["listed"].as_u64().unwrap_or_default() + alert["not_listed"].as_u64().unwrap_or_default(),
                malformed
            );
            prop_assert_eq!(alert["status"].as_u64(), Some(u64::from(reply.status.as_u16())));
            prop_assert_eq!(&alert["component"], &json!("ingest"));
            let published = topic(&ingest).published();
            prop_assert!(published[0].message.len() <= event_contract::alert::MESSAGE_BUDGET_BYTES);
            prop_assert!(published[0].subject.is_ascii() && published[0].subject.len() <= 100);
        }
    }
}
