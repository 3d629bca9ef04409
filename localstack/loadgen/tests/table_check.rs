//! The exactly-once check and the end-to-end latency, against a fake DynamoDB on 127.0.0.1 that
//! answers `Scan` (the JSON protocol, paginated two items a page, with the run's
//! `begins_with(event_id, :p)` filter) through the real SDK client.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use axum::Router;
use axum::body::Bytes as Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use bytes::Bytes;
use loadgen::{
    Answer, Auth, EventsConfig, Limits, LoadTest, PerRequest, Progress, Run, Target, Transport,
    TransportError, VerifyOptions, Watch,
};
use serde_json::{Value, json};

/// The table: `(pk, event_id)` items, in insertion order.
type Items = Arc<Mutex<Vec<(String, String)>>>;

async fn fake_dynamodb(items: Items) -> String {
    let scan = move |headers: HeaderMap, body: Body| {
        let items = Arc::clone(&items);
        async move {
            let target = headers
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if target != "DynamoDB_20120810.Scan" {
                return (StatusCode::BAD_REQUEST, HeaderMap::new(), "{}".to_owned());
            }
            let request: Value = serde_json::from_slice(&body).unwrap_or_default();
            let prefix = request["ExpressionAttributeValues"][":p"]["S"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let start: usize = request["ExclusiveStartKey"]["pk"]["S"]
                .as_str()
                .and_then(|s| s.strip_prefix("page-"))
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let all = items.lock().expect("not poisoned").clone();
            let page: Vec<Value> = all
                .iter()
                .skip(start)
                .take(2)
                .filter(|(_, id)| id.starts_with(&prefix))
                .map(|(pk, id)| json!({"pk": {"S": pk}, "event_id": {"S": id}}))
                .collect();
            let mut answer = json!({"Items": page, "Count": page.len(), "ScannedCount": 2});
            if start + 2 < all.len() {
                answer["LastEvaluatedKey"] = json!({"pk": {"S": format!("page-{}", start + 2)}});
            }
            let mut headers = HeaderMap::new();
            headers.insert(
                header::CONTENT_TYPE,
                "application/x-amz-json-1.0"
                    .parse()
                    .expect("a header value"),
            );
            (StatusCode::OK, headers, answer.to_string())
        }
    };
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    tokio::spawn(async move { axum::serve(listener, Router::new().route("/", post(scan))).await });
    url
}

fn client(url: &str) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    Client::from_conf(config)
}

/// The pipeline in one step: r % 4 of 0 and 1 are accepted and stored at once (keyed by
/// `event_id`), 2 refused, 3 answered 500 with the first event stored anyway.
#[derive(Debug)]
struct Storing(Items);

impl Transport for Storing {
    async fn send(&self, body: Bytes) -> Result<Answer, TransportError> {
        let events: Vec<Value> = serde_json::from_slice(&body).expect("a JSON array");
        let ids: Vec<String> = events
            .iter()
            .filter_map(|e| e["event_id"].as_str().map(str::to_owned))
            .collect();
        let request: u64 = ids[0]
            .rsplit('-')
            .nth(1)
            .and_then(|r| r.parse().ok())
            .expect("lg-<seed>-<request>-<index>");
        tokio::time::sleep(Duration::from_millis(2)).await;
        let mut items = self.0.lock().expect("not poisoned");
        let status = match request % 4 {
            0 | 1 => {
                items.extend(ids.iter().map(|id| (id.clone(), id.clone())));
                202
            }
            2 => 400,
            _ => {
                items.push((ids[0].clone(), ids[0].clone()));
                500
            }
        };
        Ok(Answer {
            status,
            failed: None,
        })
    }
}

fn test(seed: u64) -> LoadTest {
    LoadTest {
        target: Target {
            url: "http://fake.invalid/metrics".into(),
            api_key: None,
            auth: Auth::None,
        },
        schedule: "constant:40rps:500ms".parse().expect("valid"),
        events: EventsConfig {
            per_request: PerRequest::Fixed(3),
            seed,
            ..EventsConfig::default()
        },
        limits: Limits {
            deadline: Some(Duration::from_secs(10)),
            ..Limits::default()
        },
    }
}

/// `test` run against [`Storing`] into `items`.
async fn storing_run(test: &LoadTest, items: &Items) -> Run {
    loadgen::run_with(test, Arc::new(Storing(Arc::clone(items))), Progress::Quiet)
        .await
        .expect("runs")
}

const OPTIONS: VerifyOptions = VerifyOptions {
    settle: Duration::from_millis(600),
    interval: Duration::from_millis(100),
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faithful_table_holds_every_accepted_event_exactly_once() {
    let items: Items = Arc::default();
    // An item of another run, which the check must not count.
    items
        .lock()
        .expect("not poisoned")
        .push(("other".into(), loadgen::events::event_id(99, 0, 0)));
    let url = fake_dynamodb(Arc::clone(&items)).await;
    let client = client(&url);
    let test = test(11);
    let watch = Watch::start(
        client.clone(),
        "metrics",
        test.events.seed,
        OPTIONS.interval,
    );
    let run = storing_run(&test, &items).await;
    let v = loadgen::exactly_once(&run, &client, "metrics", &OPTIONS, Some(watch))
        .await
        .expect("the table is read");
    // 20 requests: 10 accepted (30 events), 5 refused, 5 answered 500 with one event stored.
    assert_eq!(run.report.events.accepted, 30);
    assert_eq!((v.expected, v.found, v.missing), (30, 30, 0), "{v:?}");
    assert_eq!(
        (v.duplicated, v.unexpected, v.uncertain_stored),
        (0, 0, 5),
        "{v:?}"
    );
    assert!(v.exactly_once(), "{v:?}");
    assert!(v.polls >= 2, "{v:?}");
    // Stored as soon as accepted: seen within about one interval.
    let e2e = v.end_to_end.expect("watched during the run");
    assert_eq!(e2e.count, 30);
    assert!(e2e.max_us < 1_000_000, "{e2e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_a_refused_and_a_doubled_event_are_each_named() {
    let items: Items = Arc::default();
    let url = fake_dynamodb(Arc::clone(&items)).await;
    let client = client(&url);
    let test = test(12);
    let run = storing_run(&test, &items).await;
    let accepted: Vec<String> = run.accepted_event_ids().collect();
    let refused = loadgen::events::event_id(12, 2, 1);
    {
        let mut items = items.lock().expect("not poisoned");
        items.retain(|(_, id)| *id != accepted[0]);
        items.push((refused.clone(), refused.clone()));
        items.push(("another-key".into(), accepted[1].clone()));
    }
    let v = loadgen::exactly_once(&run, &client, "metrics", &OPTIONS, None)
        .await
        .expect("the table is read");
    assert_eq!((v.expected, v.found, v.missing), (30, 29, 1), "{v:?}");
    assert_eq!((v.duplicated, v.unexpected), (1, 1), "{v:?}");
    assert!(!v.exactly_once());
    for id in [&accepted[0], &accepted[1], &refused] {
        assert!(v.samples.contains(id), "{id} not in {:?}", v.samples);
    }
    // Read only after the run: no end-to-end latency.
    assert_eq!(v.end_to_end, None);
}
