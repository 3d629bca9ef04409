//! The spec's burst ("Kinesis buffers up to 2 MB/s per shard … Handles 4000 RPS bursts"),
//! offered by the load generator to the whole local pipeline, whose Kinesis throttles as AWS's:
//!
//! 1. against the template's 2 shards: the stream refuses what is over its write capacity
//!    (`ProvisionedThroughputExceededException` inside `PutRecords`, counted in the local
//!    `AWS/Kinesis` metrics), ingest retries within its deadline, clients told to resend get a
//!    503 naming the failed positions and resend them, and every accepted event ends in the
//!    table and in the archive exactly once;
//! 2. against the 4 shards the synth capacity check asks for: no throttling, the same result.
//!
//! This 2-core machine cannot offer 4,000 events/s through the API, the functions and moto in
//! debug builds, so the burst and the shard limits are scaled by one factor (same shape,
//! smaller numbers), printed: `IOPS_BURST_SCALE` (default 0.25; 1 is AWS's numbers). The burst
//! is 4,000 events/s for 10 s, in requests of 10 events, their partition keys (users and
//! sessions) spread uniformly. The reports and charts are written under
//! `<target>/burst/<shards>-shards/`.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use emulator::local_kinesis::ShardLimits;
use emulator::{Emulator, Options};
use iops_dashboard::{App, Config};
use loadgen::{
    EventsConfig, Limits, LoadTest, PerRequest, Progress, Run, UserChoice, VerifyOptions, Watch,
};
use localstack::pipeline::{Pipeline, PipelineOptions};
use serde_json::Value;

/// The burst: events per second, for how long, in requests of how many events.
const BURST_EVENTS_PER_SECOND: f64 = 4000.0;
const BURST_SECONDS: u64 = 10;
const EVENTS_PER_REQUEST: u16 = 500;
/// Execution environments per function: enough for the requests in flight during the burst
/// (the template reserves 100 for ingest; the processor has one per shard anyway).
const INGEST_ENVIRONMENTS: std::num::NonZeroUsize =
    std::num::NonZeroUsize::new(16).expect("not zero");
/// The knob: the one factor the burst and the shard limits are scaled by.
const SCALE_ENV: &str = "IOPS_BURST_SCALE";
const DEFAULT_SCALE: f64 = 0.25;

fn scale() -> f64 {
    match std::env::var(SCALE_ENV) {
        Ok(text) => match text.trim().parse::<f64>() {
            Ok(f) if f > 0.0 && f <= 1.0 => f,
            _ => panic!("{SCALE_ENV}={text:?} is not a factor in (0, 1]"),
        },
        Err(_) => DEFAULT_SCALE,
    }
}

/// What a burst run gave.
struct Outcome {
    run: Run,
    /// `WriteProvisionedThroughputExceeded`, summed over the run, from the local CloudWatch.
    write_throttled: f64,
    /// The archive's count of each event id.
    archived: HashMap<String, usize>,
}

