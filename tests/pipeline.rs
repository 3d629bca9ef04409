//! Tests 1–6 of the pipeline issue: the core stack deployed to a fresh emulator per test, the
//! pipeline run locally from its template with the real function binaries
//! ([`tests::function_binaries`]), and events pushed through it: API → ingest → Kinesis →
//! stream processor → DynamoDB / SNS, and Kinesis → Firehose → S3.
//!
//! Every wait polls with a deadline and fails naming what is missing. Nothing here asserts a
//! speed: the burst test prints its rates and latencies.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType};
use axum::body::Bytes;
use axum::http::{Request, StatusCode};
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use emulator::Emulator;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use localstack::local_runtime::apigw::{API_KEY_HEADER, Signer};
use localstack::local_runtime::esm::{
    InvocationRecord, KinesisBatchInfo, RequestContext, ResponseContext,
};
use localstack::local_runtime::lambda::InvokeError;
use localstack::pipeline::{InvocationFault, Pipeline, PipelineOptions};
use serde_json::{Value, json};
use tokio::time::Instant;

/// How long any one thing may take to show up.
const WITHIN: Duration = Duration::from_secs(90);
/// How often the tests look.
const POLL: Duration = Duration::from_millis(200);

type Http = Client<HttpConnector, Full<Bytes>>;

/// How a client reaches `POST /metrics`: signed (SigV4) with the local credentials, with the
/// API key of the template's client, as a producer does against the deployed API.
#[derive(Debug, Clone)]
struct Caller {
    http: Http,
    url: String,
    signer: Signer,
    api_key: String,
}

/// One request, as sent: what to sign, which key, which content type.
#[derive(Debug, Clone)]
struct Outgoing {
    body: Vec<u8>,
    content_type: Option<&'static str>,
    signed: bool,
    api_key: Option<String>,
}

impl Caller {
    fn json(&self, body: &Value) -> Outgoing {
        self.raw(body.to_string())
    }

    /// `body` as it is, as JSON, signed and keyed.
    fn raw(&self, body: impl Into<Vec<u8>>) -> Outgoing {
        Outgoing {
            body: body.into(),
            content_type: Some("application/json"),
            signed: true,
            api_key: Some(self.api_key.clone()),
        }
    }

    /// Sends `outgoing`; the status and the answer (JSON, or the text as a string).
    async fn send(&self, outgoing: Outgoing) -> (StatusCode, Value) {
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(content_type) = outgoing.content_type {
            headers.push(("content-type", content_type));
        }
        if let Some(key) = &outgoing.api_key {
            headers.push((API_KEY_HEADER, key));
        }
        let headers: Vec<(String, String)> = if outgoing.signed {
            self.signer
                .sign(
                    "POST",
                    &self.url,
                    &headers,
                    &outgoing.body,
                    std::time::SystemTime::now(),
                )
                .expect("the request signs")
        } else {
            headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect()
        };
        let mut request = Request::builder().method("POST").uri(&self.url);
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(outgoing.body)))
            .expect("a request");
        let response = self.http.request(request).await.expect("the API answers");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("the body is read")
            .to_bytes();
        let answer = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, answer)
    }

    /// POSTs `body` as JSON, signed and keyed.
    async fn post(&self, body: &Value) -> (StatusCode, Value) {
        self.send(self.json(body)).await
    }
}

/// One test's emulator, deployed stack and running pipeline, and clients for them.
struct Env {
    pipeline: Pipeline,
    template: Value,
    dynamodb: aws_sdk_dynamodb::Client,
    kinesis: aws_sdk_kinesis::Client,
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    s3: aws_sdk_s3::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    caller: Caller,
    // Last: the emulator outlives what talks to it.
    emulator: Emulator,
}

/// Options every test starts from: quick polling, a 1 s archive buffer instead of 300 s.
fn options() -> PipelineOptions {
    PipelineOptions {
        // Twice a second: the mapping and Firehose together stay inside a shard's 5 reads a
        // second (AWS's 1 s would make every test wait longer).
        poll_interval: Duration::from_millis(500),
        firehose_buffer_interval: Some(Duration::from_secs(1)),
        ..PipelineOptions::default()
    }
}

async fn start(options: PipelineOptions) -> Env {
    tests::init_tracing();
    let binaries = tokio::task::spawn_blocking(tests::function_binaries)
        .await
        .expect("the build of the function binaries finishes");
    let emulator = Emulator::start().await.expect("an emulator starts");
    println!("backend: {emulator}");
    let (template, deployed, config) = tests::deploy_core(&emulator).await;
    let started = std::time::Instant::now();
    let pipeline = Pipeline::start(&emulator, &template, &deployed, binaries, options)
        .await
        .unwrap_or_else(|e| panic!("the pipeline starts: {}", localstack::error_chain(&e)));
    println!(
        "pipeline started in {} ms: POST {}",
        started.elapsed().as_millis(),
        pipeline.metrics_url()
    );
    let api_key = pipeline
        .api_keys()
        .first()
        .map(|k| k.value.clone())
        .expect("the template's client has an API key");
    let caller = Caller {
        http: Client::builder(TokioExecutor::new()).build_http(),
        url: pipeline.metrics_url().to_owned(),
        signer: Signer {
            access_key_id: emulator::DUMMY_CREDENTIAL.to_owned(),
            secret_access_key: emulator::DUMMY_CREDENTIAL.to_owned(),
            session_token: None,
            region: deployed.context.region.clone(),
        },
        api_key,
    };
    Env {
        pipeline,
        template,
        dynamodb: aws_sdk_dynamodb::Client::new(&config),
        kinesis: aws_sdk_kinesis::Client::new(&config),
        sqs: aws_sdk_sqs::Client::new(&config),
        sns: aws_sdk_sns::Client::new(&config),
        s3: emulator::s3_client(&config),
        logs: aws_sdk_cloudwatchlogs::Client::new(&config),
        caller,
        emulator,
    }
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Event `seq` of test run `run`: the six event types in turn, with nested objects, lists,
/// booleans and nulls among their fields; every fifth carries an `event_id`.
fn event(run: &str, seq: usize) -> Value {
    let timestamp = now();
    let mut event = match seq % 6 {
        0 => json!({"event_type": "session_started", "timestamp": timestamp,
                    "payload": {"session_id": format!("s-{run}-{}", seq % 3), "device": {"os": "linux", "cores": 2}}}),
        1 => json!({"event_type": "metrics_reported", "timestamp": timestamp,
                    "payload": {"host": "h-1"},
                    "metrics": {"iops": seq * 10, "latency": 1.25, "errorRate": 0.5}}),
        2 => json!({"event_type": "heartbeat", "timestamp": timestamp,
                    "payload": {"healthy": true, "note": null}}),
        3 => json!({"event_type": "error_reported", "timestamp": timestamp,
                    "payload": {"code": "E42", "message": "disk slow", "tags": ["disk", "slow"]}}),
        4 => json!({"event_type": "alert_raised", "timestamp": timestamp,
                    "payload": {"level": "high", "thresholds": [1, 2.5, -3]}}),
        _ => json!({"event_type": "session_ended", "timestamp": timestamp,
                    "payload": {"session_id": format!("s-{run}-{}", seq % 3), "duration_s": 12.75}}),
    };
    event["payload"]["run"] = json!(run);
    event["payload"]["seq"] = json!(seq);
    if seq.is_multiple_of(5) {
        event["event_id"] = json!(format!("evt-{run}-{seq}"));
    }
    event
}

/// The test run and position an event or item carries.
fn marker(value: &Value) -> (String, u64) {
    (
        value["payload"]["run"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        value["payload"]["seq"].as_u64().unwrap_or(u64::MAX),
    )
}

/// POSTs `events` and expects them all accepted.
async fn post_accepted(env: &Env, events: &[Value]) {
    let (status, answer) = env.caller.post(&json!(events)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer, json!({"accepted": events.len()}));
}

/// A DynamoDB attribute as the JSON it was made from.
fn to_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => json!(s),
        AttributeValue::N(n) => n
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| n.parse::<f64>().map(Value::from))
            .unwrap_or_else(|_| panic!("a number: {n}")),
        AttributeValue::Bool(b) => json!(b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::M(map) => map.iter().map(|(k, v)| (k.clone(), to_json(v))).collect(),
        AttributeValue::L(list) => list.iter().map(to_json).collect(),
        other => panic!("an attribute the functions never write: {other:?}"),
    }
}

