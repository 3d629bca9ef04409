//! What the local Kinesis takes, through the Rust SDK over loopback, limits off: `PutRecords` of
//! 500 records of 200 bytes into 2 shards, one writer and eight at once, then everything read
//! back; and one call's time into an empty stream and into one holding 40,000 records (the
//! emulators measured slow down as a stream fills). `cargo bench -p local-kinesis --bench
//! kinesis_put`; figures in `README.md`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_kinesis::config::{BehaviorVersion, Region};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType};
use local_kinesis::{LocalKinesis, Options, ShardLimits, StartOptions};

const CALLS: usize = 20;
const RECORDS: usize = 500;

fn entries(writer: usize, call: usize) -> Vec<PutRecordsRequestEntry> {
    (0..RECORDS)
        .map(|i| {
            PutRecordsRequestEntry::builder()
                .partition_key(format!("w{writer}-c{call}-r{i}"))
                .data(Blob::new(vec![b'x'; 200]))
                .build()
                .expect("an entry")
        })
        .collect()
}

async fn put(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    writer: usize,
    call: usize,
) -> Duration {
    let started = Instant::now();
    let output = client
        .put_records()
        .stream_name(stream)
        .set_records(Some(entries(writer, call)))
        .send()
        .await
        .expect("put");
    assert_eq!(output.failed_record_count(), Some(0));
    started.elapsed()
}

async fn read_all(client: &aws_sdk_kinesis::Client, stream: &str) -> (usize, usize) {
    let mut seen = HashSet::new();
    let mut total = 0;
    for shard in ["shardId-000000000000", "shardId-000000000001"] {
        let mut iterator = client
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("iterator")
            .shard_iterator()
            .map(str::to_owned);
        while let Some(current) = iterator.take() {
            let output = client
                .get_records()
                .shard_iterator(current)
                .send()
                .await
                .expect("read");
            if output.records().is_empty() {
                break;
            }
            for record in output.records() {
                total += 1;
                seen.insert(record.sequence_number().to_owned());
            }
            iterator = output.next_shard_iterator().map(str::to_owned);
        }
    }
    (total, seen.len())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let kinesis = LocalKinesis::start(StartOptions {
        service: Options {
            limits: ShardLimits::UNLIMITED,
            ..Options::default()
        },
        ..StartOptions::default()
    })
    .await
    .expect("starts");
    let client = aws_sdk_kinesis::Client::from_conf(
        aws_sdk_kinesis::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(kinesis.endpoint())
            .region(Region::new("us-east-2"))
            .credentials_provider(Credentials::new("test", "test", None, None, "bench"))
            .build(),
    );
    for stream in ["one", "eight"] {
        client
            .create_stream()
            .stream_name(stream)
            .shard_count(2)
            .send()
            .await
            .expect("create");
    }

    let first = put(&client, "one", 0, 0).await;
    let started = Instant::now();
    for call in 1..CALLS {
        put(&client, "one", 0, call).await;
    }
    let one = ((CALLS - 1) * RECORDS) as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let client = client.clone();
            tokio::spawn(async move {
                for call in 0..CALLS {
                    put(&client, "eight", w, call).await;
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    let eight = (8 * CALLS * RECORDS) as f64 / started.elapsed().as_secs_f64();
    let (read, distinct) = read_all(&client, "eight").await;
    // "one" holds 10,000 records; fill it to 40,000 and time one more call.
    for call in CALLS..4 * CALLS {
        put(&client, "one", 0, call).await;
    }
    let full = put(&client, "one", 0, 4 * CALLS).await;

    println!("PutRecords of {RECORDS} x 200 B, 2 shards, limits off, through the Rust SDK:");
    println!("  one writer:    {one:.0} records/s");
    println!(
        "  eight writers: {eight:.0} records/s; read back {read} records, {distinct} distinct sequence numbers, of {}",
        8 * CALLS * RECORDS
    );
    println!(
        "  one call: {:.1} ms into an empty stream, {:.1} ms into one holding {} records",
        first.as_secs_f64() * 1000.0,
        full.as_secs_f64() * 1000.0,
        4 * CALLS * RECORDS
    );
    assert_eq!(read, 8 * CALLS * RECORDS);
    assert_eq!(distinct, read);
    kinesis.stop().await;
}
