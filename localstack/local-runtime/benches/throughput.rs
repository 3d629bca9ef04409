//! What the local runtime costs, measured: the overhead of an invocation through the local
//! Runtime API, and how fast the event source mapping and Firehose drain a stream on moto.
//! Prints the numbers; asserts nothing.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use emulator::Emulator;
use local_runtime::esm::{EventSourceMapping, EventSourceMappingConfig, StartingPosition};
use local_runtime::firehose::{CompressionFormat, DeliveryStream, DeliveryStreamConfig, Timing};
use local_runtime::lambda::{Function, FunctionConfig, Invoke, InvokeError};
use serde_json::{Value, json};

const BOOTSTRAP: &str = env!("CARGO_BIN_EXE_test-bootstrap");
const RECORDS: usize = 5_000;

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

async fn invocation_overhead(concurrency: usize) {
    let function = Function::start(FunctionConfig {
        concurrency: NonZeroUsize::new(concurrency).unwrap_or(NonZeroUsize::MIN),
        ..FunctionConfig::new("bench", BOOTSTRAP, "http://127.0.0.1:1")
    })
    .await
    .expect("the test bootstrap starts");
    let payload =
        json!({"do": "echo", "value": {"event_type": "metrics_reported", "iops": 50_000}});
    for _ in 0..50 {
        let _ = function.invoke(payload.clone()).await;
    }
    let count = 2_000;
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(count);
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let function = function.clone();
            let payload = payload.clone();
            tokio::spawn(async move {
                let mut own = Vec::new();
                for _ in 0..count / concurrency {
                    let at = Instant::now();
                    let _ = function.invoke(payload.clone()).await;
                    own.push(at.elapsed());
                }
                own
            })
        })
        .collect();
    for task in tasks {
        latencies.extend(task.await.expect("the callers finish"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    println!(
        "invocation, {concurrency} environment(s): {:.0} invocations/s, p50 {:?}, p99 {:?}",
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 50),
        percentile(&latencies, 99)
    );
    function.stop().await;
}

async fn put_records(kinesis: &aws_sdk_kinesis::Client, stream: &str) -> Duration {
    let started = Instant::now();
    for chunk in 0..RECORDS / 500 {
        let entries = (0..500)
            .map(|i| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(format!(
                        "{{\"event_id\":\"e-{chunk}-{i}\",\"iops\":{i}}}"
                    )))
                    .partition_key(format!("session-{i}"))
                    .build()
                    .expect("an entry")
            })
            .collect();
        kinesis
            .put_records()
            .stream_name(stream)
            .set_records(Some(entries))
            .send()
            .await
            .expect("the records are put");
    }
    started.elapsed()
}

async fn stream(kinesis: &aws_sdk_kinesis::Client, name: &str) -> String {
    kinesis
        .create_stream()
        .stream_name(name)
        .shard_count(2)
        .send()
        .await
        .expect("the stream is created");
    kinesis
        .describe_stream_summary()
        .stream_name(name)
        .send()
        .await
        .expect("the stream is described")
        .stream_description_summary()
        .map(|s| s.stream_arn().to_owned())
        .expect("an ARN")
}

async fn esm_throughput<I: Invoke + 'static>(emulator: &Emulator, name: &str, function: Arc<I>) {
    let config = emulator.sdk_config();
    let kinesis = aws_sdk_kinesis::Client::new(&config);
    let arn = stream(&kinesis, name).await;
    let put = put_records(&kinesis, name).await;
    let mapping_config = EventSourceMappingConfig {
        batch_size: 100,
        ..EventSourceMappingConfig::new(
            &arn,
            "arn:aws:lambda:us-east-2:123456789012:function:bench",
            "arn:aws:iam::123456789012:role/bench",
            StartingPosition::TrimHorizon,
        )
    };
    let started = Instant::now();
    let mapping = EventSourceMapping::start(
        &mapping_config,
        function,
        kinesis,
        aws_sdk_sqs::Client::new(&config),
        Duration::from_millis(50),
    )
    .await
    .expect("the mapping starts");
    while mapping.records_processed() < RECORDS as u64 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = started.elapsed();
    mapping.stop().await;
    println!(
        "moto PutRecords: {:.0} records/s; event source mapping ({name}, 2 shards, batch 100): {:.0} records/s",
        RECORDS as f64 / put.as_secs_f64(),
        RECORDS as f64 / elapsed.as_secs_f64()
    );
}

async fn firehose_throughput(emulator: &Emulator) {
    let config = emulator.sdk_config();
    let kinesis = aws_sdk_kinesis::Client::new(&config);
    let s3 = emulator::s3_client(&config);
    let arn = stream(&kinesis, "firehose-bench").await;
    let location = CreateBucketConfiguration::builder()
        .location_constraint(BucketLocationConstraint::from(emulator.region()))
        .build();
    s3.create_bucket()
        .bucket("bench-archive")
        .create_bucket_configuration(location)
        .send()
        .await
        .expect("the bucket is created");
    let delivery_config = DeliveryStreamConfig {
        compression_format: CompressionFormat::Gzip,
        ..DeliveryStreamConfig::new("bench", &arn, "arn:aws:s3:::bench-archive")
    };
    let timing = Timing {
        buffer_interval: Some(Duration::from_millis(200)),
        poll_interval: Duration::from_millis(50),
    };
    let delivery = DeliveryStream::start(&delivery_config, kinesis.clone(), s3, timing)
        .await
        .expect("the delivery stream starts");
    let started = Instant::now();
    put_records(&kinesis, "firehose-bench").await;
    while delivery.records_delivered() < RECORDS as u64 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = started.elapsed();
    println!(
        "firehose (put and delivered, 200 ms interval, GZIP): {:.0} records/s in {} objects",
        RECORDS as f64 / elapsed.as_secs_f64(),
        delivery.objects_written()
    );
    delivery.stop().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    invocation_overhead(1).await;
    invocation_overhead(2).await;
    let emulator = Emulator::moto().await.expect("moto starts");
    let noop = Arc::new(|_: Value| async { Ok::<Value, InvokeError>(Value::Null) });
    esm_throughput(&emulator, "esm-noop", noop).await;
    let function = Function::start(FunctionConfig {
        concurrency: NonZeroUsize::new(2).unwrap_or(NonZeroUsize::MIN),
        ..FunctionConfig::new("bench-echo", BOOTSTRAP, emulator.endpoint())
    })
    .await
    .expect("the test bootstrap starts");
    esm_throughput(&emulator, "esm-bootstrap", Arc::new(function.clone())).await;
    function.stop().await;
    firehose_throughput(&emulator).await;
}