/// Numbers as `f64`, so `1` sent and `1.0` read back compare equal.
fn numbers_as_f64(value: Value) -> Value {
    match value {
        Value::Number(n) => n.as_f64().map_or(Value::Null, Value::from),
        Value::Array(items) => items.into_iter().map(numbers_as_f64).collect(),
        Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| (k, numbers_as_f64(v)))
            .collect(),
        other => other,
    }
}

/// Every item of the table, as JSON.
async fn scan(env: &Env) -> Vec<Value> {
    let mut items = Vec::new();
    let mut pages = env
        .dynamodb
        .scan()
        .table_name(&env.pipeline.names().table)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.expect("the table is scanned");
        items.extend(page.items().iter().map(|item| {
            item.iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect::<serde_json::Map<_, _>>()
                .into()
        }));
    }
    items
}

/// Scans until the table holds `count` items; fails naming the markers still missing.
async fn wait_for_items(env: &Env, sent: &[Value], count: usize) -> Vec<Value> {
    let deadline = Instant::now() + WITHIN;
    loop {
        let items = scan(env).await;
        if items.len() >= count {
            return items;
        }
        if Instant::now() > deadline {
            let found: BTreeSet<_> = items.iter().map(marker).collect();
            let missing: Vec<_> = sent
                .iter()
                .map(marker)
                .filter(|m| !found.contains(m))
                .collect();
            panic!(
                "{} of {count} items after {WITHIN:?}; missing {missing:?}; processor logs:\n{}",
                items.len(),
                logs(env)
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until the event source mapping took `count` records off the stream, so that a scan
/// afterwards sees whatever they caused (duplicates included).
async fn wait_until_processed(env: &Env, count: u64) {
    let deadline = Instant::now() + WITHIN;
    loop {
        let processed: u64 = env
            .pipeline
            .records_processed()
            .iter()
            .map(|(_, n)| n)
            .sum();
        if processed >= count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the mapping processed {processed} of {count} records within {WITHIN:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// The newest lines of every function, for failure messages.
fn logs(env: &Env) -> String {
    env.pipeline
        .function_logs()
        .into_iter()
        .map(|(id, lines)| {
            let tail = &lines[lines.len().saturating_sub(20)..];
            format!("--- {id}\n{}", tail.join("\n"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The table holds each of `sent` exactly once, every field as sent, and nothing else.
fn assert_exactly_once(items: &[Value], sent: &[Value]) {
    let mut by_marker: BTreeMap<(String, u64), Vec<&Value>> = BTreeMap::new();
    for item in items {
        by_marker.entry(marker(item)).or_default().push(item);
    }
    let expected: BTreeSet<_> = sent.iter().map(marker).collect();
    let unexpected: Vec<_> = by_marker
        .keys()
        .filter(|m| !expected.contains(*m))
        .collect();
    assert!(unexpected.is_empty(), "items nobody sent: {unexpected:?}");
    for event in sent {
        let found = by_marker.get(&marker(event)).map_or(&[][..], Vec::as_slice);
        assert_eq!(
            found.len(),
            1,
            "{:?} is in the table {} times",
            marker(event),
            found.len()
        );
        let mut item = found[0].clone();
        let fields = item.as_object_mut().expect("an item is an object");
        let pk = fields.remove("pk").expect("a partition key");
        let received_at = fields.remove("received_at").expect("received_at");
        let path = fields.remove("ingest_path").expect("ingest_path");
        assert_eq!(path, "kinesis");
        assert!(
            received_at
                .as_str()
                .is_some_and(|t| DateTime::parse_from_rfc3339(t).is_ok()),
            "{received_at}"
        );
        match event.get("event_id") {
            Some(id) => assert_eq!(&pk, id),
            None => assert!(
                pk.as_str()
                    .is_some_and(|k| k.starts_with("shardId-") && k.contains('#')),
                "{pk}: <shardId>#<sequenceNumber> for an event without event_id"
            ),
        }
        assert_eq!(
            numbers_as_f64(item),
            numbers_as_f64(event.clone()),
            "every field as sent"
        );
    }
}

/// Receives messages from `queue_url` until `enough` holds of them; fails after [`WITHIN`].
async fn receive_until(
    env: &Env,
    queue_url: &str,
    what: &str,
    enough: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + WITHIN;
    let mut bodies = Vec::new();
    while !enough(&bodies) {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {WITHIN:?}; received {bodies:?}; logs:\n{}",
            logs(env)
        );
        bodies.extend(
            emulator::receive_messages(&env.sqs, queue_url)
                .await
                .expect("the queue is read"),
        );
    }
    bodies
}

/// The template's `MaximumRetryAttempts` of the event source mapping.
fn maximum_retry_attempts(template: &Value) -> u32 {
    template["Resources"]
        .as_object()
        .expect("resources")
        .values()
        .find(|r| r["Type"] == "AWS::Lambda::EventSourceMapping")
        .and_then(|r| r["Properties"]["MaximumRetryAttempts"].as_u64())
        .and_then(|n| u32::try_from(n).ok())
        .expect("the mapping retries a set number of times")
}

/// Test 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_events_posted_to_the_api_land_in_the_table_exactly_once_with_every_field() {
    let env = start(options()).await;
    let sent: Vec<Value> = (0..30).map(|seq| event("valid", seq)).collect();
    // One event on its own (not in an array), then two arrays.
    let (status, answer) = env.caller.post(&sent[0]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    post_accepted(&env, &sent[1..11]).await;
    post_accepted(&env, &sent[11..]).await;

    wait_for_items(&env, &sent, sent.len()).await;
    wait_until_processed(&env, 30).await;
    assert_exactly_once(&scan(&env).await, &sent);
}

/// What the malformed-events topic said, as received through an SQS subscription.
#[derive(Debug)]
struct Alert {
    severity_attribute: String,
    subject: String,
    body: Value,
}

fn alert_of(notification: &str) -> Alert {
    let envelope: Value = serde_json::from_str(notification).expect("an SNS notification");
    let body = envelope["Message"]
        .as_str()
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or_else(|| panic!("the alert is JSON: {envelope}"));
    Alert {
        severity_attribute: envelope["MessageAttributes"]["severity"]["Value"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        subject: envelope["Subject"].as_str().unwrap_or_default().to_owned(),
        body,
    }
}

/// A queue subscribed to the malformed-events topic: where the tests read its alerts.
async fn alert_queue(env: &Env) -> String {
    let names = env.pipeline.names();
    let queue_url = env
        .sqs
        .create_queue()
        .queue_name("malformed-alerts")
        .send()
        .await
        .expect("a queue")
        .queue_url()
        .unwrap_or_default()
        .to_owned();
    let queue_arn = env
        .sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("the queue's attributes")
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .cloned()
        .expect("a queue ARN");
    env.sns
        .subscribe()
        .topic_arn(&names.malformed_topic_arn)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .send()
        .await
        .expect("the queue subscribes to the malformed-events topic");
    queue_url
}

/// Test 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_events_raise_an_alert_with_their_problems_and_never_reach_the_table() {
    let env = start(options()).await;
    let names = env.pipeline.names().clone();
    let queue_url = alert_queue(&env).await;

    // The API refuses a request holding a malformed event, whole.
    let bad_iops = json!({"event_type": "metrics_reported", "timestamp": now(),
                          "payload": {"run": "refused", "seq": 1}, "metrics": {"iops": -1}});
    let refused = [event("refused", 0), bad_iops.clone()];
    let (status, answer) = env.caller.post(&json!(refused)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["verdicts"][0]["valid"], true);
    assert_eq!(answer["verdicts"][1]["severity"], "error");
    assert_eq!(answer["verdicts"][1]["errors"][0]["path"], "/metrics/iops");

    // Another producer puts a mixed batch on the stream: one partition key, so one shard.
    let valid: Vec<Value> = (0..4).map(|seq| event("mixed", seq)).collect();
    let malformed: [(&str, String, &str); 3] = [
        ("error", bad_iops.to_string(), "/metrics/iops"),
        (
            "critical",
            "{\"event_type\": \"heartbeat\", ".to_owned(),
            "",
        ),
        (
            "error",
            json!({"event_type": "heartbeat", "payload": {}}).to_string(),
            "/timestamp",
        ),
    ];
    let data: Vec<String> = vec![
        valid[0].to_string(),
        malformed[0].1.clone(),
        valid[1].to_string(),
        malformed[1].1.clone(),
        valid[2].to_string(),
        malformed[2].1.clone(),
        valid[3].to_string(),
    ];
    let entries = data
        .iter()
        .map(|d| {
            PutRecordsRequestEntry::builder()
                .data(Blob::new(d.as_bytes()))
                .partition_key("mixed")
                .build()
                .expect("an entry")
        })
        .collect();
    let put = env
        .kinesis
        .put_records()
        .stream_name(&names.stream)
        .set_records(Some(entries))
        .send()
        .await
        .expect("the records are put");
    assert_eq!(put.failed_record_count(), Some(0));
    let malformed_sequence_numbers: BTreeMap<String, usize> = [1, 3, 5]
        .into_iter()
        .enumerate()
        .map(|(i, position)| {
            let sequence_number = put.records()[position]
                .sequence_number()
                .expect("a sequence number")
                .to_owned();
            (sequence_number, i)
        })
        .collect();

    let from = |bodies: &[String], component: &str| -> Vec<Alert> {
        bodies
            .iter()
            .map(|b| alert_of(b))
            .filter(|a| a.body["component"] == component)
            .collect()
    };
    let listed = |bodies: &[String]| -> usize {
        from(bodies, "stream-processor")
            .iter()
            .map(|a| a.body["events"].as_array().map_or(0, Vec::len))
            .sum()
    };
    let notifications = receive_until(
        &env,
        &queue_url,
        "the processor's alerts listing 3 events, and ingest's of its refusal",
        |bodies| listed(bodies) >= 3 && !from(bodies, "ingest").is_empty(),
    )
    .await;

    // Ingest reported the request it refused, in the same shape.
    let [refusal] = &from(&notifications, "ingest")[..] else {
        panic!("one alert from ingest: {notifications:?}");
    };
    assert_eq!(refusal.body["status"], 400, "{:?}", refusal.body);
    assert_eq!(refusal.body["events_in_request"], 2);
    assert_eq!(refusal.body["malformed"], 1);
    assert_eq!(refusal.severity_attribute, "error");
    assert_eq!(refusal.body["events"][0]["index"], 1);
    assert_eq!(
        refusal.body["events"][0]["errors"][0]["path"],
        "/metrics/iops"
    );

    let mut reported = BTreeMap::new();
    for alert in from(&notifications, "stream-processor") {
        assert_eq!(
            alert.severity_attribute, alert.body["worst_severity"],
            "the severity attribute is the worst severity of the batch"
        );
        assert!(!alert.subject.is_empty(), "{alert:?}");
        assert_eq!(alert.body["not_listed"], 0);
        for listed in alert.body["events"].as_array().expect("events") {
            let sequence_number = listed["sequence_number"]
                .as_str()
                .expect("a sequence number");
            let i = *malformed_sequence_numbers
                .get(sequence_number)
                .unwrap_or_else(|| panic!("a valid record was reported: {listed}"));
            assert!(
                reported.insert(i, listed.clone()).is_none(),
                "reported twice: {listed}"
            );
        }
    }
    assert_eq!(reported.len(), 3, "every malformed record, once");
    for (i, (severity, data, path)) in malformed.iter().enumerate() {
        let listed = &reported[&i];
        assert_eq!(listed["severity"], *severity, "{listed}");
        assert_eq!(listed["valid"], false, "{listed}");
        assert_eq!(listed["sample"], data.as_str(), "{listed}");
        let problems = listed["errors"].as_array().expect("problems");
        assert!(
            problems
                .iter()
                .any(|p| p["path"] == *path && p["message"].is_string()),
            "{listed}: a problem at {path:?}"
        );
        assert!(
            listed["shard_id"]
                .as_str()
                .is_some_and(|s| s.starts_with("shardId-")),
            "{listed}"
        );
    }

    // The valid records of the batch are stored, the malformed ones and the refused request
    // are not, and nothing failed.
    wait_for_items(&env, &valid, valid.len()).await;
    wait_until_processed(&env, u64::try_from(data.len()).expect("few records")).await;
    assert_exactly_once(&scan(&env).await, &valid);
    let dead = env
        .sqs
        .receive_message()
        .queue_url(&names.dead_letter_queue_url)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("the dead-letter queue is read");
    assert!(dead.messages().is_empty(), "{:?}", dead.messages());
}

/// The template's archive prefix with its timestamp expressions evaluated at `at`.
fn archive_prefix(template: &Value, at: DateTime<Utc>) -> String {
    let prefix = template["Resources"]
        .as_object()
        .expect("resources")
        .values()
        .find(|r| r["Type"] == "AWS::KinesisFirehose::DeliveryStream")
        .and_then(|r| r["Properties"]["ExtendedS3DestinationConfiguration"]["Prefix"].as_str())
        .expect("the delivery stream has a prefix");
    assert_eq!(
        prefix,
        "events/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/",
        "the archive layout the spec asks for"
    );
    prefix
        .replace("!{timestamp:yyyy}", &at.format("%Y").to_string())
        .replace("!{timestamp:MM}", &at.format("%m").to_string())
        .replace("!{timestamp:dd}", &at.format("%d").to_string())
        .replace("!{timestamp:HH}", &at.format("%H").to_string())
}

/// Every object of the archive: its key and its content, gunzipped.
async fn archive(env: &Env) -> Vec<(String, Vec<u8>)> {
    let objects = emulator::objects(&env.s3, &env.pipeline.names().archive_bucket)
        .await
        .expect("the archive is read");
    objects
        .into_iter()
        // The archive proper; `refused/` holds the bodies ingest refused, as sent.
        .filter(|(key, _)| key.starts_with("events/"))
        .map(|(key, body)| {
            let mut content = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut content)
                .unwrap_or_else(|e| panic!("{key} is gzip: {e}"));
            (key, content)
        })
        .collect()
}

/// The records of an archived object, byte for byte: JSON Lines, each record followed by the
/// newline the template's `AppendDelimiterToRecord` processor appends.
fn records_of(content: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(content).expect("UTF-8 records");
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "every record ends with a newline: {text:?}"
    );
    text.lines()
        .map(|line| {
            serde_json::from_str::<Value>(line)
                .unwrap_or_else(|e| panic!("one JSON record a line: {e}: {line:?}"));
            line.to_owned()
        })
        .collect()
}

/// Test 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_archive_holds_exactly_the_events_sent_gzipped_under_the_hourly_prefix() {
    let env = start(options()).await;
    let before = Utc::now();
    let sent: Vec<Value> = (0..25).map(|seq| event("archived", seq)).collect();
    post_accepted(&env, &sent[..10]).await;
    post_accepted(&env, &sent[10..]).await;
    let after = Utc::now();

    let deadline = Instant::now() + WITHIN;
    let objects = loop {
        let objects = archive(&env).await;
        let records: usize = objects.iter().map(|(_, c)| records_of(c).len()).sum();
        if records >= sent.len() {
            break objects;
        }
        assert!(
            Instant::now() < deadline,
            "{records} of {} records archived within {WITHIN:?}: {:?}",
            sent.len(),
            objects.iter().map(|(k, _)| k).collect::<Vec<_>>()
        );
        tokio::time::sleep(POLL).await;
    };
    let prefixes = [
        archive_prefix(&env.template, before),
        archive_prefix(&env.template, after),
    ];
    let name = &env.pipeline.names().delivery_stream;
    let mut archived = Vec::new();
    for (key, content) in &objects {
        let rest = prefixes
            .iter()
            .find_map(|p| key.strip_prefix(p.as_str()))
            .unwrap_or_else(|| panic!("{key} is not under {prefixes:?}"));
        assert!(
            rest.starts_with(&format!("{name}-1-")) && rest.ends_with(".gz"),
            "{key}: <prefix><stream name>-<version>-<time>-<uuid>.gz"
        );
        archived.extend(records_of(content));
    }
    let mut expected: Vec<String> = sent.iter().map(Value::to_string).collect();
    expected.sort();
    archived.sort();
    assert_eq!(archived, expected, "exactly the events sent, byte for byte");
}

/// The dead-letter messages until they describe `records` records in all.
async fn dead_letters(env: &Env, records: usize) -> Vec<InvocationRecord> {
    let url = env.pipeline.names().dead_letter_queue_url.clone();
    let described = |bodies: &[String]| -> usize {
        bodies
            .iter()
            .filter_map(|b| serde_json::from_str::<InvocationRecord>(b).ok())
            .map(|r| r.kinesis_batch_info.batch_size)
            .sum()
    };
    let what = format!("dead-letter messages for {records} records");
    receive_until(env, &url, &what, |bodies| described(bodies) >= records)
        .await
        .iter()
        .map(|b| {
            serde_json::from_str(b).unwrap_or_else(|e| panic!("an invocation record ({e}): {b}"))
        })
        .collect()
}

/// What the injected fault saw of one invocation holding the poison record.
#[derive(Debug, Clone)]
struct Seen {
    records: usize,
    shard_id: String,
    sequence_number: String,
}

/// Test 4: a processor that fails (a fault injected in front of it for one record) → bisect,
/// retries, a dead-letter message naming the shard and the record; redriven once the fault
/// clears, nothing is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_processor_is_bisected_retried_dead_lettered_and_redriven_without_loss() {
    let failing = Arc::new(AtomicBool::new(true));
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let fault = {
        let (failing, seen) = (failing.clone(), seen.clone());
        InvocationFault::new(move |event| {
            let records = event["Records"].as_array()?;
            let poison = records.iter().find(|r| {
                let data = base64::engine::general_purpose::STANDARD
                    .decode(r["kinesis"]["data"].as_str().unwrap_or_default())
                    .unwrap_or_default();
                serde_json::from_slice::<Value>(&data).is_ok_and(|e| e["payload"]["poison"] == true)
            })?;
            let (shard_id, _) = poison["eventID"].as_str()?.split_once(':')?;
            seen.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Seen {
                    records: records.len(),
                    shard_id: shard_id.to_owned(),
                    sequence_number: poison["kinesis"]["sequenceNumber"].as_str()?.to_owned(),
                });
            failing
                .load(Ordering::SeqCst)
                .then(|| InvokeError::function("Injected.Fault", "the processor cannot run"))
        })
    };
    let env = start(PipelineOptions {
        invocation_fault: Some(fault),
        ..options()
    })
    .await;
    // One session: one partition key, one shard, one batch, the poison in its middle.
    let sent: Vec<Value> = (0..10)
        .map(|seq| {
            let mut e = event("faults", seq);
            e["payload"]["session_id"] = json!("s-faults");
            if seq == 5 {
                e["payload"]["poison"] = json!(true);
            }
            e
        })
        .collect();
    post_accepted(&env, &sent).await;

    let [record] = <[InvocationRecord; 1]>::try_from(dead_letters(&env, 1).await)
        .unwrap_or_else(|records| panic!("one dead-letter message: {records:?}"));
    let seen = seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let retries = maximum_retry_attempts(&env.template);
    let sizes: Vec<usize> = seen.iter().map(|s| s.records).collect();
    println!("invocations holding the poison record, by size: {sizes:?}");
    assert!(
        sizes[0] > 1,
        "the first batch held more than the poison: {sizes:?}"
    );
    assert!(
        sizes.windows(2).all(|w| w[1] <= w[0]),
        "each bisection halves the batch: {sizes:?}"
    );
    assert_eq!(
        sizes.iter().filter(|&&n| n == 1).count(),
        usize::try_from(retries).expect("few retries") + 1,
        "alone, the poison record is invoked once and retried {retries} times: {sizes:?}"
    );
    let poison = &seen[0];
    let processor_arn = &env.pipeline.plan().mappings[0].config.function_arn;
    assert_eq!(record.request_context.condition, "RetryAttemptsExhausted");
    assert_eq!(record.request_context.approximate_invoke_count, retries + 1);
    assert_eq!(&record.request_context.function_arn, processor_arn);
    assert_eq!(
        record.response_context.function_error.as_deref(),
        Some("Unhandled")
    );
    let info = &record.kinesis_batch_info;
    assert_eq!(
        (
            &info.shard_id,
            &info.start_sequence_number,
            &info.end_sequence_number,
            info.batch_size,
            &info.stream_arn
        ),
        (
            &poison.shard_id,
            &poison.sequence_number,
            &poison.sequence_number,
            1,
            &env.pipeline.names().stream_arn
        ),
        "the dead letter names the poison record alone"
    );

    // Everything but the poison record went through.
    let others: Vec<Value> = sent
        .iter()
        .filter(|e| e["payload"]["poison"] != true)
        .cloned()
        .collect();
    wait_for_items(&env, &others, others.len()).await;
    assert_exactly_once(&scan(&env).await, &others);

    failing.store(false, Ordering::SeqCst);
    let redriven = env
        .pipeline
        .redrive(&record)
        .await
        .unwrap_or_else(|e| panic!("the redrive: {}", localstack::error_chain(&e)));
    assert_eq!(redriven.records, 1);
    assert_exactly_once(&scan(&env).await, &sent);
}

/// Test 4, the other fault: the table removed. The processor reports its failed writes as batch
/// item failures (no function error, so no bisection): retried, dead-lettered, and redriven
/// once the table is back, nothing is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_to_a_removed_table_are_retried_dead_lettered_and_redriven_without_loss() {
    let env = start(options()).await;
    let table = env.pipeline.names().table.clone();
    let described = env
        .dynamodb
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .expect("the table is there")
        .table
        .expect("a description");
    env.dynamodb
        .delete_table()
        .table_name(&table)
        .send()
        .await
        .expect("the table is removed");

    let sent: Vec<Value> = (0..6).map(|seq| event("removed", seq)).collect();
    post_accepted(&env, &sent).await;
    let records = dead_letters(&env, sent.len()).await;
    let retries = maximum_retry_attempts(&env.template);
    let mut shards = BTreeSet::new();
    for record in &records {
        assert_eq!(record.request_context.condition, "RetryAttemptsExhausted");
        assert_eq!(record.request_context.approximate_invoke_count, retries + 1);
        assert_eq!(
            record.response_context.function_error, None,
            "failed writes are batch item failures, not a function error"
        );
        assert!(record.kinesis_batch_info.shard_id.starts_with("shardId-"));
        shards.insert(record.kinesis_batch_info.shard_id.clone());
    }
    println!(
        "{} dead-letter messages from shards {shards:?}: {:?}",
        records.len(),
        records
            .iter()
            .map(|r| &r.kinesis_batch_info)
            .collect::<Vec<_>>()
    );

    // The table comes back as the template defines it.
    env.dynamodb
        .create_table()
        .table_name(&table)
        .set_key_schema(Some(described.key_schema().to_vec()))
        .set_attribute_definitions(Some(described.attribute_definitions().to_vec()))
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .expect("the table is created again");
    let mut redriven = 0;
    for record in &records {
        redriven += env
            .pipeline
            .redrive(record)
            .await
            .unwrap_or_else(|e| panic!("the redrive: {}", localstack::error_chain(&e)))
            .records;
    }
    assert_eq!(redriven, sent.len());
    assert_exactly_once(&scan(&env).await, &sent);
}

/// The shards of the events stream.
async fn shard_ids(env: &Env) -> Vec<String> {
    env.kinesis
        .list_shards()
        .stream_name(&env.pipeline.names().stream)
        .send()
        .await
        .expect("the shards are listed")
        .shards()
        .iter()
        .map(|s| s.shard_id().to_owned())
        .collect()
}

/// The whole of each shard of the stream, as an invocation record describes a batch.
async fn whole_shards(env: &Env) -> Vec<InvocationRecord> {
    let names = env.pipeline.names();
    let mut records = Vec::new();
    for shard_id in shard_ids(env).await {
        let iterator = env
            .kinesis
            .get_shard_iterator()
            .stream_name(&names.stream)
            .shard_id(&shard_id)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("an iterator")
            .shard_iterator()
            .map(str::to_owned);
        let read = env
            .kinesis
            .get_records()
            .set_shard_iterator(iterator)
            .send()
            .await
            .expect("the shard is read");
        let (Some(first), Some(last)) = (read.records().first(), read.records().last()) else {
            continue;
        };
        records.push(InvocationRecord {
            request_context: RequestContext {
                request_id: "replay".to_owned(),
                function_arn: env.pipeline.plan().mappings[0].config.function_arn.clone(),
                condition: "RetryAttemptsExhausted".to_owned(),
                approximate_invoke_count: 1,
            },
            response_context: ResponseContext {
                status_code: 200,
                executed_version: "$LATEST".to_owned(),
                function_error: None,
            },
            version: "1.0".to_owned(),
            timestamp: now(),
            kinesis_batch_info: KinesisBatchInfo {
                shard_id,
                start_sequence_number: first.sequence_number().to_owned(),
                end_sequence_number: last.sequence_number().to_owned(),
                approximate_arrival_of_first_record: now(),
                approximate_arrival_of_last_record: now(),
                batch_size: read.records().len(),
                stream_arn: names.stream_arn.clone(),
            },
        });
    }
    records
}

/// Test 5.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_the_same_records_writes_no_duplicates() {
    let env = start(options()).await;
    let sent: Vec<Value> = (0..25).map(|seq| event("replayed", seq)).collect();
    post_accepted(&env, &sent).await;
    wait_for_items(&env, &sent, sent.len()).await;
    wait_until_processed(&env, 25).await;
    let before = scan(&env).await;
    assert_exactly_once(&before, &sent);

    // Every record of the stream through the processor again, as a redrive of records that
    // were processed already would do.
    let mut replayed = 0;
    for record in whole_shards(&env).await {
        replayed += env
            .pipeline
            .redrive(&record)
            .await
            .unwrap_or_else(|e| panic!("the replay: {}", localstack::error_chain(&e)))
            .records;
    }
    assert_eq!(replayed, sent.len());
    let key = |items: &[Value]| -> BTreeMap<String, Value> {
        items
            .iter()
            .map(|i| (i["pk"].as_str().unwrap_or_default().to_owned(), i.clone()))
            .collect()
    };
    let after_replay = scan(&env).await;
    assert_eq!(
        key(&after_replay),
        key(&before),
        "the same records give the same items, nothing more"
    );

    // A client sending again the events that carry an event_id: new records, same items.
    let with_id: Vec<Value> = sent
        .iter()
        .filter(|e| e.get("event_id").is_some())
        .cloned()
        .collect();
    post_accepted(&env, &with_id).await;
    wait_until_processed(
        &env,
        u64::try_from(sent.len() + with_id.len()).expect("few"),
    )
    .await;
    assert_exactly_once(&scan(&env).await, &sent);
}

/// The value at `fraction` (0..=1) of sorted `values`.
fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let index = ((sorted.len() - 1) as f64 * fraction).round() as usize;
    sorted[index]
}

fn per_second(count: usize, elapsed: Duration) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let count = count as f64;
    count / elapsed.as_secs_f64()
}

/// `events` put to `stream` by one writer, `PutRecords` of 500 (one writer: moto numbers a
/// shard's records without a lock); records per second.
async fn put_rate(env: &Env, stream: &str, events: &[Value]) -> f64 {
    let started = Instant::now();
    for chunk in events.chunks(500) {
        let entries: Vec<_> = chunk
            .iter()
            .enumerate()
            .map(|(i, e)| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(e.to_string()))
                    .partition_key(format!("k-{i}"))
                    .build()
                    .expect("an entry")
            })
            .collect();
        env.kinesis
            .put_records()
            .stream_name(stream)
            .set_records(Some(entries))
            .send()
            .await
            .expect("the records are put");
    }
    per_second(events.len(), started.elapsed())
}

