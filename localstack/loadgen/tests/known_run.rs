//! The load generator on known runs: counts add up, percentiles match the known delays within
//! the histogram's precision, the schedule is open loop, resends follow the 503s' failed
//! positions, and the report and chart are written.
//!
//! Two targets: a scripted fake [`Transport`] on tokio's paused clock, where delays are exact;
//! and the local runtime's API Gateway on 127.0.0.1 (`AWS_IAM` and an API key, checked as API
//! Gateway checks them) over a scripted function, through the real HTTP client and signer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use loadgen::events::Generator;
use loadgen::{
    Answer, Auth, EventsConfig, Limits, LoadTest, PerRequest, Progress, Report, Resend, Target,
    Transport, TransportError,
};
use local_runtime::apigw::{
    ApiGateway, ApiKey, Authorization, RestApiConfig, Route, Signer, UsagePlan,
};
use local_runtime::lambda::InvokeError;
use serde_json::{Value, json};

const EVENTS_PER_REQUEST: u16 = 5;

/// The request number and event count of a body the generator made.
fn request_of(body: &[u8]) -> (u64, usize) {
    let events: Vec<Value> = serde_json::from_slice(body).expect("the generator sends JSON arrays");
    let id = events[0]["event_id"]
        .as_str()
        .expect("every event has an id");
    let request = id.rsplit('-').nth(1).expect("lg-<seed>-<request>-<index>");
    (request.parse().expect("a number"), events.len())
}

fn bounded(seconds: u64) -> Limits {
    Limits {
        max_in_flight: 64,
        max_queued: 1000,
        deadline: Some(Duration::from_secs(seconds)),
        request_timeout: Duration::from_secs(5),
        resend: Resend {
            attempts: 2,
            base: Duration::from_millis(10),
            max: Duration::from_millis(40),
        },
    }
}

fn fixed_events(seed: u64, malformed_share: f64) -> EventsConfig {
    EventsConfig {
        per_request: PerRequest::Fixed(EVENTS_PER_REQUEST),
        malformed_share,
        seed,
        ..EventsConfig::default()
    }
}

fn assert_counts_add_up(report: &Report) {
    for (name, c) in [("requests", &report.requests), ("events", &report.events)] {
        assert_eq!(c.offered, c.settled(), "{name}: {c:?}");
    }
}

/// Within the three significant digits of the histogram.
fn assert_close(got_us: u64, want: Duration, what: &str) {
    let want = want.as_micros() as f64;
    let error = (got_us as f64 - want).abs() / want;
    assert!(error <= 0.001, "{what}: {got_us} µs, expected {want} µs");
}

/// Answers by the request's number, after a known delay of the paused clock:
/// r % 10 in 0..=4 → 202 after 10 ms; 5 → 400 after 5 ms; 6 → 429 after 1 ms; 7 → 503 naming
/// positions 0 and 2 after 20 ms on the first send, 202 after 20 ms on the resend; 8 → 500
/// after 30 ms; 9 → 202 after 40 ms.
#[derive(Debug, Default)]
struct Scripted;

impl Transport for Scripted {
    async fn send(&self, body: Bytes) -> Result<Answer, TransportError> {
        let (request, events) = request_of(&body);
        let (ms, status, failed) = match request % 10 {
            0..=4 => (10, 202, None),
            5 => (5, 400, None),
            6 => (1, 429, None),
            7 if events == usize::from(EVENTS_PER_REQUEST) => (20, 503, Some(vec![0, 2])),
            7 => (20, 202, None),
            8 => (30, 500, None),
            _ => (40, 202, None),
        };
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(Answer { status, failed })
    }
}

