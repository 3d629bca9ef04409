//! Ingest's handler against in-memory fakes of the stream and the table, fed real API Gateway
//! proxy events. Time is tokio's paused clock, so backoffs and deadlines cost no real time.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use event_contract::backoff::Backoff;
use event_contract::store::memory::{Behaviour, MemoryTable};
use ingest::handler::{MAX_BODY_BYTES, MAX_EVENTS};
use ingest::kinesis::{KinesisSink, OutRecord, SinkError};
use ingest::{Incoming, Ingest, Reply, Sink};
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

type KinesisIngest = Ingest<FakeStream, MemoryTable>;

fn to_stream(stream: FakeStream) -> KinesisIngest {
    Ingest::new(Sink::Kinesis(stream), Backoff::default())
}

fn to_table(table: MemoryTable) -> KinesisIngest {
    Ingest::new(Sink::Direct(table), Backoff::default())
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
async fn the_spec_example_is_accepted_and_put_as_sent_keyed_by_session() {
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
        Some(String::from_utf8_lossy(&records[0].data).into_owned()),
        sent.body,
        "the event is put as the client wrote it"
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
            .starts_with(b"{\n  \"event_type\": \"session_started\"")
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