/// The emulator's own rates, for comparison, measured after the burst: `events` put straight to
/// a fresh stream with the events stream's shard count (twice: empty, then holding as many),
/// then to the events stream itself (on which moto also runs the event source mapping it
/// created from the template, for every record), and written straight to a fresh
/// table (`BatchWriteItem` of 25, 2 at once, as the processor's two shards do).
async fn emulator_rates(env: &Env, events: &[Value]) -> [f64; 4] {
    let names = env.pipeline.names();
    let shards = shard_ids(env).await.len();
    env.kinesis
        .create_stream()
        .stream_name("baseline")
        .shard_count(i32::try_from(shards).expect("few shards"))
        .send()
        .await
        .expect("a baseline stream");
    let fresh_stream = put_rate(env, "baseline", events).await;
    // Again, now that it holds as many records as the events stream did before its own put.
    let grown_stream = put_rate(env, "baseline", events).await;

    env.dynamodb
        .create_table()
        .table_name("baseline")
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .expect("a key"),
        )
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .expect("an attribute"),
        )
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .expect("a baseline table");
    let items: Vec<_> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let request = aws_sdk_dynamodb::types::PutRequest::builder()
                .item("pk", AttributeValue::S(format!("item-{i}")))
                .item("event", AttributeValue::S(e.to_string()))
                .build()
                .expect("a put request");
            aws_sdk_dynamodb::types::WriteRequest::builder()
                .put_request(request)
                .build()
        })
        .collect();
    let started = Instant::now();
    let halves = items.chunks(items.len().div_ceil(2)).map(|half| {
        let (dynamodb, half) = (env.dynamodb.clone(), half.to_vec());
        tokio::spawn(async move {
            for batch in half.chunks(25) {
                dynamodb
                    .batch_write_item()
                    .request_items("baseline", batch.to_vec())
                    .send()
                    .await
                    .expect("the baseline items are written");
            }
        })
    });
    for half in halves.collect::<Vec<_>>() {
        half.await.expect("the writes finish");
    }
    let batch_write = per_second(events.len(), started.elapsed());

    // Last: the pipeline takes these too.
    let events_stream = put_rate(env, &names.stream, events).await;
    [fresh_stream, grown_stream, events_stream, batch_write]
}

