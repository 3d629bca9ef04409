//! What the tests against the emulator share: a moto server, a stream, records put on it.

#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use emulator::Emulator;
use tokio::time::Instant;

/// A moto server and clients for it.
pub struct Aws {
    pub emulator: Emulator,
    pub kinesis: aws_sdk_kinesis::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub s3: aws_sdk_s3::Client,
}

pub async fn moto() -> Aws {
    let emulator = Emulator::moto().await.expect("moto starts");
    let config = emulator.sdk_config();
    Aws {
        kinesis: aws_sdk_kinesis::Client::new(&config),
        sqs: aws_sdk_sqs::Client::new(&config),
        s3: emulator::s3_client(&config),
        emulator,
    }
}

/// A stream with `shards` shards; its ARN.
pub async fn stream(aws: &Aws, name: &str, shards: i32) -> String {
    aws.kinesis
        .create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await
        .expect("the stream is created");
    let summary = aws
        .kinesis
        .describe_stream_summary()
        .stream_name(name)
        .send()
        .await
        .expect("the stream is described");
    summary
        .stream_description_summary()
        .map(|s| s.stream_arn().to_owned())
        .expect("a stream ARN")
}

/// One record put: where it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Put {
    pub data: String,
    pub shard_id: String,
    pub sequence_number: String,
}

/// Puts `data` with partition keys `key-<i>`, in requests of up to 500, as a producer does:
/// records a shard refused over its write limit are sent again (a little later, bounded).
pub async fn put(aws: &Aws, stream: &str, data: &[String]) -> Vec<Put> {
    let mut puts = Vec::new();
    for (chunk_index, chunk) in data.chunks(500).enumerate() {
        let mut results: Vec<Option<Put>> = vec![None; chunk.len()];
        for attempt in 0.. {
            let pending: Vec<usize> = (0..chunk.len()).filter(|&i| results[i].is_none()).collect();
            if pending.is_empty() {
                break;
            }
            assert!(
                attempt < 40,
                "the stream kept refusing {} records",
                pending.len()
            );
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            let entries = pending
                .iter()
                .map(|&i| {
                    PutRecordsRequestEntry::builder()
                        .data(Blob::new(chunk[i].as_bytes()))
                        .partition_key(format!("key-{}", chunk_index * 500 + i))
                        .build()
                        .expect("an entry")
                })
                .collect();
            let output = aws
                .kinesis
                .put_records()
                .stream_name(stream)
                .set_records(Some(entries))
                .send()
                .await
                .expect("the records are put");
            for (&i, result) in pending.iter().zip(output.records()) {
                if result.error_code().is_none() {
                    results[i] = Some(Put {
                        data: chunk[i].clone(),
                        shard_id: result.shard_id().unwrap_or_default().to_owned(),
                        sequence_number: result.sequence_number().unwrap_or_default().to_owned(),
                    });
                }
            }
        }
        puts.extend(results.into_iter().flatten());
    }
    puts
}

/// A queue; its URL and ARN.
pub async fn queue(aws: &Aws, name: &str) -> (String, String) {
    let url = aws
        .sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("the queue is created")
        .queue_url()
        .unwrap_or_default()
        .to_owned();
    let attributes = aws
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("the queue's attributes");
    let arn = attributes
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .cloned()
        .expect("a queue ARN");
    (url, arn)
}

/// Receives messages from `url` until `count` arrived or `within` passed.
pub async fn receive(aws: &Aws, url: &str, count: usize, within: Duration) -> Vec<String> {
    let mut bodies = Vec::new();
    let deadline = Instant::now() + within;
    while bodies.len() < count && Instant::now() < deadline {
        bodies.extend(
            emulator::receive_messages(&aws.sqs, url)
                .await
                .expect("receiving works"),
        );
    }
    bodies
}

/// Waits until `done` holds, checking every 20 ms; fails after `within`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !done().await {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A bucket in the emulator's region.
pub async fn bucket(aws: &Aws, name: &str) {
    use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
    let location = CreateBucketConfiguration::builder()
        .location_constraint(BucketLocationConstraint::from(aws.emulator.region()))
        .build();
    aws.s3
        .create_bucket()
        .bucket(name)
        .create_bucket_configuration(location)
        .send()
        .await
        .expect("the bucket is created");
}

/// The keys and bodies of the objects in `bucket`, by key.
pub async fn objects(aws: &Aws, bucket: &str) -> Vec<(String, Vec<u8>)> {
    emulator::objects(&aws.s3, bucket)
        .await
        .expect("the bucket is read back")
}