async fn burst(shards: u32) -> Outcome {
    tests::init_tracing();
    let scale = scale();
    let rps = BURST_EVENTS_PER_SECOND * scale / f64::from(EVENTS_PER_REQUEST);
    let limits = ShardLimits::AWS.scaled(scale);
    println!(
        "scale {scale} ({SCALE_ENV}): the burst is {} events/s for {BURST_SECONDS} s ({rps} requests/s of \
         {EVENTS_PER_REQUEST}); each shard takes {} records/s and {} bytes/s; {shards} shards",
        BURST_EVENTS_PER_SECOND * scale,
        limits.write_records_per_second,
        limits.write_bytes_per_second
    );
    let binaries = tokio::task::spawn_blocking(tests::function_binaries)
        .await
        .expect("the build of the function binaries finishes");
    let emulator = Emulator::start_with(Options {
        kinesis_limits: limits,
        ..Options::default()
    })
    .await
    .expect("an emulator starts");
    println!("backend: {emulator}");
    let mut config = Config::default();
    config.stream.shards = NonZeroU32::new(shards).expect("shards");
    let app = App::new(&config, iops_dashboard::workspace_root());
    let (template, deployed, sdk) = tests::deploy_core_of(&emulator, &app).await;
    let pipeline = Pipeline::start(
        &emulator,
        &template,
        &deployed,
        binaries,
        PipelineOptions {
            firehose_buffer_interval: Some(Duration::from_secs(1)),
            max_environments: INGEST_ENVIRONMENTS,
            ..PipelineOptions::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("the pipeline starts: {}", localstack::error_chain(&e)));
    let names = pipeline.names().clone();
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let seed = u64::from(shards) * 1_000_003 + 17;
    let test = LoadTest {
        target: tests::load_target(&pipeline, &deployed.context.region),
        schedule: format!("constant:{rps}rps:{BURST_SECONDS}s")
            .parse()
            .expect("a schedule"),
        events: EventsConfig {
            per_request: PerRequest::Fixed(EVENTS_PER_REQUEST),
            user_choice: UserChoice::Uniform,
            seed,
            ..EventsConfig::default()
        },
        limits: Limits::default(),
    };
    let watch = Watch::start(dynamodb.clone(), &names.table, seed, Duration::from_secs(1));
    let mut run = loadgen::run(&test, Progress::Log)
        .await
        .unwrap_or_else(|e| panic!("the load runs: {e}"));
    let verification = loadgen::exactly_once(
        &run,
        &dynamodb,
        &names.table,
        &VerifyOptions::default(),
        Some(watch),
    )
    .await
    .unwrap_or_else(|e| panic!("the table is read: {e}"));
    run.report.verification = Some(verification);
    println!("{}", run.report.markdown());
    let out = out_dir(shards);
    run.report
        .write(&out)
        .unwrap_or_else(|e| panic!("the report is written to {}: {e}", out.display()));
    println!("report and chart: {}", out.display());

    // Everything read and delivered (the delivery stream writes what it buffered on stopping),
    // then the stream's metrics published.
    pipeline.shutdown().await;
    emulator
        .flush_kinesis_metrics()
        .await
        .expect("the metrics are published");
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
    let write_throttled = metric_sum(
        &cloudwatch,
        &names.stream,
        "WriteProvisionedThroughputExceeded",
    )
    .await;
    let incoming = metric_sum(&cloudwatch, &names.stream, "IncomingRecords").await;
    println!(
        "AWS/Kinesis {}: IncomingRecords {incoming}, WriteProvisionedThroughputExceeded {write_throttled}",
        names.stream
    );
    let archived = archived_ids(&emulator::s3_client(&sdk), &names.archive_bucket).await;
    Outcome {
        run,
        write_throttled,
        archived,
    }
}

fn out_dir(shards: u32) -> PathBuf {
    tests::tools_dir()
        .with_file_name("burst")
        .join(format!("{shards}-shards"))
}

async fn metric_sum(cloudwatch: &aws_sdk_cloudwatch::Client, stream: &str, metric: &str) -> f64 {
    let now = std::time::SystemTime::now();
    let output = cloudwatch
        .get_metric_statistics()
        .namespace("AWS/Kinesis")
        .metric_name(metric)
        .dimensions(
            aws_sdk_cloudwatch::types::Dimension::builder()
                .name("StreamName")
                .value(stream)
                .build(),
        )
        .start_time((now - Duration::from_secs(3600)).into())
        .end_time((now + Duration::from_secs(600)).into())
        .period(60)
        .statistics(aws_sdk_cloudwatch::types::Statistic::Sum)
        .send()
        .await
        .expect("the metric is read");
    output.datapoints().iter().filter_map(|d| d.sum()).sum()
}

/// How often each event id is in the archive (`events/`, gzipped JSON Lines).
async fn archived_ids(s3: &aws_sdk_s3::Client, bucket: &str) -> HashMap<String, usize> {
    let objects = emulator::objects(s3, bucket)
        .await
        .expect("the archive is read");
    let mut ids = HashMap::new();
    for (key, body) in objects.iter().filter(|(key, _)| key.starts_with("events/")) {
        let mut content = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut content)
            .unwrap_or_else(|e| panic!("{key} is gzipped text: {e}"));
        for line in content.lines() {
            let event: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{key}: {e}: {line}"));
            let id = event["event_id"].as_str().unwrap_or_default().to_owned();
            *ids.entry(id).or_insert(0) += 1;
        }
    }
    ids
}

/// Every accepted event is in the table and in the archive exactly once, and nothing else is
/// (an event whose request got no answer may be there, once at most).
fn assert_nothing_lost(outcome: &Outcome) {
    let report = &outcome.run.report;
    let verification = report.verification.as_ref().expect("verified");
    assert!(verification.exactly_once(), "the table: {verification:?}");
    assert_eq!(verification.expected, report.events.accepted);
    let accepted: Vec<String> = outcome.run.accepted_event_ids().collect();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for id in &accepted {
        let n = outcome.archived.get(id).copied().unwrap_or(0);
        *counts
            .entry(match n {
                0 => "missing",
                1 => "once",
                _ => "more than once",
            })
            .or_insert(0) += 1;
    }
    assert_eq!(
        counts.get("once").copied().unwrap_or(0),
        accepted.len(),
        "the archive holds the accepted events: {counts:?}"
    );
    let uncertain: std::collections::HashSet<String> = outcome
        .run
        .ledger
        .uncertain
        .iter()
        .map(|e| outcome.run.ledger.id(*e))
        .collect();
    let accepted: std::collections::HashSet<&String> = accepted.iter().collect();
    let strays: Vec<(&String, &usize)> = outcome
        .archived
        .iter()
        .filter(|(id, n)| {
            let known = accepted.contains(id) || (uncertain.contains(*id) && **n == 1);
            !known
        })
        .collect();
    assert!(strays.is_empty(), "archived but never accepted: {strays:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_specs_burst_on_two_shards_is_throttled_resent_and_nothing_is_lost() {
    let outcome = burst(2).await;
    let report = &outcome.run.report;
    assert!(
        outcome.write_throttled > 0.0,
        "2 shards take half the burst: the stream must throttle"
    );
    assert!(
        report.responses.get("503").copied().unwrap_or(0) > 0,
        "ingest runs out of time for some records and says which: {:?}",
        report.responses
    );
    assert!(
        report.resent.events > 0,
        "the client resends the failed positions"
    );
    assert!(report.events.accepted > 0);
    assert_nothing_lost(&outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_specs_burst_on_four_shards_is_not_throttled_and_nothing_is_lost() {
    let outcome = burst(4).await;
    let report = &outcome.run.report;
    assert_eq!(
        outcome.write_throttled, 0.0,
        "4 shards take the burst without throttling"
    );
    assert_eq!(
        report.events.accepted, report.events.offered,
        "every event accepted: {:?}",
        report.responses
    );
    assert_eq!(report.resent.events, 0);
    assert_nothing_lost(&outcome);
}