fn fake_target() -> Target {
    Target {
        url: "http://fake.invalid/metrics".into(),
        api_key: None,
        auth: Auth::None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_scripted_run_counts_every_request_and_event_once() {
    let test = LoadTest {
        target: fake_target(),
        schedule: "constant:100rps:2s".parse().expect("valid schedule"),
        events: fixed_events(1, 0.0),
        limits: bounded(30),
    };
    let run = loadgen::run_with(&test, Arc::new(Scripted), Progress::Quiet)
        .await
        .expect("runs");
    let r = &run.report;
    assert_counts_add_up(r);
    let per = |n: u64| n * 20; // each residue mod 10 is 20 of the 200 requests
    assert_eq!(r.requests.offered, 200);
    assert_eq!(r.requests.accepted, per(5) + per(1) + per(1));
    assert_eq!(r.requests.refused, per(1));
    assert_eq!(r.requests.throttled, per(1));
    assert_eq!(r.requests.failed, per(1));
    assert_eq!((r.requests.dropped, r.requests.abandoned), (0, 0));
    let events = |requests: u64| requests * u64::from(EVENTS_PER_REQUEST);
    assert_eq!(r.events.offered, events(200));
    assert_eq!(r.events.accepted, events(r.requests.accepted));
    assert_eq!(r.events.refused, events(20));
    assert_eq!(r.events.throttled, events(20));
    assert_eq!(r.events.failed, events(20));
    // Each 503 named two positions, resent once.
    assert_eq!(r.resent.requests, 20);
    assert_eq!(r.resent.events, 40);
    let responses: BTreeMap<&str, u64> =
        r.responses.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        responses,
        BTreeMap::from([
            ("202", 140),
            ("400", 20),
            ("429", 20),
            ("500", 20),
            ("503", 20)
        ])
    );
    assert_eq!(run.ledger.accepted.len() as u64, r.events.accepted);
    assert_eq!(run.accepted_event_ids().count() as u64, r.events.accepted);

    // First answers: 20 at 1 ms, 20 at 5, 100 at 10, 20 at 20, 20 at 30, 20 at 40.
    let answered = &r.latency.answered;
    assert_eq!(answered.count, 200);
    assert_close(answered.p50_us, Duration::from_millis(10), "p50");
    assert_close(answered.p90_us, Duration::from_millis(30), "p90");
    assert_close(answered.p99_us, Duration::from_millis(40), "p99");
    assert_close(answered.p999_us, Duration::from_millis(40), "p99.9");
    assert_close(answered.max_us, Duration::from_millis(40), "max");
    // Accepted: 100 at 10 ms, 20 at 40 ms, and 20 resent: 20 + backoff (≤ 10) + 20 ms.
    let accepted = &r.latency.accepted;
    assert_eq!(accepted.count, 140);
    assert_close(accepted.p50_us, Duration::from_millis(10), "accepted p50");
    assert!(
        accepted.max_us >= 40_000 && accepted.max_us <= 50_050,
        "{accepted:?}"
    );
    assert_eq!(r.max_send_lag_us, 0);
    // Per second: 100 requests offered in each.
    let offered: Vec<u64> = r.seconds.iter().map(|s| s.offered_requests).collect();
    assert_eq!(&offered[..2], [100, 100]);
    assert_eq!(
        r.seconds.iter().map(|s| s.accepted_events).sum::<u64>(),
        r.events.accepted
    );

    assert_eq!(Report::from_json(&r.to_json()).expect("parses"), *r);
}

/// Answers everything 202, two seconds late.
#[derive(Debug, Default)]
struct Slow;

impl Transport for Slow {
    async fn send(&self, _body: Bytes) -> Result<Answer, TransportError> {
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok(Answer {
            status: 202,
            failed: None,
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_target_does_not_slow_the_arrivals() {
    // 50 requests/s for 2 s; 4 in flight at 2 s each serve 2 a second; 20 may wait.
    let test = LoadTest {
        target: fake_target(),
        schedule: "constant:50rps:2s".parse().expect("valid schedule"),
        events: fixed_events(2, 0.0),
        limits: Limits {
            max_in_flight: 4,
            max_queued: 20,
            ..bounded(9)
        },
    };
    let run = loadgen::run_with(&test, Arc::new(Slow), Progress::Quiet)
        .await
        .expect("runs");
    let r = &run.report;
    assert_counts_add_up(r);
    // Every request was offered on time, whatever the target did.
    assert_eq!(r.requests.offered, 100);
    assert_eq!(r.max_send_lag_us, 0);
    let offered: Vec<u64> = r.seconds.iter().map(|s| s.offered_requests).collect();
    assert_eq!(&offered[..2], [50, 50]);
    // 4 in flight, 20 queued, the other 76 dropped; waves of 4 done at 2, 4, 6 and 8 s; at the
    // 9 s deadline 4 are in flight and 4 queued.
    assert_eq!(r.requests.dropped, 76);
    assert_eq!(r.requests.accepted, 16);
    assert_eq!(r.requests.abandoned, 8);
    assert_eq!(r.events.dropped, 76 * u64::from(EVENTS_PER_REQUEST));
    // Latency counts the wait for a connection from the scheduled time: the last wave was
    // scheduled by 0.46 s and answered after 8 s.
    assert!(
        r.latency.accepted.max_us >= 7_500_000,
        "{:?}",
        r.latency.accepted
    );
    // The second wave (scheduled at 80 to 140 ms) got its connections at 2.00 to 2.06 s.
    assert_close(
        r.latency.accepted.p50_us,
        Duration::from_millis(3920),
        "p50",
    );
    assert_eq!(
        run.ledger.not_stored.len() as u64,
        (76 + 4) * u64::from(EVENTS_PER_REQUEST)
    );
    assert_eq!(
        run.ledger.uncertain.len() as u64,
        4 * u64::from(EVENTS_PER_REQUEST)
    );
}

/// What the scripted function saw.
#[derive(Debug, Default)]
struct Seen {
    access_keys: BTreeMap<String, u64>,
    api_keys: BTreeMap<String, u64>,
    sends: BTreeMap<u64, u32>,
}

const API_KEY: &str = "loadgen-test-key-0123456789";

/// The scripted ingest: 400 with verdicts for a request with a malformed event (the contract's
/// validator decides), else by the request's number r % 10: 2 → 503 naming position 0 on
/// every send; 3 → 429; 5 → 500; 7 → 503 naming positions 1 and 3 on the first send; 9 → 202
/// after 25 ms; otherwise 202 after 5 ms.
fn scripted_ingest(
    seen: Arc<Mutex<Seen>>,
) -> impl Fn(Value) -> std::pin::Pin<Box<dyn Future<Output = Result<Value, InvokeError>> + Send>>
+ Send
+ Sync {
    move |event: Value| {
        let seen = Arc::clone(&seen);
        Box::pin(async move {
            let identity = &event["requestContext"]["identity"];
            let body = event["body"].as_str().unwrap_or_default().to_owned();
            let (request, count) = request_of(body.as_bytes());
            {
                let mut seen = seen.lock().expect("not poisoned");
                let key = |v: &Value| v.as_str().unwrap_or("none").to_owned();
                *seen
                    .access_keys
                    .entry(key(&identity["accessKey"]))
                    .or_default() += 1;
                *seen.api_keys.entry(key(&identity["apiKey"])).or_default() += 1;
                *seen.sends.entry(request).or_default() += 1;
            }
            let events: Vec<Value> = serde_json::from_str(&body).unwrap_or_default();
            let malformed = events.iter().any(|e| {
                event_contract::validate(e.to_string().as_bytes())
                    .verdict
                    .is_malformed()
            });
            let first = count == usize::from(EVENTS_PER_REQUEST);
            let (ms, status, answer) = if malformed {
                (1, 400, json!({"error": "invalid events", "verdicts": []}))
            } else {
                match request % 10 {
                    2 => (
                        1,
                        503,
                        json!({"error": "retry", "accepted": count - 1, "failed": [0]}),
                    ),
                    3 => (1, 429, json!({"message": "Too Many Requests"})),
                    5 => (1, 500, json!({"message": "Internal server error"})),
                    7 if first => (
                        1,
                        503,
                        json!({"error": "retry", "accepted": 3, "failed": [1, 3]}),
                    ),
                    9 => (25, 202, json!({"accepted": count})),
                    _ => (5, 202, json!({"accepted": count})),
                }
            };
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(json!({
                "statusCode": status,
                "headers": {"content-type": "application/json"},
                "body": answer.to_string(),
            }))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_against_the_local_api_gateway_is_signed_counted_and_reported() {
    let mut config = RestApiConfig::new(
        "prod",
        vec![Route {
            authorization: Authorization::AwsIam,
            api_key_required: true,
            ..Route::new("POST", "/metrics")
        }],
    );
    config.region = "us-east-2".into();
    config.api_keys = vec![ApiKey {
        id: "key1".into(),
        name: "loadgen".into(),
        value: API_KEY.into(),
        enabled: true,
        usage_plan: Some(UsagePlan {
            id: "plan1".into(),
            name: "plan".into(),
            throttle: None,
            quota: None,
        }),
    }];
    let seen = Arc::new(Mutex::new(Seen::default()));
    let gateway = ApiGateway::start(config, Arc::new(scripted_ingest(Arc::clone(&seen))))
        .await
        .expect("the gateway starts");
    let events = fixed_events(3, 0.2);
    let test = LoadTest {
        target: Target {
            url: format!("{}/metrics", gateway.url()),
            api_key: Some(API_KEY.into()),
            auth: Auth::SigV4(Signer {
                access_key_id: "test".into(),
                secret_access_key: "test".into(),
                session_token: None,
                region: "us-east-2".into(),
            }),
        },
        schedule: "constant:100rps:1s".parse().expect("valid schedule"),
        events: events.clone(),
        limits: bounded(15),
    };
    let run = loadgen::run(&test, Progress::Quiet).await.expect("runs");
    gateway.stop().await;
    let r = &run.report;
    assert_counts_add_up(r);
    assert_eq!(r.transport_errors, 0, "{:?}", r.responses);

    // What each request should have become, from the generator and the script.
    let generator = Generator::new(&events).expect("valid");
    let n = u64::from(EVENTS_PER_REQUEST);
    let (mut accepted, mut refused, mut throttled, mut failed) = (0, 0, 0, 0);
    let (mut accepted_events, mut failed_events, mut resent_events, mut resends) = (0, 0, 0, 0);
    let now = chrono::Utc::now();
    for request in 0..100u64 {
        if generator.request(request, now).iter().any(|e| !e.valid) {
            refused += 1;
            continue;
        }
        match request % 10 {
            2 => {
                // 4 accepted at once; position 0 resent twice, then failed.
                failed += 1;
                accepted_events += n - 1;
                failed_events += 1;
                resends += 2;
                resent_events += 2;
            }
            3 => throttled += 1,
            5 => {
                failed += 1;
                failed_events += n;
            }
            7 => {
                accepted += 1;
                accepted_events += n;
                resends += 1;
                resent_events += 2;
            }
            _ => {
                accepted += 1;
                accepted_events += n;
            }
        }
    }
    assert!(
        refused > 5,
        "the seed gives some malformed requests: {refused}"
    );
    assert_eq!(r.requests.offered, 100);
    assert_eq!(
        (
            r.requests.accepted,
            r.requests.refused,
            r.requests.throttled,
            r.requests.failed
        ),
        (accepted, refused, throttled, failed)
    );
    assert_eq!(r.events.accepted, accepted_events);
    assert_eq!(r.events.refused, refused * n);
    assert_eq!(r.events.throttled, throttled * n);
    assert_eq!(r.events.failed, failed_events);
    assert_eq!(
        (r.resent.requests, r.resent.events),
        (resends, resent_events)
    );
    assert_eq!(r.malformed_events, refused);

    // Every request reached the function: signed with SigV4 by `test`, with the API key (the
    // gateway answers 403 otherwise, and never invokes).
    let seen = seen.lock().expect("not poisoned");
    let sends: u64 = seen.sends.values().map(|n| u64::from(*n)).sum();
    assert_eq!(sends, 100 + resends);
    assert_eq!(
        seen.access_keys,
        BTreeMap::from([("test".to_owned(), sends)])
    );
    assert_eq!(seen.api_keys, BTreeMap::from([(API_KEY.to_owned(), sends)]));
    assert!(!r.responses.contains_key("403"), "{:?}", r.responses);

    // The 25 ms answers are in the tail; nothing answers faster than its script.
    assert!(
        r.latency.answered.max_us >= 25_000,
        "{:?}",
        r.latency.answered
    );
    assert!(
        r.latency.answered.p50_us >= 1_000,
        "{:?}",
        r.latency.answered
    );

    // The report, written and read back.
    let dir = tempfile::tempdir().expect("a temporary directory");
    r.write(dir.path()).expect("writes");
    let json = std::fs::read_to_string(dir.path().join("report.json")).expect("report.json");
    assert_eq!(Report::from_json(&json).expect("parses"), *r);
    let md = std::fs::read_to_string(dir.path().join("report.md")).expect("report.md");
    assert!(md.contains("| requests | 100 |"), "{md}");
    assert!(md.contains("## Per second"), "{md}");
    let svg = std::fs::read_to_string(dir.path().join("chart.svg")).expect("chart.svg");
    let doc = roxmltree::Document::parse(&svg).expect("the chart is XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    for series in [
        loadgen::chart::OFFERED,
        loadgen::chart::ACCEPTED,
        loadgen::chart::THROTTLED,
        loadgen::chart::FAILED,
        loadgen::chart::P50,
        loadgen::chart::P99,
    ] {
        assert!(texts.contains(&series), "no {series:?} in {texts:?}");
    }
    let lines = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .count();
    assert!(lines >= 6, "{lines} polylines");
}