/// Looks up the events of `sent` by key (`BatchGetItem` of 100, each key until found) until
/// every one is in the table: when each was first seen, and how long each round of lookups took.
async fn watch_table(env: &Env, sent: &[Value]) -> (BTreeMap<String, Instant>, Vec<Duration>) {
    let mut pending: Vec<String> = sent
        .iter()
        .map(|e| {
            e["event_id"]
                .as_str()
                .expect("burst events carry an id")
                .to_owned()
        })
        .collect();
    let mut first_seen = BTreeMap::new();
    let mut rounds = Vec::new();
    let table = &env.pipeline.names().table;
    let deadline = Instant::now() + Duration::from_secs(300);
    while !pending.is_empty() {
        if Instant::now() > deadline {
            panic!(
                "{} of {} events in the table after 300 s; missing (first 20): {:?}",
                first_seen.len(),
                sent.len(),
                &pending[..pending.len().min(20)]
            );
        }
        let started = Instant::now();
        for keys in pending.chunks(100) {
            let keys = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                .set_keys(Some(
                    keys.iter()
                        .map(|k| {
                            std::collections::HashMap::from([(
                                "pk".to_owned(),
                                AttributeValue::S(k.clone()),
                            )])
                        })
                        .collect(),
                ))
                .projection_expression("pk")
                .build()
                .expect("keys");
            let found = env
                .dynamodb
                .batch_get_item()
                .request_items(table, keys)
                .send()
                .await
                .expect("the items are looked up");
            let seen_at = Instant::now();
            for item in found
                .responses()
                .and_then(|r| r.get(table))
                .into_iter()
                .flatten()
            {
                if let Some(AttributeValue::S(key)) = item.get("pk") {
                    first_seen.entry(key.clone()).or_insert(seen_at);
                }
            }
        }
        rounds.push(started.elapsed());
        pending.retain(|k| !first_seen.contains_key(k));
        tokio::time::sleep(POLL).await;
    }
    (first_seen, rounds)
}

