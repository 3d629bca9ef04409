//! The wire, checked with a real client: the AWS SDK for Rust against the server on loopback.

use aws_credential_types::Credentials;
use aws_sdk_kinesis::config::retry::RetryConfig;
use aws_sdk_kinesis::config::{BehaviorVersion, Region};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{
    PutRecordsRequestEntry, ScalingType, ShardIteratorType, StreamMode, StreamModeDetails,
};
use local_kinesis::{LocalKinesis, Options, ShardLimits, StartOptions};

async fn client(kinesis: &LocalKinesis, region: &str) -> aws_sdk_kinesis::Client {
    let config = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(kinesis.endpoint())
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        // Throttling answers are what is checked: no retries hiding them.
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_kinesis::Client::from_conf(config)
}

#[tokio::test]
async fn the_sdk_writes_reads_and_is_throttled_as_against_aws() {
    // 2 records a second: on the real clock, a debug build's calls are slow enough to let a
    // 1,000-record second refill between them (the real numbers are checked on a paused clock).
    let kinesis = LocalKinesis::start(StartOptions {
        service: Options {
            limits: ShardLimits {
                write_records_per_second: 2.0,
                ..ShardLimits::AWS
            },
            ..Options::default()
        },
        ..StartOptions::default()
    })
    .await
    .expect("starts");
    let c = client(&kinesis, "us-east-2").await;
    c.create_stream()
        .stream_name("events")
        .shard_count(1)
        .send()
        .await
        .expect("create");
    let summary = c
        .describe_stream_summary()
        .stream_name("events")
        .send()
        .await
        .expect("summary");
    let summary = summary.stream_description_summary().expect("summary");
    assert_eq!(summary.open_shard_count(), 1);
    assert_eq!(
        summary.stream_arn(),
        "arn:aws:kinesis:us-east-2:123456789012:stream/events"
    );

    let entries: Vec<PutRecordsRequestEntry> = (0..500)
        .map(|i| {
            PutRecordsRequestEntry::builder()
                .partition_key(format!("user-{i}"))
                .data(Blob::new(format!("{{\"n\":{i}}}")))
                .build()
                .expect("entry")
        })
        .collect();
    // The shard takes a second's worth; the rest fail inside the answer, each with AWS's code.
    let mut refused = 0;
    for _ in 0..2 {
        let answer = c
            .put_records()
            .stream_name("events")
            .set_records(Some(entries.clone()))
            .send()
            .await
            .expect("put");
        for entry in answer.records() {
            if let Some(code) = entry.error_code() {
                assert_eq!(code, "ProvisionedThroughputExceededException");
                assert!(entry.error_message().is_some_and(|m| {
                    m.starts_with("Rate exceeded for shard shardId-000000000000 in stream events")
                }));
                refused += 1;
            }
        }
    }
    assert!(refused >= 990, "{refused} refused of 1,000");
    let error = c
        .put_record()
        .stream_name("events")
        .partition_key("k")
        .data(Blob::new("x"))
        .send()
        .await
        .expect_err("over the limit");
    assert!(
        error
            .as_service_error()
            .is_some_and(|e| e.is_provisioned_throughput_exceeded_exception()),
        "{error:?}"
    );

    let iterator = c
        .get_shard_iterator()
        .stream_name("events")
        .shard_id("shardId-000000000000")
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .expect("iterator");
    let read = c
        .get_records()
        .shard_iterator(iterator.shard_iterator().expect("iterator"))
        .limit(10)
        .send()
        .await
        .expect("records");
    // The two the shard took, the first two of the first call.
    assert_eq!(read.records().len(), 2);
    assert_eq!(read.records()[1].partition_key(), "user-1");
    assert_eq!(read.records()[0].data().as_ref(), b"{\"n\":0}");
    assert_eq!(read.records()[0].partition_key(), "user-0");
    assert_eq!(read.records()[0].sequence_number().len(), 56);
    assert!(read.records()[0].approximate_arrival_timestamp().is_some());
    assert!(read.millis_behind_latest().is_some());
    assert!(read.next_shard_iterator().is_some());

    let missing = c
        .describe_stream_summary()
        .stream_name("nope")
        .send()
        .await
        .expect_err("missing");
    assert!(
        missing
            .as_service_error()
            .is_some_and(|e| e.is_resource_not_found_exception()),
        "{missing:?}"
    );
    kinesis.stop().await;
}

#[tokio::test]
async fn the_sdk_reshards_lists_pages_and_keeps_regions_apart() {
    let kinesis = LocalKinesis::start(StartOptions::default())
        .await
        .expect("starts");
    let east2 = client(&kinesis, "us-east-2").await;
    let east1 = client(&kinesis, "us-east-1").await;
    east2
        .create_stream()
        .stream_name("s")
        .shard_count(2)
        .send()
        .await
        .expect("create");
    east1
        .create_stream()
        .stream_name("s")
        .stream_mode_details(
            StreamModeDetails::builder()
                .stream_mode(StreamMode::OnDemand)
                .build()
                .expect("mode"),
        )
        .send()
        .await
        .expect("same name, other region");
    let scaled = east2
        .update_shard_count()
        .stream_name("s")
        .target_shard_count(4)
        .scaling_type(ScalingType::UniformScaling)
        .send()
        .await
        .expect("scale");
    assert_eq!(scaled.target_shard_count(), Some(4));
    let first = east2
        .list_shards()
        .stream_name("s")
        .max_results(4)
        .send()
        .await
        .expect("page 1");
    assert_eq!(first.shards().len(), 4);
    let token = first.next_token().expect("more");
    let second = east2
        .list_shards()
        .next_token(token)
        .send()
        .await
        .expect("page 2");
    assert_eq!(second.shards().len(), 2);
    assert!(second.next_token().is_none());
    let closed = first.shards()[0]
        .sequence_number_range()
        .and_then(|r| r.ending_sequence_number());
    assert!(closed.is_some(), "the parent is closed");
    let on_demand = east1
        .describe_stream()
        .stream_name("s")
        .send()
        .await
        .expect("describe");
    let description = on_demand.stream_description().expect("description");
    assert_eq!(description.shards().len(), 4);
    assert_eq!(
        description.stream_arn(),
        "arn:aws:kinesis:us-east-1:123456789012:stream/s"
    );
    kinesis.stop().await;
}
