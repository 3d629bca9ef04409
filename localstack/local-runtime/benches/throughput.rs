//! What the local runtime costs, measured: the overhead of an invocation through the local
//! Runtime API, of a request through the local API Gateway (open, and signed with an API key),
//! and how fast the event source mapping and Firehose drain a stream on moto. Prints the
//! numbers; asserts nothing. An argument runs only the sections whose name holds it
//! (`invocation`, `apigw`, `esm`, `firehose`).

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use axum::body::Bytes;
use emulator::Emulator;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use local_runtime::apigw::{ApiGateway, ApiKey, Authorization, RestApiConfig, Route, UsagePlan};
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

/// Sequential requests through the gateway to a function that answers at once: what the
/// gateway's checks cost per request.
async fn gateway_overhead(signed: bool) {
    let key_value = "bench-client-key-0123456789";
    let config = RestApiConfig {
        api_keys: vec![ApiKey {
            id: "key".to_owned(),
            name: "bench".to_owned(),
            value: key_value.to_owned(),
            enabled: true,
            usage_plan: Some(UsagePlan {
                id: "plan".to_owned(),
                name: "bench".to_owned(),
                throttle: None,
                quota: None,
            }),
        }],
        ..RestApiConfig::new(
            "prod",
            vec![Route {
                authorization: if signed {
                    Authorization::AwsIam
                } else {
                    Authorization::None
                },
                api_key_required: signed,
                ..Route::new("POST", "/metrics")
            }],
        )
    };
    let function = |_: Value| async {
        Ok::<Value, InvokeError>(json!({"statusCode": 202, "body": "{\"accepted\":1}"}))
    };
    let api = ApiGateway::start(config, Arc::new(function))
        .await
        .expect("the API serves");
    let url = format!("{}/metrics", api.url());
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let body = r#"{"event_type":"metrics_reported","iops":50000}"#;
    let identity = Identity::from(Credentials::new("test", "test", None, None, "bench"));
    let request = || {
        let mut headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("x-api-key".to_owned(), key_value.to_owned()),
        ];
        if signed {
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region("us-east-1")
                .name("execute-api")
                .time(std::time::SystemTime::now())
                .settings(SigningSettings::default())
                .build()
                .expect("complete signing parameters")
                .into();
            let signable = SignableRequest::new(
                "POST",
                url.as_str(),
                headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
                SignableBody::Bytes(body.as_bytes()),
            )
            .expect("a signable request");
            let (instructions, _) = sign(signable, &params).expect("signed").into_parts();
            headers.extend(
                instructions
                    .headers()
                    .map(|(n, v)| (n.to_owned(), v.to_owned())),
            );
        }
        let mut builder = axum::http::Request::post(url.as_str());
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        builder
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .expect("a request")
    };
    let count = 2_000;
    let mut latencies = Vec::with_capacity(count);
    let started = Instant::now();
    for i in 0..count + 100 {
        let at = Instant::now();
        let response = client.request(request()).await.expect("an answer");
        assert_eq!(
            response.status(),
            202,
            "the gateway admits the bench's requests"
        );
        let _ = response.into_body().collect().await;
        // The first 100 warm the connection up.
        if i >= 100 {
            latencies.push(at.elapsed());
        }
    }
    let elapsed = started.elapsed();
    latencies.sort();
    println!(
        "apigw, {}: {:.0} requests/s, p50 {:?}, p99 {:?} (signing included)",
        if signed { "AWS_IAM + API key" } else { "open" },
        (count + 100) as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 50),
        percentile(&latencies, 99)
    );
    api.stop().await;
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
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let run = |section: &str| only.as_deref().is_none_or(|o| section.contains(o));
    if run("invocation") {
        invocation_overhead(1).await;
        invocation_overhead(2).await;
    }
    if run("apigw") {
        gateway_overhead(false).await;
        gateway_overhead(true).await;
    }
    if !run("esm") && !run("firehose") {
        return;
    }
    let emulator = Emulator::moto().await.expect("moto starts");
    let noop = Arc::new(|_: Value| async { Ok::<Value, InvokeError>(Value::Null) });
    if run("esm") {
        esm_throughput(&emulator, "esm-noop", noop).await;
        let function = Function::start(FunctionConfig {
            concurrency: NonZeroUsize::new(2).unwrap_or(NonZeroUsize::MIN),
            ..FunctionConfig::new("bench-echo", BOOTSTRAP, emulator.endpoint())
        })
        .await
        .expect("the test bootstrap starts");
        esm_throughput(&emulator, "esm-bootstrap", Arc::new(function.clone())).await;
        function.stop().await;
    }
    if run("firehose") {
        firehose_throughput(&emulator).await;
    }
}
