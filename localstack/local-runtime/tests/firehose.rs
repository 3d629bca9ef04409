//! The Firehose delivery stream against moto's Kinesis and S3.

mod common;

use std::io::Read;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use flate2::read::GzDecoder;
use local_runtime::firehose::{CompressionFormat, DeliveryStream, DeliveryStreamConfig, Timing};
use serde_json::Value;

use common::{Aws, bucket, eventually, moto, objects, put, stream};

const WITHIN: Duration = Duration::from_secs(30);
const PREFIX: &str =
    "events/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/";
const ERROR_PREFIX: &str = "errors/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/!{firehose:error-output-type}/";

fn timing(buffer_interval: Option<Duration>) -> Timing {
    Timing {
        buffer_interval,
        poll_interval: Duration::from_millis(50),
    }
}

async fn start(aws: &Aws, config: &DeliveryStreamConfig, timing: Timing) -> DeliveryStream {
    DeliveryStream::start(config, aws.kinesis.clone(), aws.s3.clone(), timing)
        .await
        .expect("the delivery stream starts")
}

/// The time in an object name's suffix: `<name>-1-<yyyy>-<MM>-<dd>-<HH>-<mm>-<ss>-<uuid>`.
fn name_time(key: &str, stream_name: &str) -> DateTime<Utc> {
    let file = key.rsplit('/').next().unwrap_or_default();
    let rest = file
        .strip_prefix(&format!("{stream_name}-1-"))
        .unwrap_or_else(|| panic!("{key} is not a Firehose object name"));
    let time = rest.get(..19).unwrap_or_default();
    NaiveDateTime::parse_from_str(time, "%Y-%m-%d-%H-%M-%S")
        .unwrap_or_else(|e| panic!("{key}: {e}"))
        .and_utc()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_gzipped_under_the_evaluated_prefix_with_firehoses_names() {
    let aws = moto().await;
    let stream_arn = stream(&aws, "events", 2).await;
    bucket(&aws, "archive").await;
    let config = DeliveryStreamConfig {
        prefix: Some(PREFIX.to_owned()),
        error_output_prefix: Some(ERROR_PREFIX.to_owned()),
        compression_format: CompressionFormat::Gzip,
        ..DeliveryStreamConfig::new("archive-firehose", &stream_arn, "arn:aws:s3:::archive")
    };
    let delivery = start(&aws, &config, timing(Some(Duration::from_millis(300)))).await;
    let sent: Vec<String> = (0..200)
        .map(|i| format!("{{\"event_id\":\"e-{i}\",\"value\":{i}}}"))
        .collect();
    let before = Utc::now();
    put(&aws, "events", &sent).await;
    eventually(WITHIN, "every record delivered", || async {
        delivery.records_delivered() == 200
    })
    .await;
    let after = Utc::now();
    assert_eq!(
        delivery.error_output_prefix(before, "processing-failed"),
        before
            .format("errors/year=%Y/month=%m/day=%d/processing-failed/")
            .to_string()
    );
    delivery.stop().await;

    let mut received = Vec::new();
    let written = objects(&aws, "archive").await;
    assert!(!written.is_empty());
    for (key, body) in written {
        assert!(key.ends_with(".gz"), "{key}");
        let at = name_time(&key, "archive-firehose");
        assert!(
            at >= before - chrono::TimeDelta::seconds(1) && at <= after,
            "{key}"
        );
        assert!(
            key.starts_with(
                &at.format("events/year=%Y/month=%m/day=%d/hour=%H/archive-firehose-1-")
                    .to_string()
            ),
            "{key}"
        );
        let mut plain = Vec::new();
        GzDecoder::new(&body[..])
            .read_to_end(&mut plain)
            .expect("a gzip object");
        // Records are concatenated as they are: JSON values one after the other.
        for value in serde_json::Deserializer::from_slice(&plain).into_iter::<Value>() {
            received.push(value.expect("JSON events").to_string());
        }
    }
    received.sort();
    let mut expected = sent.clone();
    expected.sort();
    assert_eq!(received, expected, "every record exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_is_delivered_at_once_and_the_rest_when_stopping() {
    let aws = moto().await;
    let stream_arn = stream(&aws, "big", 1).await;
    bucket(&aws, "big-archive").await;
    let config = DeliveryStreamConfig {
        buffering_size_mb: 1,
        ..DeliveryStreamConfig::new("big-firehose", &stream_arn, "arn:aws:s3:::big-archive")
    };
    // The template's interval (300 s): only the size can cause the first delivery.
    let delivery = start(&aws, &config, timing(None)).await;
    let records: Vec<String> = (0..3).map(|i| i.to_string().repeat(400 * 1024)).collect();
    put(&aws, "big", &records).await;
    eventually(WITHIN, "the first object", || async {
        delivery.objects_written() == 1
    })
    .await;
    assert_eq!(
        delivery.records_delivered(),
        2,
        "two records fill 1 MB, the third waits"
    );
    delivery.stop().await;

    let mut written = objects(&aws, "big-archive").await;
    written.sort_by_key(|(key, _)| key.clone());
    assert_eq!(written.len(), 2);
    let mut sizes: Vec<usize> = written.iter().map(|(_, body)| body.len()).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [400 * 1024, 800 * 1024]);
    let all: Vec<u8> = written.iter().flat_map(|(_, body)| body.clone()).collect();
    for record in &records {
        assert_eq!(
            all.windows(record.len())
                .filter(|w| *w == record.as_bytes())
                .count(),
            1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_prefix_objects_go_under_the_hour_and_reading_starts_at_latest() {
    let aws = moto().await;
    let stream_arn = stream(&aws, "plain", 1).await;
    bucket(&aws, "plain-archive").await;
    put(&aws, "plain", &["before".to_owned()]).await;
    let config =
        DeliveryStreamConfig::new("plain-firehose", &stream_arn, "arn:aws:s3:::plain-archive");
    let delivery = start(&aws, &config, timing(None)).await;
    put(&aws, "plain", &["one".to_owned(), "two".to_owned()]).await;
    // The interval is the template's 300 s: stopping is what delivers, once the records are read.
    eventually(WITHIN, "the records read", || async {
        delivery.records_read() == 2
    })
    .await;
    assert_eq!(delivery.objects_written(), 0);
    delivery.stop().await;
    let written = objects(&aws, "plain-archive").await;
    assert_eq!(written.len(), 1);
    let (key, body) = &written[0];
    let at = name_time(key, "plain-firehose");
    assert!(
        key.starts_with(&at.format("%Y/%m/%d/%H/plain-firehose-1-").to_string()),
        "{key}"
    );
    assert!(!key.ends_with(".gz"));
    assert_eq!(
        body, b"onetwo",
        "no delimiter is added, and nothing from before the start"
    );
}
