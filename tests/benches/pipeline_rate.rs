//! The local pipeline's end-to-end rate against what bounds it: the stream's write capacity,
//! and what the emulator's DynamoDB stores (`BatchWriteItem` of 25, measured in the same run,
//! 2 writers — the processor's concurrency on 2 shards — and 8). The goal (issue 10): the
//! pipeline is never the bottleneck AWS would not have, i.e. its rate is at least 80 % of the
//! lower of the two.
//!
//! The load is the stream's capacity (AWS's limits, the template's 2 shards: 2,000 events/s) for
//! `IOPS_BENCH_SECONDS` (default 10), offered by the load generator in requests of 100 events.
//! The rate is the accepted events over the time from the first request to the last record the
//! event source mapping passed through the processor (the processor stores before it answers).
//! The functions are the host debug builds, or the binaries in `IOPS_BENCH_BIN_DIR` (e.g.
//! `target/release` after `cargo build --release -p ingest -p stream-processor`).
//!
//! `cargo bench -p tests --bench pipeline_rate`; figures in `localstack/README.md`.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest,
    ScalarAttributeType, WriteRequest,
};
use emulator::Emulator;
use loadgen::{EventsConfig, Limits, LoadTest, PerRequest, Progress, UserChoice};
use localstack::pipeline::{FunctionBinaries, Pipeline, PipelineOptions};

const EVENTS_PER_REQUEST: u16 = 100;
const STREAM_CAPACITY: f64 = 2000.0;

fn seconds() -> u64 {
    std::env::var("IOPS_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&s| s > 0)
        .unwrap_or(10)
}

/// Items/s `writers` concurrent writers store with `BatchWriteItem` of 25 for about 5 s.
async fn batch_write_rate(dynamodb: &aws_sdk_dynamodb::Client, table: &str, writers: usize) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let dynamodb = dynamodb.clone();
            let table = table.to_owned();
            tokio::spawn(async move {
                let mut stored = 0usize;
                let mut batch = 0usize;
                while started.elapsed() < Duration::from_secs(5) {
                    let requests: Vec<WriteRequest> = (0..25)
                        .map(|i| {
                            let item: HashMap<String, AttributeValue> = [
                                ("pk", format!("w{w}-b{batch}-i{i}")),
                                ("event_type", "metrics_reported".to_owned()),
                                ("timestamp", "2026-12-02T01:00:00.000Z".to_owned()),
                                ("session_id", format!("session-{i}")),
                                (
                                    "payload",
                                    "{\"session_id\":\"s-1\",\"iops\":1200}".repeat(4),
                                ),
                            ]
                            .into_iter()
                            .map(|(k, v)| (k.to_owned(), AttributeValue::S(v)))
                            .collect();
                            WriteRequest::builder()
                                .put_request(
                                    PutRequest::builder()
                                        .set_item(Some(item))
                                        .build()
                                        .expect("a put"),
                                )
                                .build()
                        })
                        .collect();
                    let output = dynamodb
                        .batch_write_item()
                        .request_items(&table, requests)
                        .send()
                        .await
                        .expect("BatchWriteItem");
                    let unprocessed = output
                        .unprocessed_items()
                        .and_then(|u| u.get(&table))
                        .map_or(0, Vec::len);
                    stored += 25 - unprocessed;
                    batch += 1;
                }
                stored
            })
        })
        .collect();
    let mut stored = 0;
    for task in tasks {
        stored += task.await.expect("a writer");
    }
    stored as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds = seconds();
    let binaries = match std::env::var_os("IOPS_BENCH_BIN_DIR") {
        Some(dir) => FunctionBinaries::in_dir(&tests::app().core.stack.assets(), dir.as_ref())
            .unwrap_or_else(|e| panic!("the binaries: {e}")),
        None => tests::function_binaries().clone(),
    };
    let emulator = Emulator::start().await.expect("an emulator starts");
    let (template, deployed, sdk) = tests::deploy_core(&emulator).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    dynamodb
        .create_table()
        .table_name("bench-scratch")
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("an attribute"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("a key"),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("the scratch table");
    let two = batch_write_rate(&dynamodb, "bench-scratch", 2).await;
    let eight = batch_write_rate(&dynamodb, "bench-scratch", 8).await;

    let pipeline = Pipeline::start(
        &emulator,
        &template,
        &deployed,
        &binaries,
        PipelineOptions {
            firehose_buffer_interval: Some(Duration::from_secs(1)),
            max_environments: NonZeroUsize::new(16).expect("not zero"),
            ..PipelineOptions::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("the pipeline starts: {}", localstack::error_chain(&e)));
    let rps = STREAM_CAPACITY / f64::from(EVENTS_PER_REQUEST);
    let test = LoadTest {
        target: tests::load_target(&pipeline, &deployed.context.region),
        schedule: format!("constant:{rps}rps:{seconds}s")
            .parse()
            .expect("a schedule"),
        events: EventsConfig {
            per_request: PerRequest::Fixed(EVENTS_PER_REQUEST),
            user_choice: UserChoice::Uniform,
            seed: 42,
            ..EventsConfig::default()
        },
        limits: Limits::default(),
    };
    let started = Instant::now();
    let run = loadgen::run(&test, Progress::Log)
        .await
        .expect("the load runs");
    let accepted = run.report.events.accepted;
    let processed = || {
        pipeline
            .records_processed()
            .iter()
            .map(|(_, n)| *n)
            .sum::<u64>()
    };
    while processed() < accepted && started.elapsed() < Duration::from_secs(seconds + 300) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rate = processed().min(accepted) as f64 / elapsed;
    let verdict = loadgen::exactly_once(
        &run,
        &dynamodb,
        &pipeline.names().table,
        &loadgen::VerifyOptions::default(),
        None,
    )
    .await
    .expect("the table is read");
    let ceiling = STREAM_CAPACITY.min(two.max(eight));
    println!(
        "load: {rps} requests/s of {EVENTS_PER_REQUEST} events for {seconds} s (the stream's capacity, 2 shards)"
    );
    println!(
        "  emulator's DynamoDB, BatchWriteItem of 25: {two:.0} items/s with 2 writers, {eight:.0} with 8"
    );
    println!("  stream write capacity: {STREAM_CAPACITY:.0} records/s");
    println!(
        "  pipeline end to end: {accepted} of {} events accepted, in the table after {elapsed:.1} s: {rate:.0} events/s = {:.0} % of {ceiling:.0}",
        run.report.events.offered,
        100.0 * rate / ceiling
    );
    println!(
        "  exactly once: {} ({} found of {})",
        verdict.exactly_once(),
        verdict.found,
        verdict.expected
    );
    pipeline.shutdown().await;
}
