//! Ingest's handler per request on one core, with a stream that accepts everything: the work
//! ingest itself adds to a request (split, validate, pick partition keys, build the records,
//! answer), for one event and for arrays, next to plain `serde_json` parsing of the same body.
//!
//! `cargo bench -p ingest --bench per_request` (pass `--quick` after `--` for a short run).

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::Utc;
use event_contract::alert::memory::MemoryTopic;
use event_contract::backoff::Backoff;
use event_contract::emf::memory::MemoryMetrics;
use event_contract::store::memory::MemoryTable;
use ingest::kinesis::{KinesisSink, OutRecord, SinkError};
use ingest::refused::{RefusedObject, RefusedStore, RefusedStoreError};
use ingest::{Incoming, Ingest, Reporters, Sink};
use lambda_http::http::Method;
use serde_json::{Value, json};

const FIXTURE: &str = include_str!("../tests/fixtures/apigw-post-metrics.json");

/// A stream that takes every record and keeps none.
#[derive(Debug)]
struct NullStream;

impl KinesisSink for NullStream {
    async fn put_records(&self, records: &[OutRecord]) -> Result<Vec<Option<String>>, SinkError> {
        black_box(records);
        Ok(vec![None; records.len()])
    }
}

/// A bucket that takes every object and keeps none (every request here is accepted).
#[derive(Debug)]
struct NullBucket;

impl RefusedStore for NullBucket {
    async fn put(&self, object: &RefusedObject<'_>) -> Result<(), RefusedStoreError> {
        black_box(object);
        Ok(())
    }
}

fn body(events: usize) -> String {
    let now = Utc::now().to_rfc3339();
    let event = |i: usize| {
        json!({
            "event_type": "metrics_reported",
            "timestamp": now,
            "event_id": format!("evt-{i:08}"),
            "payload": {"session_id": format!("session-{i:06}"), "user_id": "user-456", "host": "db-17"},
            "metrics": {"iops": 50_000 + i, "latency": 5.2, "errorRate": 0.1},
        })
    };
    if events == 1 {
        event(0).to_string()
    } else {
        Value::Array((0..events).map(event).collect()).to_string()
    }
}

/// Runs `pass` repeatedly for about `budget`, five times; the median passes per second.
fn measure(budget: Duration, mut pass: impl FnMut()) -> f64 {
    pass();
    let mut rates: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            let mut passes = 0u32;
            while start.elapsed() < budget / 5 {
                pass();
                passes += 1;
            }
            f64::from(passes) / start.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let budget = if quick {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(3)
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    else {
        eprintln!("cannot start a tokio runtime");
        return;
    };
    let reporters = Reporters {
        refused: NullBucket,
        alerts: MemoryTopic::accepting(),
        metrics: MemoryMetrics::default(),
        alert_interval: Duration::from_secs(60),
    };
    let ingest: Ingest<NullStream, MemoryTable, _, _, _> =
        Ingest::new(Sink::Kinesis(NullStream), reporters, Backoff::default());
    println!("one core, a stream that accepts everything");

    for events in [1, 100, 500] {
        let body = body(events);
        let parse = measure(budget, || {
            black_box(serde_json::from_str::<Value>(black_box(&body)).is_ok());
        });
        let handled = measure(budget, || {
            let incoming = Incoming {
                method: &Method::POST,
                content_type: Some("application/json"),
                body: body.as_bytes(),
                request_id: "bench",
            };
            let deadline = tokio::time::Instant::now() + Duration::from_secs(25);
            black_box(runtime.block_on(ingest.ingest(incoming, deadline, Utc::now())));
        });
        println!(
            "{events:>3} event(s), {:>6} bytes: handler {:>9.0} requests/s = {:>9.0} events/s ({:.0}% of serde_json parsing the body)",
            body.len(),
            handled,
            handled * events as f64,
            100.0 * handled / parse
        );
    }

    // The whole invocation as Lambda delivers it: the API Gateway event JSON, deserialized into
    // a request, handled, and the response serialized.
    let rate = measure(budget, || {
        let Ok(request) = lambda_http::request::from_str(FIXTURE) else {
            return;
        };
        let response = runtime.block_on(ingest.handle(request));
        black_box(response.map(|r| r.into_body()).ok());
    });
    println!("API Gateway event in, response out (the spec's example): {rate:.0} requests/s");
}