/// POSTs `body` until it is accepted, as a producer does: a 5xx (API Gateway's 504 after 29 s
/// of waiting for ingest, say) is sent again after a second, up to 5 times. The events carry an
/// `event_id`, so one stored twice is one item. When it was first offered, when accepted, and
/// how many times it was sent again.
async fn offer(caller: Caller, body: Value) -> (Instant, Instant, usize) {
    let offered = Instant::now();
    for resent in 0..=5 {
        let (status, answer) = caller.post(&body).await;
        if status == StatusCode::ACCEPTED {
            return (offered, Instant::now(), resent);
        }
        assert!(status.is_server_error(), "{status}: {answer}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("a request was refused 6 times");
}

/// Test 6: 4,000 events offered at once through the local API (40 concurrent requests of 100);
/// every one lands exactly once. Prints the rates and the end-to-end latencies; asserts no
/// speed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_4000_events_lands_exactly_once() {
    const REQUESTS: usize = 40;
    const PER_REQUEST: usize = 100;
    let env = start(options()).await;
    let sent: Vec<Value> = (0..REQUESTS * PER_REQUEST)
        .map(|seq| {
            let mut e = event("burst", seq);
            e["event_id"] = json!(format!("burst-{seq}"));
            e
        })
        .collect();

    // The table is watched from before the first request.
    let offers = async {
        let requests: Vec<_> = sent
            .chunks(PER_REQUEST)
            .map(|chunk| tokio::spawn(offer(env.caller.clone(), json!(chunk))))
            .collect();
        let mut offers = Vec::new();
        for request in requests {
            offers.push(request.await.expect("the request finishes"));
        }
        offers
    };
    let (offers, (first_seen, rounds)) = tokio::join!(offers, watch_table(&env, &sent));
    let first_offer = offers.iter().map(|o| o.0).min().expect("requests");
    let last_offer = offers.iter().map(|o| o.0).max().expect("requests");
    let accepted_by = offers.iter().map(|o| o.1).max().expect("requests");
    let resent: usize = offers.iter().map(|o| o.2).sum();
    let all_visible = first_seen.values().max().copied().unwrap_or(first_offer);
    let processed = sent.len() + resent * PER_REQUEST;
    wait_until_processed(&env, u64::try_from(processed).expect("few")).await;
    assert_exactly_once(&scan(&env).await, &sent);

    let mut latencies: Vec<Duration> = sent
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let key = e["event_id"].as_str().unwrap_or_default();
            first_seen[key] - offers[i / PER_REQUEST].0
        })
        .collect();
    latencies.sort();
    let [fresh_stream, grown_stream, events_stream, batch_write] =
        emulator_rates(&env, &sent).await;
    let round = rounds.iter().sum::<Duration>() / u32::try_from(rounds.len()).unwrap_or(1);
    println!("backend: {}", env.emulator);
    let environments: Vec<String> = env
        .pipeline
        .plan()
        .functions
        .iter()
        .map(|f| format!("{} {}", f.logical_id, f.config.concurrency))
        .collect();
    println!("execution environments: {}", environments.join(", "));
    println!(
        "offered {} events in {REQUESTS} concurrent requests within {} ms; {resent} requests sent \
         again after a 5xx",
        sent.len(),
        (last_offer - first_offer).as_millis()
    );
    println!(
        "accepted by the API after {} ms: {:.0} events/s into Kinesis",
        (accepted_by - first_offer).as_millis(),
        per_second(sent.len(), accepted_by - first_offer)
    );
    println!(
        "all in DynamoDB after {} ms: {:.0} events/s end to end",
        (all_visible - first_offer).as_millis(),
        per_second(sent.len(), all_visible - first_offer)
    );
    println!(
        "latency offer → visible in the table: p50 {} ms, p99 {} ms, max {} ms \
         (seen by looking each event up: {} rounds, {} ms each on average, {} ms apart)",
        percentile(&latencies, 0.5).as_millis(),
        percentile(&latencies, 0.99).as_millis(),
        latencies.last().copied().unwrap_or_default().as_millis(),
        rounds.len(),
        round.as_millis(),
        POLL.as_millis()
    );
    println!(
        "the emulator alone: PutRecords (500 per request, one writer) {fresh_stream:.0} records/s \
         into an empty stream, {grown_stream:.0} into it again, {events_stream:.0} into the events \
         stream (moto runs its own event source mapping on it); BatchWriteItem (25 per request, 2 \
         at once) {batch_write:.0} items/s"
    );
}

