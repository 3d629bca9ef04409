//! The processor's per-record work in events per second on one core, next to plain `serde_json`
//! parsing of the same bytes: the limit it is measured against.
//!
//! `cargo bench -p stream-processor --bench per_record` (pass `--quick` after `--` for a short run).

use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_lambda_events::kinesis::{KinesisEvent, KinesisEventRecord};
use chrono::{DateTime, Utc};
use event_contract::alert::{Alert, AlertError, AlertPublisher};
use event_contract::backoff::Backoff;
use event_contract::emf::MetricsSink;
use event_contract::store::memory::MemoryTable;
use event_contract::validate_at;
use serde_json::{Value, json};
use stream_processor::Processor;
use stream_processor::prepare;

const FIXTURE: &str = include_str!("../tests/fixtures/kinesis-event.json");
const EVENTS: usize = 10_000;
const BATCH: usize = 100;

/// Events like the spec's: session and metrics events with a few payload fields, some
/// with an `event_id`, one in twenty malformed.
fn events() -> Vec<Vec<u8>> {
    (0..EVENTS)
        .map(|i| {
            let mut event = json!({
                "event_type": if i % 3 == 0 { "session_started" } else { "metrics_reported" },
                "timestamp": "2024-11-06T12:00:00.123Z",
                "payload": {"session_id": format!("session-{i:06}"), "user_id": format!("user-{}", i % 97), "region": "us-east-2", "host": "db-17"},
                "metrics": {"iops": 50_000 + i, "latency": 5.2, "errorRate": 0.1},
            });
            if i % 2 == 0 {
                event["event_id"] = json!(format!("evt-{i:08}"));
            }
            if i % 20 == 7 {
                event["metrics"]["iops"] = json!(-1);
            }
            event.to_string().into_bytes()
        })
        .collect()
}

fn records(events: &[Vec<u8>]) -> Vec<KinesisEventRecord> {
    let template: KinesisEvent = serde_json::from_str(FIXTURE).unwrap_or_default();
    let template = template.records.into_iter().next().unwrap_or_default();
    events
        .iter()
        .enumerate()
        .map(|(i, data)| {
            let mut record = template.clone();
            record.kinesis.sequence_number = format!("4959{i:052}");
            record.event_id = Some(format!("shardId-000000000000:4959{i:052}"));
            *record.kinesis.data = data.clone();
            record
        })
        .collect()
}

/// Lambda's invocation payloads: batches of 100 records, data base64-encoded.
fn invocations(records: &[KinesisEventRecord]) -> Vec<String> {
    let template: KinesisEvent = serde_json::from_str(FIXTURE).unwrap_or_default();
    records
        .chunks(BATCH)
        .map(|chunk| {
            let mut event = template.clone();
            event.records = chunk.to_vec();
            serde_json::to_string(&event).unwrap_or_default()
        })
        .collect()
}

/// Runs `pass` (which handles `events` events) repeatedly for about `budget`, five times, and
/// returns the median rate in events per second.
fn measure(events: usize, budget: Duration, mut pass: impl FnMut()) -> f64 {
    pass();
    let mut rates: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            let mut passes = 0;
            while start.elapsed() < budget / 5 {
                pass();
                passes += 1;
            }
            (passes * events) as f64 / start.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[2]
}

#[derive(Debug)]
struct NoAlerts;

impl AlertPublisher for NoAlerts {
    async fn publish(&self, _: &Alert) -> Result<(), AlertError> {
        Ok(())
    }
}

#[derive(Debug)]
struct NoMetrics;

impl MetricsSink for NoMetrics {
    fn emit(&self, document: &str) {
        black_box(document);
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let budget = if quick {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(3)
    };
    let events = events();
    let records = records(&events);
    let invocations = invocations(&records);
    let bytes: usize = events.iter().map(Vec::len).sum();
    let arrival: DateTime<Utc> = "2024-11-06T12:00:00Z".parse().unwrap_or_default();
    println!(
        "{EVENTS} events, {} bytes on average, one core",
        bytes / EVENTS
    );

    let limit = measure(EVENTS, budget, || {
        for e in &events {
            black_box(serde_json::from_slice::<Value>(black_box(e)).is_ok());
        }
    });
    println!(
        "{:<58} {:>12.0} events/s",
        "serde_json::from_slice::<Value> (the limit)", limit
    );

    let rate = measure(EVENTS, budget, || {
        for e in &events {
            black_box(validate_at(black_box(e), arrival));
        }
    });
    println!(
        "{:<58} {:>12.0} events/s  ({:.0}% of the limit)",
        "validate (parse + every rule)",
        rate,
        100.0 * rate / limit
    );

    let rate = measure(EVENTS, budget, || {
        for r in &records {
            black_box(prepare(black_box(r)));
        }
    });
    println!(
        "{:<58} {:>12.0} events/s  ({:.0}% of the limit)",
        "prepare (validate + build item or alert entry)",
        rate,
        100.0 * rate / limit
    );

    let rate = measure(EVENTS, budget, || {
        for invocation in &invocations {
            let event: KinesisEvent =
                serde_json::from_str(black_box(invocation)).unwrap_or_default();
            for r in &event.records {
                black_box(prepare(r));
            }
        }
    });
    println!(
        "{:<58} {:>12.0} events/s  ({:.0}% of the limit)",
        "decode invocation (base64) + prepare",
        rate,
        100.0 * rate / limit
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build();
    let Ok(runtime) = runtime else {
        eprintln!("cannot start a tokio runtime");
        return;
    };
    let processor = Processor::new(
        MemoryTable::accepting(),
        NoAlerts,
        NoMetrics,
        Backoff::default(),
    );
    let rate = measure(EVENTS, budget, || {
        for invocation in &invocations {
            let event: KinesisEvent = serde_json::from_str(invocation).unwrap_or_default();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            black_box(runtime.block_on(processor.process(event, deadline)));
        }
    });
    println!(
        "{:<58} {:>12.0} events/s  ({:.0}% of the limit)",
        "whole handler, in-memory table (batches of 100)",
        rate,
        100.0 * rate / limit
    );
}