/// Waits for the archive to hold a record `matches` picks; the records of the archive.
async fn archived_record(env: &Env, what: &str, matches: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + WITHIN;
    loop {
        let records: Vec<String> = archive(env)
            .await
            .iter()
            .flat_map(|(_, content)| records_of(content))
            .collect();
        if let Some(record) = records.into_iter().find(|r| matches(r)) {
            return record;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not archived within {WITHIN:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// The bodies ingest kept under `refused/`, by key.
async fn refused_bodies(env: &Env) -> Vec<(String, Vec<u8>)> {
    emulator::objects(&env.s3, &env.pipeline.names().archive_bucket)
        .await
        .expect("the archive bucket is read")
        .into_iter()
        .filter(|(key, _)| key.starts_with(event_contract::refused::PREFIX))
        .collect()
}

/// The access log lines of the stage, as JSON, once `count` are there.
async fn access_log(env: &Env, count: usize) -> Vec<Value> {
    let group = env.pipeline.plan().apis[0]
        .access_log_group
        .clone()
        .expect("the stage has an access log");
    let deadline = Instant::now() + WITHIN;
    loop {
        let events = env
            .logs
            .filter_log_events()
            .log_group_name(&group)
            .send()
            .await
            .expect("the access log group is read");
        let lines: Vec<Value> = events
            .events()
            .iter()
            .filter_map(|e| e.message())
            .map(|m| serde_json::from_str(m).unwrap_or_else(|e| panic!("{e}: {m}")))
            .collect();
        if lines.len() >= count {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {count} access log lines within {WITHIN:?}",
            lines.len()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Issue 9: the spec's own "Testing the System" requests, signed and keyed as the deployed
/// API asks. The test event, pretty-printed as the spec writes it, is accepted, stored and
/// archived as one line; the malformed example gets its 400 *and* the alert with its
/// validation errors on the malformed-events topic, its body kept under `refused/`, and counted
/// in the malformed-rate metrics; both requests are in the stage's access log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_specs_own_requests_answer_as_the_spec_expects() {
    let env = start(options()).await;
    let queue_url = alert_queue(&env).await;

    // "1. Send Test Event", its body as the spec's curl sends it (the timestamp made recent: the
    // contract refuses events older than a day).
    let test_event = format!(
        r#"{{
    "event_type": "session_started",
    "timestamp": "{}",
    "payload": {{
      "session_id": "test-123",
      "user_id": "user-456"
    }},
    "metrics": {{
      "iops": 50000,
      "latency": 5.2,
      "errorRate": 0.1
    }}
  }}"#,
        now()
    );
    let (status, answer) = env.caller.send(env.caller.raw(test_event.clone())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer, json!({"accepted": 1}));
    let stored = wait_for_items(&env, &[], 1).await;
    assert_eq!(stored[0]["payload"]["session_id"], "test-123");
    let record = archived_record(&env, "the test event", |r| r.contains("test-123")).await;
    let one_line: String = test_event.split_whitespace().collect::<Vec<_>>().join("");
    assert_eq!(
        record, one_line,
        "archived as one line, field order and values as sent"
    );

    // "2. Test Malformed Data": a 400 for the client, with the verdicts ...
    let malformed = r#"{
    "event_type": "invalid_type",
    "payload": "not_an_object"
  }"#;
    let (status, answer) = env.caller.send(env.caller.raw(malformed)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let paths: BTreeSet<&str> = answer["verdicts"][0]["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["path"].as_str())
        .collect();
    assert!(
        paths.contains("/event_type") && paths.contains("/payload"),
        "{answer}"
    );

    // ... and "Expected: Email notification with validation errors": the alert on the topic the
    // e-mail subscription reads.
    let notifications = receive_until(&env, &queue_url, "ingest's alert", |bodies| {
        bodies
            .iter()
            .any(|b| alert_of(b).body["component"] == "ingest")
    })
    .await;
    let alert = notifications
        .iter()
        .map(|b| alert_of(b))
        .find(|a| a.body["component"] == "ingest")
        .expect("ingest's alert");
    assert_eq!(alert.severity_attribute, alert.body["worst_severity"]);
    assert_eq!(alert.body["status"], 400);
    let listed = &alert.body["events"][0];
    assert_eq!(listed["event_type"], "invalid_type");
    let alerted: BTreeSet<&str> = listed["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["path"].as_str())
        .collect();
    assert_eq!(
        alerted, paths,
        "the alert names the problems the client was told"
    );

    // The refused bytes, kept as sent, where the alert says.
    let key = alert.body["s3_key"].as_str().expect("an S3 key").to_owned();
    let kept = refused_bodies(&env).await;
    let (_, body) = kept.iter().find(|(k, _)| *k == key).unwrap_or_else(|| {
        panic!(
            "{key} not among {:?}",
            kept.iter().map(|(k, _)| k).collect::<Vec<_>>()
        )
    });
    assert_eq!(body, malformed.as_bytes());

    // Counted where the malformed-rate alarm reads: ingest's EMF totals.
    let ingest_logs = env
        .pipeline
        .function_logs()
        .into_iter()
        .find(|(id, _)| id == "IngestFunction")
        .map(|(_, lines)| lines)
        .unwrap_or_default();
    let counted = ingest_logs.iter().any(|line| {
        serde_json::from_str::<Value>(line).is_ok_and(|doc| {
            doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == event_contract::metrics::NAMESPACE
                && doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == json!([[]])
                && doc[event_contract::metrics::MALFORMED_EVENTS] == 1
        })
    });
    assert!(
        counted,
        "no EMF totals with MalformedEvents 1 in:\n{}",
        ingest_logs.join("\n")
    );

    // Both requests in the access log, with the caller's key id.
    let key_id = env.pipeline.api_keys()[0].id.clone();
    let lines = access_log(&env, 2).await;
    let statuses: BTreeSet<&str> = lines.iter().filter_map(|l| l["status"].as_str()).collect();
    assert_eq!(statuses, BTreeSet::from(["202", "400"]), "{lines:?}");
    for line in &lines {
        assert_eq!(line["apiKeyId"], key_id.as_str(), "{line}");
        assert_eq!(line["httpMethod"], "POST");
        assert_eq!(line["resourcePath"], "/metrics");
    }
}

/// Sends a request over a raw connection, the body in `chunks` with `pause` between them;
/// `abort` closes the connection before the last chunk. The status line's code, or `None` when
/// the connection ended without an answer.
async fn trickle(
    caller: &Caller,
    body: &[u8],
    chunks: usize,
    pause: Duration,
    abort: bool,
) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = &caller.url;
    let authority = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .expect("an http URL");
    let path = &url[url.find(authority).map_or(0, |i| i + authority.len())..];
    let headers = caller
        .signer
        .sign(
            "POST",
            url,
            &[
                ("content-type", "application/json"),
                (API_KEY_HEADER, &caller.api_key),
            ],
            body,
            std::time::SystemTime::now(),
        )
        .expect("signs");
    let mut head = format!("POST {path} HTTP/1.1\r\ncontent-length: {}\r\n", body.len());
    for (name, value) in &headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("connection: close\r\n\r\n");
    let mut socket = tokio::net::TcpStream::connect(authority)
        .await
        .expect("the API listens");
    socket.write_all(head.as_bytes()).await.expect("head sent");
    let size = body.len().div_ceil(chunks).max(1);
    let parts: Vec<&[u8]> = body.chunks(size).collect();
    for (i, part) in parts.iter().enumerate() {
        if abort && i + 1 == parts.len() {
            drop(socket);
            return None;
        }
        socket.write_all(part).await.expect("a chunk sent");
        tokio::time::sleep(pause).await;
    }
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
}

/// Issue 9: hostile input through the local API Gateway. Bodies at and just over each limit
/// (body size, events per request, event size, nesting depth), invalid UTF-8, a byte-order
/// mark, wrong and missing `Content-Type`, missing and wrong API keys and signatures, an empty
/// body, 500 events of the largest size a full request allows, a slow upload and an aborted one:
/// each answered with its status and a message naming the problem; afterwards exactly the
/// accepted events are stored, each once, and both functions still answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_their_answer_and_nothing_accepted_is_lost() {
    use event_contract::validate::{MAX_DEPTH, MAX_EVENT_BYTES};
    use ingest::handler::{MAX_BODY_BYTES, MAX_EVENTS};
    use localstack::local_runtime::apigw::MAX_REQUEST_BYTES;

    let env = start(options()).await;
    let caller = &env.caller;
    // An event of `run` whose JSON is `size` bytes (padding in its payload).
    let sized = |seq: usize, size: usize| -> Value {
        let mut e = event("hostile", seq);
        e["event_id"] = json!(format!("hostile-{seq}"));
        let bare = e.to_string().len() + r#","pad":"""#.len();
        e["payload"]["pad"] = json!("p".repeat(size.saturating_sub(bare)));
        e
    };
    let mut accepted: Vec<Value> = Vec::new();

    // Who may call.
    let unsigned = Outgoing {
        signed: false,
        ..caller.json(&event("hostile", 900))
    };
    let no_key = Outgoing {
        api_key: None,
        ..caller.json(&event("hostile", 901))
    };
    let wrong_key = Outgoing {
        api_key: Some("x".repeat(40)),
        ..caller.json(&event("hostile", 902))
    };
    let wrong_secret = Caller {
        signer: Signer {
            secret_access_key: "not-the-secret".into(),
            ..caller.signer.clone()
        },
        ..caller.clone()
    };
    // What they send.
    let text_plain = Outgoing {
        content_type: Some("text/plain"),
        ..caller.json(&event("hostile", 903))
    };
    let no_type = Outgoing {
        content_type: None,
        ..caller.json(&event("hostile", 904))
    };
    let mut deep = json!(1);
    for _ in 0..=MAX_DEPTH {
        deep = json!({ "d": deep });
    }
    let mut too_deep = event("hostile", 905);
    too_deep["payload"]["deep"] = deep;
    let too_many: Vec<Value> = (0..=MAX_EVENTS)
        .map(|i| event("hostile", 1_000 + i))
        .collect();
    let over_body: Vec<Value> = (0..6)
        .map(|i| sized(2_000 + i, MAX_BODY_BYTES / 6 + 1024))
        .collect();
    let over_event = sized(3_000, MAX_EVENT_BYTES + 1);

    let cases: Vec<(&str, Outgoing, StatusCode, &str)> = vec![
        (
            "unsigned",
            unsigned,
            StatusCode::FORBIDDEN,
            "Missing Authentication Token",
        ),
        ("no API key", no_key, StatusCode::FORBIDDEN, "Forbidden"),
        (
            "a wrong API key",
            wrong_key,
            StatusCode::FORBIDDEN,
            "Forbidden",
        ),
        (
            "text/plain",
            text_plain,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        (
            "no content type",
            no_type,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        (
            "an empty body",
            caller.raw(""),
            StatusCode::BAD_REQUEST,
            "not JSON",
        ),
        (
            "invalid UTF-8",
            caller.raw(&b"{\"event_type\": \"\xff\xfe\"}"[..]),
            StatusCode::BAD_REQUEST,
            "unicode",
        ),
        (
            "nesting past the depth limit",
            caller.json(&too_deep),
            StatusCode::BAD_REQUEST,
            "levels deep",
        ),
        (
            "one event too many",
            caller.json(&json!(too_many)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too many events",
        ),
        (
            "a body over ingest's limit",
            caller.json(&json!(over_body)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body too large",
        ),
        (
            "an event over a record's size",
            caller.json(&over_event),
            StatusCode::BAD_REQUEST,
            "bytes",
        ),
        (
            "a body over API Gateway's limit",
            caller.raw(vec![b' '; MAX_REQUEST_BYTES + 1]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request Too Long",
        ),
    ];
    for (what, outgoing, status, says) in cases {
        let (got, answer) = caller.send(outgoing).await;
        assert_eq!(got, status, "{what}: {answer}");
        assert!(
            answer.to_string().contains(says),
            "{what}: the answer should say {says:?}: {answer}"
        );
    }
    let (got, answer) = wrong_secret.post(&event("hostile", 906)).await;
    assert_eq!(got, StatusCode::FORBIDDEN, "{answer}");
    assert!(answer.to_string().contains("signature"), "{answer}");

    // At the limits, and a byte-order mark: accepted.
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    let bom_event = event("hostile", 4_000);
    with_bom.extend(bom_event.to_string().as_bytes());
    let (got, answer) = caller.send(caller.raw(with_bom)).await;
    assert_eq!(got, StatusCode::ACCEPTED, "a BOM is skipped: {answer}");
    accepted.push(bom_event);

    // 500 events, each as large as a 5 MiB request lets them be (the array's commas and
    // brackets included).
    let largest = (MAX_BODY_BYTES - MAX_EVENTS - 2) / MAX_EVENTS;
    let full: Vec<Value> = (0..MAX_EVENTS).map(|i| sized(5_000 + i, largest)).collect();
    let body = json!(full).to_string();
    assert!(
        body.len() <= MAX_BODY_BYTES && body.len() > MAX_BODY_BYTES - MAX_EVENTS,
        "{}",
        body.len()
    );
    let (got, answer) = caller.send(caller.raw(body)).await;
    assert_eq!(got, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer, json!({"accepted": MAX_EVENTS}));
    accepted.extend(full);

    // A slow upload (10 chunks, 200 ms apart) is taken; an aborted one invokes nothing.
    let slow = event("hostile", 6_000);
    let code = trickle(
        caller,
        slow.to_string().as_bytes(),
        10,
        Duration::from_millis(200),
        false,
    )
    .await;
    assert_eq!(code, Some(202), "a slow upload within the body timeout");
    accepted.push(slow);
    let aborted = event("hostile", 6_001);
    assert_eq!(
        trickle(
            caller,
            aborted.to_string().as_bytes(),
            4,
            Duration::from_millis(50),
            true
        )
        .await,
        None
    );

    // Exactly what was accepted is stored, each once; nothing refused or aborted is.
    let items = wait_for_items(&env, &accepted, accepted.len()).await;
    wait_until_processed(&env, u64::try_from(accepted.len()).expect("few")).await;
    assert_exactly_once(&scan(&env).await, &accepted);
    assert_eq!(items.len(), accepted.len());

    // Nothing crashed: the API still takes a request, and no function panicked.
    post_accepted(&env, &[event("hostile", 7_000)]).await;
    let logs = env.pipeline.function_logs();
    for (id, lines) in logs {
        assert!(
            !lines.iter().any(|l| l.contains("panicked")),
            "{id} panicked:\n{}",
            lines.join("\n")
        );
    }
}
